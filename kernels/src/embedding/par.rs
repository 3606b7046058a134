//! The parallel lookup: bags split across a pinned pool's workers by index count.

use super::input::{bag_of, Bags, Indices};
use super::table::EmbeddingTable;
use super::{index_error, make_job, run, validate, EmbeddingOpts, Pooling};
use crate::error::Result;
use crate::pool::PinnedPool;
use std::ops::Range;
use std::sync::Mutex;

/// As [`super::embedding_bag`], with the bags split across the pool's pinned workers: worker `w` pools a
/// contiguous run of bags holding about 1/threads of the indices and writes only their rows of `out`.
/// On bad indices the error is the one at the lowest position.
#[allow(clippy::too_many_arguments)]
pub fn embedding_bag_par(
    pool: &PinnedPool,
    table: &EmbeddingTable,
    indices: Indices<'_>,
    bags: Bags<'_>,
    weights: Option<&[f32]>,
    pooling: Pooling,
    out: &mut [f32],
    opts: &EmbeddingOpts,
) -> Result<()> {
    let (isa, offsets) = validate(table, &indices, bags, weights, out, opts)?;
    let parts = pool.threads();
    let splits = split_bags(&offsets, parts);
    let dim = table.dim();
    // Hand each worker its own rows of `out` (disjoint &mut slices).
    let mut chunks: Vec<Mutex<Option<&mut [f32]>>> = Vec::with_capacity(parts);
    let mut rest = out;
    for r in &splits {
        let (head, tail) = rest.split_at_mut(r.len() * dim);
        chunks.push(Mutex::new(Some(head)));
        rest = tail;
    }
    let errors: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    pool.broadcast(|w, _| {
        let Some(chunk) = chunks.get(w).and_then(|c| c.lock().unwrap_or_else(|p| p.into_inner()).take())
        else {
            return;
        };
        let bags = splits[w].clone();
        let res = match indices {
            Indices::U32(ix) => run(isa, &make_job(table, ix, &offsets, weights, pooling, opts), bags, chunk),
            Indices::U64(ix) => run(isa, &make_job(table, ix, &offsets, weights, pooling, opts), bags, chunk),
        };
        if let Err(pos) = res {
            errors.lock().unwrap_or_else(|p| p.into_inner()).push(pos);
        }
    });
    let errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    match errors.into_iter().min() {
        Some(pos) => Err(index_error(indices.get(pos), pos, bag_of(&offsets, pos), table.rows())),
        None => Ok(()),
    }
}

/// Contiguous bag ranges, one per part, each holding about 1/parts of the indices (ragged bags are
/// balanced by work, not by count).
fn split_bags(offsets: &[usize], parts: usize) -> Vec<Range<usize>> {
    let bag_count = offsets.len() - 1;
    let n = offsets[bag_count];
    if n == 0 {
        // Nothing to gather: split by count so every worker zeroes its share of `out`.
        return (0..parts).map(|w| crate::pool::split_range(bag_count, parts, w)).collect();
    }
    let starts = &offsets[..bag_count];
    let mut bounds: Vec<usize> =
        (0..parts).map(|w| if w == 0 { 0 } else { starts.partition_point(|&o| o < n * w / parts) }).collect();
    bounds.push(bag_count);
    bounds.windows(2).map(|w| w[0]..w[1]).collect()
}
