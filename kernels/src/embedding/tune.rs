//! Choosing the software-prefetch distance on the machine at hand. The best distance is a property of
//! the memory system and differs between the hosts measured so far (results/notebook-2026.md), so a
//! DRAM-sized table is measured once with each candidate, interleaved round by round so that drift
//! spreads evenly.

use super::{embedding_bag, random_bags, Bags, EmbeddingOpts, EmbeddingTable, Indices, Pooling};
use super::{DEFAULT_PREFETCH_DISTANCE, PREFETCH_MIN_TABLE_BYTES};
use crate::error::Result;
use std::time::Instant;

/// Distances tried, in rows ahead (0 = no software prefetch).
pub const CANDIDATES: [usize; 4] = [0, 16, DEFAULT_PREFETCH_DISTANCE, 64];

/// A candidate replaces the default only when its median time is at least this much lower, so that
/// noise does not flip the choice between runs.
const MIN_GAIN: f64 = 0.05;

/// What [`tune_prefetch`] measured and chose.
#[derive(Debug, Clone, PartialEq)]
pub struct PrefetchTuning {
    /// The chosen distance.
    pub distance: usize,
    /// (distance, median seconds per call) for each candidate; empty when nothing was measured.
    pub medians: Vec<(usize, f64)>,
}

/// Measures `CANDIDATES` on `table` from the calling thread (`rounds` interleaved rounds of one call of
/// 256 bags × 40 fresh uniform lookups each) and returns the fastest, keeping the default unless another
/// is at least 5% faster. Tables small enough to stay in cache get 0 without measuring.
pub fn tune_prefetch(table: &EmbeddingTable, base: EmbeddingOpts, rounds: usize) -> Result<PrefetchTuning> {
    if table.bytes() <= PREFETCH_MIN_TABLE_BYTES || table.rows() == 0 {
        return Ok(PrefetchTuning { distance: 0, medians: Vec::new() });
    }
    let (batch, lookups) = (256, 40.min(table.rows()));
    let mut out = vec![0.0f32; batch * table.dim()];
    let mut times = vec![Vec::with_capacity(rounds); CANDIDATES.len()];
    // One warm-up call, then a fresh batch for every timed call so none finds its rows in cache.
    for r in 0..=rounds.max(1) {
        for (c, &distance) in CANDIDATES.iter().enumerate() {
            let (idx, offsets) = random_bags(table.rows(), batch, lookups, (r * CANDIDATES.len() + c) as u64);
            let opts = EmbeddingOpts { prefetch_distance: distance, ..base };
            let t = Instant::now();
            embedding_bag(
                table,
                Indices::U32(&idx),
                Bags::Offsets(&offsets),
                None,
                Pooling::Sum,
                &mut out,
                &opts,
            )?;
            if r > 0 {
                times[c].push(t.elapsed().as_secs_f64());
            }
        }
    }
    let medians: Vec<(usize, f64)> = CANDIDATES
        .iter()
        .zip(&mut times)
        .map(|(&d, ts)| {
            ts.sort_by(f64::total_cmp);
            (d, ts[ts.len() / 2])
        })
        .collect();
    Ok(PrefetchTuning { distance: choose(&medians), medians })
}

/// The fastest distance, or the default unless the fastest beats it by [`MIN_GAIN`].
fn choose(medians: &[(usize, f64)]) -> usize {
    let default = medians.iter().find(|(d, _)| *d == DEFAULT_PREFETCH_DISTANCE).map(|m| m.1);
    let best = medians.iter().min_by(|a, b| a.1.total_cmp(&b.1)).copied();
    match (best, default) {
        (Some((d, t)), Some(td)) if t < td * (1.0 - MIN_GAIN) => d,
        (_, Some(_)) => DEFAULT_PREFETCH_DISTANCE,
        (Some((d, _)), None) => d,
        (None, None) => DEFAULT_PREFETCH_DISTANCE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::DType;

    #[test]
    fn the_default_stays_unless_clearly_beaten() {
        let m = |v: [f64; 4]| CANDIDATES.iter().copied().zip(v).collect::<Vec<_>>();
        assert_eq!(choose(&m([1.0, 1.0, 1.0, 1.0])), DEFAULT_PREFETCH_DISTANCE);
        assert_eq!(choose(&m([0.97, 1.0, 1.0, 1.0])), DEFAULT_PREFETCH_DISTANCE);
        assert_eq!(choose(&m([0.7, 0.9, 1.0, 1.0])), 0);
        assert_eq!(choose(&m([1.2, 0.9, 1.0, 0.8])), 64);
    }

    #[test]
    fn cache_sized_tables_are_not_measured() {
        let t = EmbeddingTable::random(1000, 16, DType::F32, 1).unwrap();
        let r = tune_prefetch(&t, EmbeddingOpts::default(), 3).unwrap();
        assert_eq!(r, PrefetchTuning { distance: 0, medians: Vec::new() });
    }

    #[test]
    fn a_large_table_is_measured_at_every_candidate() {
        // 40 MiB of fp32 rows, over the cache-sized limit.
        let t = EmbeddingTable::random(40 << 14, 16, DType::F32, 2).unwrap();
        assert!(t.bytes() > PREFETCH_MIN_TABLE_BYTES);
        let r = tune_prefetch(&t, EmbeddingOpts::default(), 3).unwrap();
        assert_eq!(r.medians.iter().map(|m| m.0).collect::<Vec<_>>(), CANDIDATES);
        assert!(r.medians.iter().all(|m| m.1 > 0.0));
        assert!(CANDIDATES.contains(&r.distance));
    }
}
