//! The special blocks (DIN attention, DIEN RNN, NCF branches) and the interactions, each on a range of
//! the batch so that workers can split it.

mod attention;
mod interaction;
mod ncf;
mod rnn;

pub(crate) use interaction::cross_update;

use crate::error::Result;
use crate::model::BuiltBlock;
use crate::ops::Dense;
use crate::workspace::Scratch;
use std::ops::Range;

/// Rows `rows` of table `t`'s pooled block (batch × dim at `at[t]`).
pub(crate) fn table_rows<'a>(
    pooled: &'a [f32],
    at: &[usize],
    t: usize,
    dim: usize,
    rows: &Range<usize>,
) -> &'a [f32] {
    &pooled[at[t] + rows.start * dim..at[t] + rows.end * dim]
}

/// Runs `block` on samples `rows` of a batch of `bsz`, writing those rows of its output to `out`.
pub(crate) fn run(
    block: &BuiltBlock,
    pooled: &[f32],
    at: &[usize],
    bsz: usize,
    rows: Range<usize>,
    s: &mut Scratch,
    out: &mut [f32],
) -> Result<()> {
    debug_assert!(rows.end <= bsz);
    match block {
        BuiltBlock::Attention { first, query, dim, units } => {
            attention::run(units, *first, *query, *dim, pooled, at, rows, s, out)
        }
        BuiltBlock::Rnn { first, steps, dim, layers, fcs, ew } => {
            rnn::run(layers, fcs, ew, *first, *steps, *dim, pooled, at, rows, s, out)
        }
        BuiltBlock::Ncf { mf, mlp_tables, dim, mlp } => {
            ncf::run(mlp, *mf, *mlp_tables, *dim, pooled, at, rows, s, out)
        }
    }
}

/// Runs `layers` on `x` (m rows) on the calling thread through `p`/`q`; returns the result slice.
pub(crate) fn chain<'a>(
    layers: &[Dense],
    x: &[f32],
    m: usize,
    p: &'a mut [f32],
    q: &'a mut [f32],
) -> Result<&'a [f32]> {
    layers[0].forward(x, m, p)?;
    let (mut cur, mut nxt) = (p, q);
    for l in &layers[1..] {
        l.forward(cur, m, nxt)?;
        std::mem::swap(&mut cur, &mut nxt);
    }
    let w = layers[layers.len() - 1].n();
    Ok(&cur[..m * w])
}
