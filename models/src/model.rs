//! A built model: tables as kernel embedding tables, layers as packed dense layers, plus the plan the
//! forward pass follows (feature list, column offsets, block wiring).

use crate::error::{kernel, ModelError, Result};
use crate::ops::{Dense, Table};
use crate::plan::{BlockPlan, InteractionPlan, LinearPlan, ModelPlan};
use crate::spec::{Feature, ModelSpec, Scale};
use crate::stats::{stats, ModelStats};
use crate::weights::WeightSource;
use hercules_kernels::elementwise::Elementwise;
use hercules_kernels::interaction::DotInteraction;

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
    /// Scales `spec`, checks memory, and builds it with weights from `source`, following the lowered
    /// plan ([`ModelPlan`]) the GPU model builds from too.
    pub fn build(spec: &ModelSpec, scale: Scale, source: &WeightSource) -> Result<Self> {
        let plan = ModelPlan::lower(spec, scale)?;
        check_memory(&plan.spec)?;
        let name = &plan.spec.name;
        let dense = |l: &LinearPlan| -> Result<Dense> {
            let w = plan.tensor(source, &l.weight)?;
            let b = l.bias.as_deref().map(|b| plan.tensor(source, b)).transpose()?;
            Dense::new(&format!("{name}: {}", l.weight), &w, b.as_deref(), l.k, l.n, l.act)
        };
        let mlp = |ls: &[LinearPlan]| ls.iter().map(dense).collect::<Result<Vec<_>>>();

        let mut tables = Vec::with_capacity(plan.tables.len());
        for t in &plan.tables {
            let data = plan.tensor(source, &t.param)?;
            let label = format!("{name}: {}", t.param);
            tables.push(Table::new(&label, t.rows as usize, t.dim, t.dtype, t.pooling, &data)?);
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
        let blocks = plan
            .blocks
            .iter()
            .map(|b| {
                Ok(match b {
                    BlockPlan::Attention { first, query, dim, units } => BuiltBlock::Attention {
                        first: *first,
                        query: *query,
                        dim: *dim,
                        units: units.iter().map(|u| mlp(u)).collect::<Result<_>>()?,
                    },
                    BlockPlan::Rnn { first, steps, dim, layers, fcs } => BuiltBlock::Rnn {
                        first: *first,
                        steps: *steps,
                        dim: *dim,
                        layers: layers
                            .iter()
                            .map(|l| Ok((dense(&l.ih)?, dense(&l.hh)?)))
                            .collect::<Result<_>>()?,
                        fcs: mlp(fcs)?,
                        ew: Elementwise::new(),
                    },
                    BlockPlan::Ncf { mf, mlp_tables, dim, mlp: m, .. } => {
                        BuiltBlock::Ncf { mf: *mf, mlp_tables: *mlp_tables, dim: *dim, mlp: mlp(m)? }
                    }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let interaction = match &plan.interaction {
            InteractionPlan::Cat => BuiltInteraction::Cat,
            InteractionPlan::Dot { width, self_interaction } => BuiltInteraction::Dot {
                pairs: DotInteraction::new(plan.features.len(), *width, *self_interaction)
                    .map_err(kernel("dot interaction"))?,
                width: *width,
            },
            InteractionPlan::Cross { layers, .. } => BuiltInteraction::Cross(
                layers.iter().map(|(u, v)| Ok((dense(u)?, dense(v)?))).collect::<Result<_>>()?,
            ),
        };
        Ok(Self {
            stats: stats(&plan.spec),
            inter_out: plan.spec.interaction_out(),
            lookups_per_sample: plan.lookups_per_sample,
            dims: plan.tables.iter().map(|t| t.dim).collect(),
            tables,
            bottom: mlp(&plan.bottom)?,
            blocks,
            features: plan.features.clone(),
            x0_width: plan.x0_width,
            interaction,
            top: mlp(&plan.top)?,
            heads: plan.heads.iter().map(|h| mlp(h)).collect::<Result<_>>()?,
            prefetch,
            scale: plan.scale,
            spec: plan.spec.clone(),
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
