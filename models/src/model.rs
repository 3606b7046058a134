//! A built model: tables as kernel embedding tables, layers as packed dense layers, plus the plan the
//! forward pass follows (feature list, column offsets, block wiring).

use crate::error::{kernel, ModelError, Result};
use crate::ops::{Dense, Table};
use crate::spec::{Act, Block, Feature, Interaction, Mlp, ModelSpec, Scale};
use crate::stats::{stats, ModelStats};
use crate::weights::{names, params, WeightSource};
use hercules_kernels::elementwise::Elementwise;
use hercules_kernels::interaction::DotInteraction;
use std::collections::HashMap;

/// A block with its layers and the global tables it reads.
pub enum BuiltBlock {
    /// DIN attention units, one per behaviour table.
    Attention {
        /// First behaviour table (global index); unit u reads table first + u.
        first: usize,
        /// The query table.
        query: usize,
        /// Embedding dim of behaviour and query.
        dim: usize,
        /// Each unit's layers.
        units: Vec<Vec<Dense>>,
    },
    /// DIEN RNN layers over the sequence tables.
    Rnn {
        /// First sequence table; step s reads table first + s.
        first: usize,
        /// Number of steps.
        steps: usize,
        /// Input dim of the first layer.
        dim: usize,
        /// Per layer: input projection (with bias_ih), recurrent projection (with bias_hh).
        layers: Vec<(Dense, Dense)>,
        /// FC between layer l and l + 1.
        fcs: Vec<Dense>,
        /// The step's tanh and the softmax between layers, vectorised.
        ew: Elementwise,
    },
    /// NCF branches.
    Ncf {
        /// The two MF tables.
        mf: [usize; 2],
        /// The two MLP-branch tables.
        mlp_tables: [usize; 2],
        /// MF dim.
        dim: usize,
        /// The MLP branch.
        mlp: Vec<Dense>,
    },
}

/// The interaction with its layers.
pub enum BuiltInteraction {
    /// Concatenation (x0 is the top input).
    Cat,
    /// Pairwise dots of equal-width features.
    Dot {
        /// The pairs kernel (features, width, self-interaction).
        pairs: DotInteraction,
        /// Width of every feature.
        width: usize,
    },
    /// DCNv2 low-rank cross layers: (U without bias, V with bias) per layer.
    Cross(Vec<(Dense, Dense)>),
}

/// A model ready to run.
pub struct Model {
    /// The spec as built (rows already scaled).
    pub spec: ModelSpec,
    /// The scale that was applied to the zoo/user spec.
    pub scale: Scale,
    /// Size and work figures of the built model.
    pub stats: ModelStats,
    pub(crate) tables: Vec<Table>,
    pub(crate) dims: Vec<usize>,
    /// Row lookups per sample over all tables (decides when the embeddings go parallel).
    pub(crate) lookups_per_sample: usize,
    pub(crate) bottom: Vec<Dense>,
    pub(crate) blocks: Vec<BuiltBlock>,
    /// (feature, column offset in x0, width).
    pub(crate) features: Vec<(Feature, usize, usize)>,
    pub(crate) x0_width: usize,
    pub(crate) inter_out: usize,
    pub(crate) interaction: BuiltInteraction,
    pub(crate) top: Vec<Dense>,
    pub(crate) heads: Vec<Vec<Dense>>,
    /// The embedding prefetch chosen at build (None: no table outgrows the cache alone).
    pub prefetch: Option<hercules_kernels::embedding::PrefetchTuning>,
}

/// Checks that a spec's tables and weights fit in the memory the OS says is available, before anything
/// is allocated. Building also holds one table's f32 copy at a time, which is counted.
pub fn check_memory(spec: &ModelSpec) -> Result<()> {
    let st = stats(spec);
    let largest = spec.tables.iter().map(|g| g.rows.saturating_mul(g.dim as u64 * 4)).max().unwrap_or(0);
    // Saturating: a sum that wraps around would pass the check.
    let need = st.table_bytes.saturating_add(st.dense_weight_bytes.saturating_mul(2)).saturating_add(largest);
    if let Some(free) = hercules_kernels::mem::available_memory() {
        if need > free as u64 {
            let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
            return Err(ModelError::OutOfMemory {
                model: spec.name.clone(),
                need_gib: gib(need),
                free_gib: gib(free as u64),
            });
        }
    }
    Ok(())
}

impl Model {
    /// Scales `spec`, checks memory, and builds it with weights from `source`.
    pub fn build(spec: &ModelSpec, scale: Scale, source: &WeightSource) -> Result<Self> {
        let spec = spec.scaled(scale)?;
        spec.validate()?;
        check_memory(&spec)?;
        let name = spec.name.clone();
        let plist = params(&spec);
        let by_name: HashMap<&str, usize> =
            plist.iter().enumerate().map(|(i, p)| (p.name.as_str(), i)).collect();
        let get = |n: &str| -> Result<std::borrow::Cow<'_, [f32]>> {
            let i = by_name.get(n).ok_or_else(|| ModelError::Weight {
                model: name.clone(),
                tensor: n.to_string(),
                msg: "not a parameter of this spec".into(),
            })?;
            source.tensor(&name, &plist[*i])
        };
        let dense = |prefix: &str, k: usize, n: usize, act: Act, bias: bool| -> Result<Dense> {
            let w = get(&names::weight(prefix))?;
            let b = if bias { Some(get(&names::bias(prefix))?) } else { None };
            Dense::new(&format!("{name}: {prefix}"), &w, b.as_deref(), k, n, act)
        };
        let mlp = |prefix: &str, m: &Mlp| -> Result<Vec<Dense>> {
            m.widths
                .windows(2)
                .enumerate()
                .map(|(i, w)| dense(&names::layer(prefix, i), w[0], w[1], m.act(i), true))
                .collect()
        };

        let groups = spec.table_groups();
        let mut tables = Vec::with_capacity(groups.len());
        let mut dims = Vec::with_capacity(groups.len());
        for (t, &g) in groups.iter().enumerate() {
            let grp = &spec.tables[g];
            let pname = names::table(t);
            let data = get(&pname)?;
            tables.push(Table::new(
                &format!("{name}: {pname}"),
                grp.rows as usize,
                grp.dim,
                grp.dtype,
                grp.pooling,
                &data,
            )?);
            dims.push(grp.dim);
        }
        let total: usize = tables.iter().map(|t| t.bytes()).sum();
        for t in &mut tables {
            t.set_model_table_bytes(total);
        }
        // The prefetch is chosen on the largest table; `tune_prefetch` measures nothing when that table
        // alone fits in the cache, and the defaults stay.
        let prefetch = tables
            .iter()
            .max_by_key(|t| t.bytes())
            .map(|big| big.tune_prefetch())
            .transpose()?
            .filter(|tuning| tuning.source != hercules_kernels::embedding::TuningSource::CacheResident);
        if let Some(tuning) = &prefetch {
            tables.iter_mut().for_each(|t| t.set_prefetch(tuning));
        }
        let bottom = match &spec.bottom_mlp {
            Some(m) => mlp(names::BOTTOM, m)?,
            None => Vec::new(),
        };
        let mut blocks = Vec::new();
        for (b, block) in spec.blocks.iter().enumerate() {
            let start = |g: &str| spec.group(g).map(|gi| spec.group_start(gi)).unwrap_or(0);
            blocks.push(match block {
                Block::Attention { behaviour, query, mlp: m } => {
                    let g = spec.group(behaviour).unwrap_or(0);
                    let units = (0..spec.tables[g].count)
                        .map(|u| mlp(&names::attention(b, u), m))
                        .collect::<Result<_>>()?;
                    BuiltBlock::Attention {
                        first: start(behaviour),
                        query: start(query),
                        dim: spec.tables[g].dim,
                        units,
                    }
                }
                Block::Rnn { sequence, hidden } => {
                    let g = spec.group(sequence).unwrap_or(0);
                    let dim = spec.tables[g].dim;
                    let mut input = dim;
                    let mut layers = Vec::new();
                    let mut fcs = Vec::new();
                    for (l, &h) in hidden.iter().enumerate() {
                        let n = names::rnn(b, l);
                        let (wih, bih) = (get(&n.weight_ih)?, get(&n.bias_ih)?);
                        let (whh, bhh) = (get(&n.weight_hh)?, get(&n.bias_hh)?);
                        layers.push((
                            Dense::new(
                                &format!("{name}: {}", n.weight_ih),
                                &wih,
                                Some(&bih),
                                input,
                                h,
                                Act::None,
                            )?,
                            Dense::new(
                                &format!("{name}: {}", n.weight_hh),
                                &whh,
                                Some(&bhh),
                                h,
                                h,
                                Act::None,
                            )?,
                        ));
                        if l + 1 < hidden.len() {
                            fcs.push(dense(&names::rnn_fc(b, l), h, h, Act::None, true)?);
                        }
                        input = h;
                    }
                    BuiltBlock::Rnn {
                        first: start(sequence),
                        steps: spec.tables[g].count,
                        dim,
                        layers,
                        fcs,
                        ew: Elementwise::new(),
                    }
                }
                Block::Ncf { mf, mlp_tables, mlp: m } => BuiltBlock::Ncf {
                    mf: [start(&mf[0]), start(&mf[1])],
                    mlp_tables: [start(&mlp_tables[0]), start(&mlp_tables[1])],
                    dim: spec.tables[spec.group(&mf[0]).unwrap_or(0)].dim,
                    mlp: mlp(&names::ncf(b), m)?,
                },
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
            Interaction::Cat {} => BuiltInteraction::Cat,
            Interaction::Dot { self_interaction } => {
                let width = features[0].2;
                let pairs = DotInteraction::new(features.len(), width, self_interaction)
                    .map_err(kernel("dot interaction"))?;
                BuiltInteraction::Dot { pairs, width }
            }
            Interaction::Cross { layers, low_rank } => BuiltInteraction::Cross(
                (0..layers)
                    .map(|l| {
                        let (u, v) = names::cross(l);
                        Ok((
                            dense(&u, col, low_rank, Act::None, false)?,
                            dense(&v, low_rank, col, Act::None, true)?,
                        ))
                    })
                    .collect::<Result<_>>()?,
            ),
        };
        let top = mlp(names::TOP, &spec.top_mlp)?;
        let heads = match &spec.heads {
            Some(h) => (0..h.tasks).map(|k| mlp(&names::head(k), &h.mlp)).collect::<Result<_>>()?,
            None => Vec::new(),
        };
        let lookups_per_sample = spec.tables.iter().map(|g| g.count * g.lookups).sum();
        Ok(Self {
            stats: stats(&spec),
            inter_out: spec.interaction_out(),
            spec,
            scale,
            lookups_per_sample,
            tables,
            dims,
            bottom,
            blocks,
            features,
            x0_width: col,
            interaction,
            top,
            heads,
            prefetch,
        })
    }

    /// Width of one output row.
    pub fn output_width(&self) -> usize {
        self.spec.output_width()
    }

    /// Bytes held by the tables as built.
    pub fn table_bytes(&self) -> usize {
        self.tables.iter().map(|t| t.bytes()).sum()
    }
}
