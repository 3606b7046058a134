//! [`Geometry`]: everything about a model's device forward that is not a weight: widths, columns, the
//! layers' shapes and the names of the tensors they upload, and the per-sample sizes of the runner's
//! buffers. A pure function of the lowered plan, so it (and the programs lowered from it) is checked
//! for every zoo model without a device; `build` uploads exactly the tensors it names, in its order.

use super::{act, dot_pairs, feature_layout, FeatureLayout};
use crate::error::{GpuError, Result};
use hercules_kernels::mlp::Activation;
use hercules_models::plan::{BlockPlan, InteractionPlan, LinearPlan};
use hercules_models::spec::Feature;
use hercules_models::ModelPlan;

/// One dense layer: y[m × n] = act(x[m × k] · Wᵀ + b).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinearGeo {
    /// Weight tensor [n, k].
    pub(crate) weight: String,
    /// Bias tensor [n], if any.
    pub(crate) bias: Option<String>,
    pub(crate) k: usize,
    pub(crate) n: usize,
    pub(crate) act: Activation,
}

/// The layer at one depth of all DIN attention units, stacked unit after unit (one batched GEMM).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UnitGeo {
    /// Each unit's weight [n, k] and bias [n].
    pub(crate) weights: Vec<String>,
    pub(crate) biases: Vec<String>,
    pub(crate) k: usize,
    pub(crate) n: usize,
    pub(crate) act: Activation,
}

/// One DIEN RNN layer: the input projection (linear `ih`, with b_ih), the recurrent product (linear
/// `hh`, no bias) and b_hh (`bias`, an index of [`Geometry::rnn_biases`]), which the step kernel adds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RnnGeo {
    pub(crate) ih: usize,
    pub(crate) hh: usize,
    pub(crate) bias: usize,
    pub(crate) h: usize,
}

/// A block's columns and layers (layers as indices of [`Geometry::linears`] or [`Geometry::units`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BlockGeo {
    Attention {
        /// Pooled column of the first behaviour table (the others follow, dim apart).
        beh_col: usize,
        /// Pooled column of the query table.
        q_col: usize,
        dim: usize,
        units: usize,
        layers: Vec<usize>,
        /// x0 column of the block's output.
        col: usize,
    },
    Rnn {
        seq_col: usize,
        steps: usize,
        dim: usize,
        layers: Vec<RnnGeo>,
        fcs: Vec<usize>,
        col: usize,
    },
    Ncf {
        mf_cols: [usize; 2],
        dim: usize,
        mlp_cols: [usize; 2],
        mlp_dims: [usize; 2],
        mlp: Vec<usize>,
        col: usize,
    },
}

/// The interaction's shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum InteractionGeo {
    Cat,
    /// DLRM's dots: `pairs` (i, j) flattened, over `features` features of `width` floats.
    Dot {
        pairs: Vec<u32>,
        features: usize,
        width: usize,
    },
    /// DCNv2: (U without bias, V with bias) per layer, as linear indices; low rank.
    Cross {
        layers: Vec<(usize, usize)>,
        rank: usize,
    },
}

/// See the module doc.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Geometry {
    pub(crate) name: String,
    pub(crate) layout: FeatureLayout,
    /// Tables (one bag each per sample).
    pub(crate) tables: usize,
    pub(crate) dense_in: usize,
    pub(crate) dense_out: usize,
    pub(crate) x0_width: usize,
    pub(crate) inter_out: usize,
    pub(crate) top_width: usize,
    pub(crate) out_width: usize,
    /// Every dense layer, in upload order.
    pub(crate) linears: Vec<LinearGeo>,
    pub(crate) units: Vec<UnitGeo>,
    /// b_hh tensors of the RNN layers.
    pub(crate) rnn_biases: Vec<String>,
    pub(crate) bottom: Vec<usize>,
    pub(crate) blocks: Vec<BlockGeo>,
    pub(crate) interaction: InteractionGeo,
    pub(crate) top: Vec<usize>,
    pub(crate) heads: Vec<Vec<usize>>,
    /// Floats per sample of the four block scratch buffers.
    pub(crate) scratch: [usize; 4],
    /// Widest layer input or output of the MLPs run through the two ping-pong buffers.
    pub(crate) buf_width: usize,
}

/// The dense layers in upload order, as they are met.
#[derive(Default)]
struct Linears(Vec<LinearGeo>);

impl Linears {
    /// Appends `l` (without its bias unless `with_bias`), returning its index.
    fn add(&mut self, l: &LinearPlan, with_bias: bool) -> usize {
        self.0.push(LinearGeo {
            weight: l.weight.clone(),
            bias: l.bias.clone().filter(|_| with_bias),
            k: l.k,
            n: l.n,
            act: act(l.act),
        });
        self.0.len() - 1
    }

    /// Appends an MLP's layers.
    fn chain(&mut self, ls: &[LinearPlan]) -> Vec<usize> {
        ls.iter().map(|l| self.add(l, true)).collect()
    }
}

impl Geometry {
    /// The geometry of a lowered plan, with its shapes checked (an attention unit or RNN layer whose
    /// input width does not follow from the one before is refused here, not at a launch).
    pub(crate) fn from_plan(plan: &ModelPlan) -> Result<Self> {
        let spec = &plan.spec;
        let name = spec.name.clone();
        let layout = feature_layout(spec)?;
        let invalid = |why: String| GpuError::Invalid(format!("model {name}: {why}"));
        let mut lin = Linears::default();
        let bottom = lin.chain(&plan.bottom);
        let feats = spec.features();
        let feat_col = |f: Feature| -> Result<usize> {
            feats
                .iter()
                .position(|&x| x == f)
                .map(|i| layout.cols[i])
                .ok_or_else(|| invalid(format!("{f:?} is not a feature")))
        };
        let widest = |ls: &[LinearPlan]| ls.iter().map(|l| l.n.max(l.k)).max().unwrap_or(0);
        let mut scratch = [0usize; 4];
        let mut need = |i: usize, v: usize| scratch[i] = scratch[i].max(v);
        let mut buf_width = widest(&plan.bottom);
        let (mut units, mut rnn_biases) = (Vec::new(), Vec::new());
        let mut blocks = Vec::with_capacity(plan.blocks.len());
        for (b, block) in plan.blocks.iter().enumerate() {
            let col = feat_col(Feature::Block(b))?;
            blocks.push(match block {
                BlockPlan::Attention { first, query, dim, units: unit_layers } => {
                    let (count, dim) = (unit_layers.len(), *dim);
                    let depth = unit_layers.first().map_or(0, Vec::len);
                    let (mut layers, mut width, mut wmax) = (Vec::with_capacity(depth), 3 * dim, 3 * dim);
                    for i in 0..depth {
                        let first = &unit_layers[0][i];
                        let (k, n) = (first.k, first.n);
                        if k != width {
                            return Err(invalid(format!("attention layer {i} input {k} ≠ {width}")));
                        }
                        let (mut weights, mut biases) = (Vec::new(), Vec::new());
                        for u in unit_layers {
                            let l =
                                u.get(i).ok_or_else(|| invalid("attention units differ in depth".into()))?;
                            if (l.k, l.n, l.act) != (k, n, first.act) {
                                return Err(invalid(format!("attention units differ at layer {i}")));
                            }
                            weights.push(l.weight.clone());
                            biases.push(
                                l.bias
                                    .clone()
                                    .ok_or_else(|| invalid(format!("attention layer {i} has no bias")))?,
                            );
                        }
                        units.push(UnitGeo { weights, biases, k, n, act: act(first.act) });
                        layers.push(units.len() - 1);
                        (width, wmax) = (n, wmax.max(n));
                    }
                    need(0, count * wmax);
                    need(1, count * wmax);
                    BlockGeo::Attention {
                        beh_col: layout.table_cols[*first],
                        q_col: layout.table_cols[*query],
                        dim,
                        units: count,
                        layers,
                        col,
                    }
                }
                BlockPlan::Rnn { first, steps, dim, layers: rnn, fcs } => {
                    let mut layers = Vec::with_capacity(rnn.len());
                    let mut width = *dim;
                    for (i, l) in rnn.iter().enumerate() {
                        let h = l.hh.n;
                        if l.ih.k != width || l.ih.n != h || l.hh.k != h {
                            return Err(invalid(format!(
                                "RNN layer {i}: input {}×{}, recurrent {}×{} after width {width}",
                                l.ih.k, l.ih.n, l.hh.k, l.hh.n
                            )));
                        }
                        // The recurrent bias is added in the step kernel, after the projection.
                        let bias =
                            l.hh.bias
                                .clone()
                                .ok_or_else(|| invalid(format!("{} has no bias", l.hh.weight)))?;
                        rnn_biases.push(bias);
                        let (ih, hh) = (lin.add(&l.ih, true), lin.add(&l.hh, false));
                        layers.push(RnnGeo { ih, hh, bias: rnn_biases.len() - 1, h });
                        if let Some(fc) = fcs.get(i) {
                            if (fc.k, fc.n) != (h, h) {
                                return Err(invalid(format!("RNN FC {i} is {}×{}, not {h}×{h}", fc.k, fc.n)));
                            }
                        }
                        width = h;
                    }
                    let hmax = rnn.iter().map(|l| l.hh.n).max().unwrap_or(0);
                    need(0, steps * hmax.max(*dim));
                    need(1, steps * hmax.max(*dim));
                    need(2, steps * hmax);
                    need(3, hmax);
                    BlockGeo::Rnn {
                        seq_col: layout.table_cols[*first],
                        steps: *steps,
                        dim: *dim,
                        layers,
                        fcs: lin.chain(fcs),
                        col,
                    }
                }
                BlockPlan::Ncf { mf, mlp_tables, dim, mlp_dims, mlp } => {
                    buf_width = buf_width.max(widest(mlp));
                    need(0, mlp_dims[0] + mlp_dims[1]);
                    BlockGeo::Ncf {
                        mf_cols: mf.map(|t| layout.table_cols[t]),
                        dim: *dim,
                        mlp_cols: mlp_tables.map(|t| layout.table_cols[t]),
                        mlp_dims: *mlp_dims,
                        mlp: lin.chain(mlp),
                        col,
                    }
                }
            });
        }
        let x0_width = layout.x0_width;
        let interaction = match &plan.interaction {
            InteractionPlan::Dot { width, self_interaction } => {
                let pairs = dot_pairs(feats.len(), *self_interaction);
                InteractionGeo::Dot {
                    pairs: pairs.iter().flat_map(|&(i, j)| [i, j]).collect(),
                    features: feats.len(),
                    width: *width,
                }
            }
            InteractionPlan::Cross { layers, rank } => {
                need(0, *rank);
                need(1, x0_width);
                InteractionGeo::Cross {
                    layers: layers.iter().map(|(u, v)| (lin.add(u, true), lin.add(v, true))).collect(),
                    rank: *rank,
                }
            }
            InteractionPlan::Cat => InteractionGeo::Cat,
        };
        let top = lin.chain(&plan.top);
        let heads = plan.heads.iter().map(|h| lin.chain(h)).collect();
        buf_width =
            buf_width.max(widest(&plan.top)).max(plan.heads.iter().map(|h| widest(h)).max().unwrap_or(0));
        Ok(Self {
            name,
            tables: plan.tables.len(),
            dense_in: spec.dense_features,
            dense_out: spec.dense_out(),
            x0_width,
            inter_out: spec.interaction_out(),
            top_width: spec.top_mlp.out(),
            out_width: spec.output_width(),
            layout,
            linears: lin.0,
            units,
            rnn_biases,
            bottom,
            blocks,
            interaction,
            top,
            heads,
            scratch,
            buf_width,
        })
    }
}
