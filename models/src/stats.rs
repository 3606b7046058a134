//! Size and work of a model per sample: table memory, bytes gathered, multiply-accumulates.

use crate::spec::{Block, Interaction, ModelSpec};
use serde::Serialize;

/// What one model costs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelStats {
    /// Number of embedding tables.
    pub tables: usize,
    /// Bytes of all table rows as stored.
    pub table_bytes: u64,
    /// Bytes of dense weights (MLPs, cross layers, blocks) in fp32.
    pub dense_weight_bytes: u64,
    /// Row bytes gathered per sample.
    pub gathered_bytes_per_sample: u64,
    /// Multiply-accumulates per sample in dense layers, interaction and blocks.
    pub macs_per_sample: u64,
}

/// Computes the stats of a (possibly scaled) spec.
pub fn stats(spec: &ModelSpec) -> ModelStats {
    let mut table_bytes = 0u64;
    let mut gathered = 0u64;
    for g in &spec.tables {
        let row = (g.dim as u64).saturating_mul(g.dtype.bytes() as u64);
        table_bytes = table_bytes.saturating_add((g.count as u64).saturating_mul(g.rows).saturating_mul(row));
        gathered += (g.count * g.lookups) as u64 * row;
    }
    let mut macs = spec.top_mlp.macs();
    if let Some(b) = &spec.bottom_mlp {
        macs += b.macs();
    }
    if let Some(h) = &spec.heads {
        macs += h.tasks as u64 * h.mlp.macs();
    }
    let n = spec.features().len() as u64;
    let x0 = spec.features_width() as u64;
    match spec.interaction {
        Interaction::Cat {} => {}
        Interaction::Dot { .. } => macs += n * n.saturating_sub(1) / 2 * spec.dense_out() as u64,
        Interaction::Cross { layers, low_rank } => macs += layers as u64 * 2 * x0 * low_rank as u64,
    }
    for block in &spec.blocks {
        macs += match block {
            Block::Attention { behaviour, mlp, .. } => {
                spec.group(behaviour).map_or(0, |g| spec.tables[g].count as u64) * mlp.macs()
            }
            Block::Rnn { sequence, hidden } => {
                let g = spec.group(sequence).map_or(0, |g| g);
                let steps = spec.tables[g].count as u64;
                let mut input = spec.tables[g].dim as u64;
                let mut m = 0;
                for (l, &h) in hidden.iter().enumerate() {
                    let h = h as u64;
                    m += steps * (input * h + h * h);
                    if l + 1 < hidden.len() {
                        m += steps * h * h;
                    }
                    input = h;
                }
                m
            }
            Block::Ncf { mlp, .. } => mlp.macs(),
        };
    }
    // Counted without listing the parameters; saturates for specs that validation would refuse.
    let dense_weight_bytes = spec.dense_params().map_or(u64::MAX, |n| n.saturating_mul(4));
    ModelStats {
        tables: spec.num_tables(),
        table_bytes,
        dense_weight_bytes,
        gathered_bytes_per_sample: gathered,
        macs_per_sample: macs,
    }
}
