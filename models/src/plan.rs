//! The lowered model: a spec scaled, checked and walked once into the list of what a backend builds —
//! every table and dense layer with its parameter names, shapes and activation, the blocks' wiring
//! (global table indices), the feature columns of x0 and the interaction. The CPU model
//! ([`crate::Model::build`]) and the GPU model (`hercules-gpu`) both build from a [`ModelPlan`], so the
//! two cannot disagree about which tensor feeds which layer.

use crate::error::{ModelError, Result};
use crate::spec::{Act, Block, DTypeSpec, Feature, Interaction, Mlp, ModelSpec, PoolingSpec, Scale};
use crate::weights::{names, params, Param, WeightSource};
use std::borrow::Cow;
use std::collections::HashMap;

/// A dense layer `y = act(x·Wᵀ + b)`, `k` inputs and `n` outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearPlan {
    /// The weight's parameter name (shape `[n, k]`).
    pub weight: String,
    /// The bias's parameter name (shape `[n]`), if the layer has one.
    pub bias: Option<String>,
    /// Inputs.
    pub k: usize,
    /// Outputs.
    pub n: usize,
    /// Activation after the bias.
    pub act: Act,
}

/// One embedding table (a group of `count` tables is `count` of these).
#[derive(Debug, Clone, PartialEq)]
pub struct TablePlan {
    /// The table's parameter name (shape `[rows, dim]`).
    pub param: String,
    /// Rows.
    pub rows: u64,
    /// Values per row.
    pub dim: usize,
    /// Row format.
    pub dtype: DTypeSpec,
    /// How a bag is pooled.
    pub pooling: PoolingSpec,
}

/// One layer of a DIEN RNN block.
#[derive(Debug, Clone, PartialEq)]
pub struct RnnLayerPlan {
    /// Input projection (with `bias_ih`).
    pub ih: LinearPlan,
    /// Recurrent projection (with `bias_hh`).
    pub hh: LinearPlan,
}

/// A block with its layers and the global tables it reads.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockPlan {
    /// DIN attention units, one per behaviour table.
    Attention {
        /// First behaviour table (global index); unit u reads table first + u.
        first: usize,
        /// The query table.
        query: usize,
        /// Embedding dim of behaviour and query.
        dim: usize,
        /// Each unit's layers.
        units: Vec<Vec<LinearPlan>>,
    },
    /// DIEN RNN layers over the sequence tables.
    Rnn {
        /// First sequence table; step s reads table first + s.
        first: usize,
        /// Number of steps.
        steps: usize,
        /// Input dim of the first layer.
        dim: usize,
        /// The layers.
        layers: Vec<RnnLayerPlan>,
        /// FC between layer l and l + 1.
        fcs: Vec<LinearPlan>,
    },
    /// NCF branches.
    Ncf {
        /// The two MF tables.
        mf: [usize; 2],
        /// The two MLP-branch tables.
        mlp_tables: [usize; 2],
        /// MF dim.
        dim: usize,
        /// Dims of the two MLP-branch tables.
        mlp_dims: [usize; 2],
        /// The MLP branch.
        mlp: Vec<LinearPlan>,
    },
}

/// The interaction with its layers.
#[derive(Debug, Clone, PartialEq)]
pub enum InteractionPlan {
    /// Concatenation (x0 is the top input).
    Cat,
    /// Pairwise dots of the features, all `width` wide.
    Dot {
        /// Width of every feature.
        width: usize,
        /// Whether each feature is also dotted with itself.
        self_interaction: bool,
    },
    /// DCNv2 low-rank cross layers: (U without bias, V with bias) per layer.
    Cross {
        /// The layers.
        layers: Vec<(LinearPlan, LinearPlan)>,
        /// The low rank.
        rank: usize,
    },
}

/// A spec lowered for building (see the module doc).
#[derive(Debug, Clone)]
pub struct ModelPlan {
    /// The spec as built (rows scaled, validated).
    pub spec: ModelSpec,
    /// The scale that was applied.
    pub scale: Scale,
    /// Every table, in global order.
    pub tables: Vec<TablePlan>,
    /// The bottom MLP (empty without one).
    pub bottom: Vec<LinearPlan>,
    /// The blocks, in spec order.
    pub blocks: Vec<BlockPlan>,
    /// (feature, column offset in x0, width), in the order x0 concatenates them.
    pub features: Vec<(Feature, usize, usize)>,
    /// Width of x0.
    pub x0_width: usize,
    /// The interaction.
    pub interaction: InteractionPlan,
    /// The top MLP.
    pub top: Vec<LinearPlan>,
    /// Multi-task heads (empty without them).
    pub heads: Vec<Vec<LinearPlan>>,
    /// Row lookups per sample over all tables.
    pub lookups_per_sample: usize,
    params: Vec<Param>,
    by_name: HashMap<String, usize>,
}

impl ModelPlan {
    /// Scales and validates `spec` and lowers it. Every parameter a layer or table names is checked to
    /// exist with the shape the layer needs, so a backend's build can only fail on the weights' values
    /// or the device.
    pub fn lower(spec: &ModelSpec, scale: Scale) -> Result<Self> {
        let spec = spec.scaled(scale)?;
        spec.validate()?;
        let name = spec.name.clone();
        let linear = |prefix: &str, k: usize, n: usize, act: Act, bias: bool| LinearPlan {
            weight: names::weight(prefix),
            bias: bias.then(|| names::bias(prefix)),
            k,
            n,
            act,
        };
        let mlp = |prefix: &str, m: &Mlp| -> Vec<LinearPlan> {
            m.widths
                .windows(2)
                .enumerate()
                .map(|(i, w)| linear(&names::layer(prefix, i), w[0], w[1], m.act(i), true))
                .collect()
        };
        let tables = spec
            .table_groups()
            .iter()
            .enumerate()
            .map(|(t, &g)| {
                let grp = &spec.tables[g];
                TablePlan {
                    param: names::table(t),
                    rows: grp.rows,
                    dim: grp.dim,
                    dtype: grp.dtype,
                    pooling: grp.pooling,
                }
            })
            .collect();
        let bottom = spec.bottom_mlp.as_ref().map(|m| mlp(names::BOTTOM, m)).unwrap_or_default();
        let invalid =
            |field: &str, msg: String| ModelError::Invalid { model: name.clone(), field: field.into(), msg };
        let group = |g: &str| spec.group(g).ok_or_else(|| invalid("blocks", format!("no table group {g:?}")));
        let mut blocks = Vec::with_capacity(spec.blocks.len());
        for (b, block) in spec.blocks.iter().enumerate() {
            blocks.push(match block {
                Block::Attention { behaviour, query, mlp: m } => {
                    let g = group(behaviour)?;
                    BlockPlan::Attention {
                        first: spec.group_start(g),
                        query: spec.group_start(group(query)?),
                        dim: spec.tables[g].dim,
                        units: (0..spec.tables[g].count).map(|u| mlp(&names::attention(b, u), m)).collect(),
                    }
                }
                Block::Rnn { sequence, hidden } => {
                    let g = group(sequence)?;
                    let (steps, dim) = (spec.tables[g].count, spec.tables[g].dim);
                    if steps == 0 {
                        return Err(invalid("blocks", format!("RNN over the empty sequence {sequence:?}")));
                    }
                    let mut input = dim;
                    let mut layers = Vec::with_capacity(hidden.len());
                    let mut fcs = Vec::new();
                    for (l, &h) in hidden.iter().enumerate() {
                        let n = names::rnn(b, l);
                        let lin = |w: &str, bias: &str, k| LinearPlan {
                            weight: w.to_string(),
                            bias: Some(bias.to_string()),
                            k,
                            n: h,
                            act: Act::None,
                        };
                        layers.push(RnnLayerPlan {
                            ih: lin(&n.weight_ih, &n.bias_ih, input),
                            hh: lin(&n.weight_hh, &n.bias_hh, h),
                        });
                        if l + 1 < hidden.len() {
                            fcs.push(linear(&names::rnn_fc(b, l), h, h, Act::None, true));
                        }
                        input = h;
                    }
                    BlockPlan::Rnn { first: spec.group_start(g), steps, dim, layers, fcs }
                }
                Block::Ncf { mf, mlp_tables, mlp: m } => {
                    let (a, c, d) = (group(&mf[0])?, group(&mlp_tables[0])?, group(&mlp_tables[1])?);
                    BlockPlan::Ncf {
                        mf: [spec.group_start(a), spec.group_start(group(&mf[1])?)],
                        mlp_tables: [spec.group_start(c), spec.group_start(d)],
                        dim: spec.tables[a].dim,
                        mlp_dims: [spec.tables[c].dim, spec.tables[d].dim],
                        mlp: mlp(&names::ncf(b), m),
                    }
                }
            });
        }
        let mut features = Vec::new();
        let mut col = 0;
        for f in spec.features() {
            let w = spec.feature_width(f);
            features.push((f, col, w));
            col += w;
        }
        let interaction = match spec.interaction {
            Interaction::Cat {} => InteractionPlan::Cat,
            Interaction::Dot { self_interaction } => {
                let width = features.first().map_or(0, |f| f.2);
                if features.iter().any(|f| f.2 != width) {
                    return Err(invalid(
                        "interaction",
                        "dot interaction over features of unequal widths".into(),
                    ));
                }
                InteractionPlan::Dot { width, self_interaction }
            }
            Interaction::Cross { layers, low_rank } => InteractionPlan::Cross {
                layers: (0..layers)
                    .map(|l| {
                        let (u, v) = names::cross(l);
                        (
                            linear(&u, col, low_rank, Act::None, false),
                            linear(&v, low_rank, col, Act::None, true),
                        )
                    })
                    .collect(),
                rank: low_rank,
            },
        };
        let top = mlp(names::TOP, &spec.top_mlp);
        let heads = spec.heads.as_ref().map(|h| (0..h.tasks).map(|k| mlp(&names::head(k), &h.mlp)).collect());
        let params = params(&spec);
        let by_name = params.iter().enumerate().map(|(i, p)| (p.name.clone(), i)).collect();
        let plan = Self {
            lookups_per_sample: spec.tables.iter().map(|g| g.count * g.lookups).sum(),
            tables,
            bottom,
            blocks,
            features,
            x0_width: col,
            interaction,
            top,
            heads: heads.unwrap_or_default(),
            params,
            by_name,
            spec,
            scale,
        };
        plan.check_shapes()?;
        Ok(plan)
    }

    /// Every layer of the plan, wherever it sits.
    pub fn linears(&self) -> Vec<&LinearPlan> {
        let mut v: Vec<&LinearPlan> =
            self.bottom.iter().chain(&self.top).chain(self.heads.iter().flatten()).collect();
        for b in &self.blocks {
            match b {
                BlockPlan::Attention { units, .. } => v.extend(units.iter().flatten()),
                BlockPlan::Rnn { layers, fcs, .. } => {
                    v.extend(layers.iter().flat_map(|l| [&l.ih, &l.hh]));
                    v.extend(fcs);
                }
                BlockPlan::Ncf { mlp, .. } => v.extend(mlp),
            }
        }
        if let InteractionPlan::Cross { layers, .. } = &self.interaction {
            v.extend(layers.iter().flat_map(|(u, w)| [u, w]));
        }
        v
    }

    /// Checks every named parameter exists with the shape its layer or table needs.
    fn check_shapes(&self) -> Result<()> {
        let want = |name: &str, shape: &[usize]| -> Result<()> {
            let p = self.param(name)?;
            if p.shape != shape {
                return Err(
                    self.weight_error(name, format!("shape {:?} but the layer needs {shape:?}", p.shape))
                );
            }
            Ok(())
        };
        for t in &self.tables {
            want(&t.param, &[t.rows as usize, t.dim])?;
        }
        for l in self.linears() {
            want(&l.weight, &[l.n, l.k])?;
            if let Some(b) = &l.bias {
                want(b, &[l.n])?;
            }
        }
        Ok(())
    }

    fn weight_error(&self, tensor: &str, msg: String) -> ModelError {
        ModelError::Weight { model: self.spec.name.clone(), tensor: tensor.to_string(), msg }
    }

    /// The parameter named `name`.
    pub fn param(&self, name: &str) -> Result<&Param> {
        self.by_name
            .get(name)
            .map(|&i| &self.params[i])
            .ok_or_else(|| self.weight_error(name, "not a parameter of this spec".into()))
    }

    /// The values of parameter `name` from `source` (checked finite, and against the file's shape).
    pub fn tensor<'a>(&self, source: &'a WeightSource, name: &str) -> Result<Cow<'a, [f32]>> {
        source.tensor(&self.spec.name, self.param(name)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zoo;

    fn small() -> Scale {
        Scale { rows_scale: 0.001, max_rows: Some(1000) }
    }

    #[test]
    fn every_zoo_model_lowers_with_every_parameter_used_once() {
        for spec in zoo::all().unwrap() {
            let plan = ModelPlan::lower(&spec, small()).unwrap();
            let mut used: Vec<&str> = plan.tables.iter().map(|t| t.param.as_str()).collect();
            for l in plan.linears() {
                used.push(&l.weight);
                used.extend(l.bias.as_deref());
            }
            used.sort_unstable();
            let mut all: Vec<&str> = plan.params.iter().map(|p| p.name.as_str()).collect();
            all.sort_unstable();
            assert_eq!(used, all, "{}", spec.name);
            assert_eq!(plan.x0_width, plan.spec.features_width(), "{}", spec.name);
        }
    }

    #[test]
    fn a_missing_group_is_a_spec_error_naming_it() {
        let mut spec = zoo::builtin("din").unwrap().unwrap();
        for b in &mut spec.blocks {
            if let Block::Attention { query, .. } = b {
                *query = "nowhere".into();
            }
        }
        let err = ModelPlan::lower(&spec, small()).unwrap_err().to_string();
        assert!(err.contains("nowhere"), "{err}");
    }
}
