//! The machine's ceilings per thread count (FMA peak, stream, sequential read, random gather), each
//! a median over repeats, and a CUDA device's; measured by `roofline`, `kernels` and `profile`.

use crate::output::progress;
use anyhow::{Context, Result};
use hercules_gpu::bench::GpuCeilings;
use hercules_gpu::DeviceInfo;
use hercules_kernels::ceiling::{self, GatherTable, StreamArrays};
use hercules_kernels::PinnedPool;
use hercules_results::{Ceilings, HostFingerprint, Measured, BENCH_SCHEMA_VERSION};
use serde::Serialize;
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
    // Enough lookups for a fraction of a second per repeat at the gather rates of results/README.md.
    let lookups = if opts.quick { 1 << 20 } else { 8 << 20 };
    let gather = GatherTable::new(table_bytes, lookups, 42).context("allocating the gather table")?;

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

/// The JSON document of `hercules roofline --device cuda`.
#[derive(Debug, Serialize)]
pub struct GpuRooflineReport {
    /// Version of the document layout ([`BENCH_SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// "roofline-cuda".
    pub kind: String,
    /// The host the device sits in (its `gpus` list included).
    pub host: HostFingerprint,
    /// The measured device.
    pub device: DeviceInfo,
    /// The driver, NVRTC and cuBLAS versions this process loaded.
    pub libraries: hercules_gpu::LibraryVersions,
    /// When, RFC 3339 UTC.
    pub measured_at: String,
    /// The device's ceilings.
    pub ceilings: GpuCeilings,
}

impl GpuRooflineReport {
    /// A document of `kind` measured now.
    pub fn new(kind: &str, host: HostFingerprint, device: DeviceInfo, ceilings: GpuCeilings) -> Self {
        Self {
            schema_version: BENCH_SCHEMA_VERSION,
            kind: kind.into(),
            host,
            device,
            libraries: hercules_gpu::library_versions(),
            measured_at: crate::output::now_rfc3339(),
            ceilings,
        }
    }
}

/// The gather table of the GPU ceilings: 4 GiB (256 MiB quick), at most a quarter of device memory.
pub fn gpu_gather_table_bytes(info: &DeviceInfo, quick: bool) -> usize {
    let want: u64 = if quick { 256 << 20 } else { 4 << 30 };
    let cap = (info.total_memory_bytes / 4) / (256 << 20) * (256 << 20);
    want.min(cap.max(64 << 20)) as usize
}

/// One line naming a device: name, architecture, SMs, memory, driver.
pub fn device_line(i: &DeviceInfo) -> String {
    format!(
        "{} (GPU {}, {}, {} SMs, {:.1} GiB, driver CUDA {})",
        i.name,
        i.ordinal,
        hercules_gpu::device::arch_name(i.compute_capability),
        i.sm_count,
        i.total_memory_bytes as f64 / (1u64 << 30) as f64,
        i.driver_version
    )
}

/// The GPU ceilings as a table: one row per ceiling.
pub fn gpu_table(c: &GpuCeilings) -> crate::output::table::Table {
    use crate::output::table::{num, Table};
    let mut t = Table::new(["ceiling", "unit", "median", "min", "max", "spread_pct", "detail"]);
    for m in c.all() {
        let spread = if m.median > 0.0 { Some(100.0 * (m.max - m.min) / m.median) } else { None };
        t.push([
            m.name.clone(),
            m.unit.clone(),
            num(Some(m.median), 1),
            num(Some(m.min), 1),
            num(Some(m.max), 1),
            num(spread, 1),
            m.detail.clone(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(mem: u64) -> DeviceInfo {
        DeviceInfo {
            ordinal: 0,
            name: "Test GPU".into(),
            uuid: "GPU-0".into(),
            total_memory_bytes: mem,
            compute_capability: (9, 0),
            sm_count: 132,
            driver_version: "12.8".into(),
        }
    }

    #[test]
    fn gpu_gather_table_fits_the_device() {
        assert_eq!(gpu_gather_table_bytes(&info(80 << 30), false), 4 << 30);
        assert_eq!(gpu_gather_table_bytes(&info(80 << 30), true), 256 << 20);
        assert_eq!(gpu_gather_table_bytes(&info(8 << 30), false), 2 << 30);
        assert_eq!(gpu_gather_table_bytes(&info(100 << 20), false), 64 << 20);
        assert!(device_line(&info(80 << 30)).contains("sm_90, 132 SMs, 80.0 GiB"));
    }

    #[test]
    fn gpu_table_has_a_row_per_ceiling() {
        let c = |name: &str| hercules_gpu::ceiling::Ceiling {
            name: name.into(),
            unit: "GB/s".into(),
            median: 10.0,
            min: 9.0,
            max: 11.0,
            repeats: 3,
            detail: "d".into(),
        };
        let g = GpuCeilings {
            copy: c("copy_d2d"),
            gather: c("gather_random_rows"),
            gemm: vec![c("gemm_fp32")],
            gemm_errors: vec!["Bf16: x".into()],
        };
        let csv = gpu_table(&g).to_csv();
        assert_eq!(csv.lines().count(), 4, "{csv}");
        assert!(csv.contains("gemm_fp32") && csv.contains("20.0"), "{csv}");
    }

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
