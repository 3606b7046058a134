//! The measured ceilings of a machine (`hercules roofline`) and kernel benchmark records
//! (`hercules kernels`).

use crate::host::HostFingerprint;
use serde::{Deserialize, Serialize};

/// Version of the roofline and kernel-benchmark documents.
pub const BENCH_SCHEMA_VERSION: u32 = 1;

/// A figure measured several times at one thread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    /// Worker threads (each pinned to its own core).
    pub threads: usize,
    /// Median over the repeats.
    pub median: f64,
    /// Smallest repeat.
    pub min: f64,
    /// Largest repeat.
    pub max: f64,
    /// Number of repeats.
    pub repeats: usize,
}

impl Measured {
    /// Summarises `samples` (at least one) taken at `threads` threads.
    pub fn from_samples(threads: usize, samples: &[f64]) -> Self {
        let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        s.sort_by(f64::total_cmp);
        let median = match s.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => s[n / 2],
            n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
        };
        Self {
            threads,
            median,
            min: s.first().copied().unwrap_or(f64::NAN),
            max: s.last().copied().unwrap_or(f64::NAN),
            repeats: s.len(),
        }
    }

    /// (max - min) / median: how noisy the repeats were.
    pub fn spread(&self) -> f64 {
        (self.max - self.min) / self.median
    }
}

/// The machine's measured ceilings, each per thread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ceilings {
    /// Peak FP32 fused-multiply-add rate, GFLOP/s (2 FLOP per lane per FMA).
    pub fma_gflops: Vec<Measured>,
    /// Instruction set used for the FMA peak.
    pub fma_isa: String,
    /// STREAM copy (a = b), GB/s counting bytes read + written.
    pub stream_copy_gbs: Vec<Measured>,
    /// STREAM triad (a = b + s*c), GB/s counting bytes read + written.
    pub stream_triad_gbs: Vec<Measured>,
    /// Sequential read (sum of an array), GB/s.
    pub seq_read_gbs: Vec<Measured>,
    /// Random whole-row gather (sum of rows at uniform random indices), GB/s of row data.
    pub gather_gbs: Vec<Measured>,
    /// Bytes of each array in the stream tests.
    pub stream_bytes: u64,
    /// Bytes of the table in the gather test.
    pub gather_table_bytes: u64,
    /// Row width of the gather test in bytes.
    pub gather_row_bytes: u64,
    /// Whether the gather table got huge pages (`yes`, `no`, `unknown`).
    pub gather_huge_pages: String,
}

impl Ceilings {
    /// The figure for `threads`, or the one measured at the nearest lower thread count.
    pub fn at(series: &[Measured], threads: usize) -> Option<&Measured> {
        series.iter().filter(|m| m.threads <= threads).max_by_key(|m| m.threads)
    }
}

/// The document `hercules roofline --json` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RooflineReport {
    /// [`BENCH_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Always `"roofline"`.
    pub kind: String,
    /// Where it was measured.
    pub host: HostFingerprint,
    /// When (RFC 3339, UTC).
    pub measured_at: String,
    /// What was measured.
    pub ceilings: Ceilings,
}

/// One kernel benchmark record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelRecord {
    /// `embedding`, `mlp` or `interaction`.
    pub op: String,
    /// Which implementation: `hercules`, `hercules-scalar`, `gemm-crate`, ...
    pub implementation: String,
    /// Instruction set of the implementation (`avx512`, `avx2`, `scalar`, `n/a`).
    pub isa: String,
    /// Worker threads.
    pub threads: usize,
    /// Shape parameters (embedding: rows, dim, lookups, batch, dtype, pooling, table_bytes;
    /// mlp: m, k, n, activation; interaction: features, dim, batch), as a JSON object.
    pub shape: serde_json::Value,
    /// Seconds per call, median over repeats.
    pub seconds_median: f64,
    /// Fastest and slowest repeat, seconds.
    pub seconds_min: f64,
    /// Slowest repeat, seconds.
    pub seconds_max: f64,
    /// Repeats timed.
    pub repeats: usize,
    /// Embedding: rows gathered per second.
    pub rows_per_s: Option<f64>,
    /// Embedding: GB/s of row data gathered (stored row bytes, so int8 rows count their real size).
    pub gbs: Option<f64>,
    /// MLP: GFLOP/s (2·M·K·N per call); interaction: GFLOP/s of the pairs (2·pairs·dim per sample).
    pub gflops: Option<f64>,
    /// Throughput over the matching ceiling measured in the same run (gather GB/s for embeddings of
    /// tables beyond the LLC, FMA peak for MLP).
    pub fraction_of_ceiling: Option<f64>,
    /// Which ceiling `fraction_of_ceiling` divides by.
    pub ceiling: Option<String>,
    /// Whether the table got huge pages (embedding only).
    pub huge_pages: Option<String>,
    /// GPU board power over at least two seconds of the same launches back to back (`--power`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_power: Option<crate::table::Power>,
}

/// The document `hercules kernels --json` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelReport {
    /// [`BENCH_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Always `"kernels"`.
    pub kind: String,
    /// Where it was measured.
    pub host: HostFingerprint,
    /// When (RFC 3339, UTC).
    pub measured_at: String,
    /// The ceilings measured in the same run, which `fraction_of_ceiling` refers to.
    pub ceilings: Ceilings,
    /// One record per (shape, implementation, threads).
    pub records: Vec<KernelRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measured_summary() {
        let m = Measured::from_samples(2, &[3.0, 1.0, 2.0, f64::NAN]);
        assert_eq!((m.median, m.min, m.max, m.repeats), (2.0, 1.0, 3.0, 3));
        assert!((m.spread() - 1.0).abs() < 1e-12);
        let e = Measured::from_samples(1, &[4.0, 2.0]);
        assert_eq!(e.median, 3.0);
    }

    #[test]
    fn ceiling_at_nearest_lower_thread_count() {
        let s = vec![Measured::from_samples(1, &[1.0]), Measured::from_samples(2, &[2.0])];
        assert_eq!(Ceilings::at(&s, 2).unwrap().median, 2.0);
        assert_eq!(Ceilings::at(&s, 8).unwrap().median, 2.0);
        assert!(Ceilings::at(&s, 0).is_none());
    }
}
