//! `hercules roofline`: the machine's ceilings per thread count, each a median over repeats.

use crate::output::progress;
use anyhow::{Context, Result};
use hercules_kernels::ceiling::{self, GatherTable, StreamArrays};
use hercules_kernels::PinnedPool;
use hercules_results::{Ceilings, HostFingerprint, Measured};
use std::time::Instant;

/// How big and how long the ceiling measurements are.
#[derive(Debug, Clone)]
pub struct RooflineOpts {
    /// Thread counts to measure at (each a pool pinned to the first N usable cores).
    pub threads: Vec<usize>,
    /// Repeats per figure.
    pub repeats: usize,
    /// Small arrays and short repeats: a smoke test, not a ceiling (the LLC may hold the arrays).
    pub quick: bool,
}

/// 1, 2, 4, ... up to `max`, and `max` itself.
pub fn thread_counts(max: usize) -> Vec<usize> {
    let mut v: Vec<usize> =
        std::iter::successors(Some(1usize), |t| Some(t * 2)).take_while(|t| *t < max).collect();
    v.push(max.max(1));
    v
}

/// Sizes chosen from the last-level cache: arrays of ≥ 2× LLC (≥ 1 GiB) and a gather table of ≥ 4× LLC
/// (≥ 2 GiB), so DRAM is what is measured, not a cache.
pub fn sizes(host: &HostFingerprint, quick: bool) -> (usize, usize) {
    if quick {
        return (64 << 20, 256 << 20);
    }
    let llc = crate::host::llc_bytes(host) as usize;
    let round = |b: usize| b.div_ceil(256 << 20) * (256 << 20);
    (round((2 * llc).max(1 << 30)), round((4 * llc).max(2 << 30)))
}

fn repeat(n: usize, mut f: impl FnMut() -> f64) -> Vec<f64> {
    f(); // warm-up: first touch, frequency ramp, page-table walks
    (0..n).map(|_| f()).collect()
}

/// One pool per thread count of `opts`, each pinned to the first N usable cores.
pub fn pools(opts: &RooflineOpts) -> Result<Vec<PinnedPool>> {
    opts.threads
        .iter()
        .map(|&t| PinnedPool::with_threads(t).with_context(|| format!("pinning {t} threads")))
        .collect()
}

/// Measures every ceiling on every pool (see [`pools`]).
pub fn measure(opts: &RooflineOpts, host: &HostFingerprint, pools: &[PinnedPool]) -> Result<Ceilings> {
    let (stream_bytes, table_bytes) = sizes(host, opts.quick);
    let mut arrays = StreamArrays::new(stream_bytes).context("allocating the stream arrays")?;
    let row_bytes = 256;
    // Enough lookups for ~0.2 s per repeat at ~10 GB/s per thread.
    let lookups = if opts.quick { 1 << 20 } else { 8 << 20 };
    let gather =
        GatherTable::new(table_bytes, row_bytes, lookups, 42).context("allocating the gather table")?;

    // Calibrate the FMA loop to ~0.2 s (0.02 s quick) on one thread.
    let probe_iters = 1_000_000u64;
    let t0 = Instant::now();
    let (_, fma_isa) = ceiling::fma_peak(&pools[0], probe_iters);
    let target = if opts.quick { 0.02 } else { 0.2 };
    let iters = ((probe_iters as f64) * target / t0.elapsed().as_secs_f64().max(1e-6)) as u64;

    let pb = progress::bar((pools.len() * 5) as u64, "roofline");
    let mut c = Ceilings {
        fma_gflops: vec![],
        fma_isa: fma_isa.to_string(),
        stream_copy_gbs: vec![],
        stream_triad_gbs: vec![],
        seq_read_gbs: vec![],
        gather_gbs: vec![],
        stream_bytes: arrays.bytes() as u64,
        gather_table_bytes: gather.bytes() as u64,
        gather_row_bytes: gather.row_bytes() as u64,
        gather_huge_pages: format!("{:?}", gather.huge_pages()).to_lowercase(),
    };
    for pool in pools {
        let t = pool.threads();
        pb.set_message(format!("{t} threads: fma"));
        c.fma_gflops
            .push(Measured::from_samples(t, &repeat(opts.repeats, || ceiling::fma_peak(pool, iters).0)));
        pb.inc(1);
        pb.set_message(format!("{t} threads: copy"));
        c.stream_copy_gbs.push(Measured::from_samples(
            t,
            &repeat(opts.repeats, || ceiling::stream_copy(pool, &mut arrays)),
        ));
        pb.inc(1);
        pb.set_message(format!("{t} threads: triad"));
        c.stream_triad_gbs.push(Measured::from_samples(
            t,
            &repeat(opts.repeats, || ceiling::stream_triad(pool, &mut arrays)),
        ));
        pb.inc(1);
        pb.set_message(format!("{t} threads: read"));
        c.seq_read_gbs
            .push(Measured::from_samples(t, &repeat(opts.repeats, || ceiling::seq_read(pool, &arrays))));
        pb.inc(1);
        pb.set_message(format!("{t} threads: gather"));
        c.gather_gbs
            .push(Measured::from_samples(t, &repeat(opts.repeats, || ceiling::gather(pool, &gather))));
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(c)
}

/// The ceilings as a table: one row per (figure, threads).
pub fn table(c: &Ceilings) -> crate::output::table::Table {
    use crate::output::table::{num, Table};
    let mut t = Table::new(["ceiling", "unit", "threads", "median", "min", "max", "spread_pct"]);
    let series: [(&str, &str, &Vec<Measured>); 5] = [
        ("fma_peak", "GFLOP/s", &c.fma_gflops),
        ("stream_copy", "GB/s", &c.stream_copy_gbs),
        ("stream_triad", "GB/s", &c.stream_triad_gbs),
        ("seq_read", "GB/s", &c.seq_read_gbs),
        ("gather_256B_rows", "GB/s", &c.gather_gbs),
    ];
    for (name, unit, s) in series {
        for m in s {
            t.push([
                name.to_string(),
                unit.to_string(),
                m.threads.to_string(),
                num(Some(m.median), 1),
                num(Some(m.min), 1),
                num(Some(m.max), 1),
                num(Some(100.0 * m.spread()), 1),
            ]);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_cover_max() {
        assert_eq!(thread_counts(1), vec![1]);
        assert_eq!(thread_counts(2), vec![1, 2]);
        assert_eq!(thread_counts(6), vec![1, 2, 4, 6]);
        assert_eq!(thread_counts(8), vec![1, 2, 4, 8]);
    }

    #[test]
    fn sizes_exceed_the_llc() {
        let mut h = crate::host::fingerprint();
        h.caches = vec![hercules_results::CacheInfo {
            level: 3,
            kind: "Unified".into(),
            size_bytes: 480 << 20,
            instances: 1,
        }];
        let (s, g) = sizes(&h, false);
        assert!(s >= 2 * (480 << 20) && g >= 4 * (480 << 20));
    }
}
