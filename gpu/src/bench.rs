//! Benchmark building blocks shared by `hercules kernels|roofline --device cuda` and the `gpu_bench`
//! example: the device's ceilings in one call, one table-batched embedding-bag shape, one MLP layer at
//! several batch sizes. Each returns plain serialisable records; printing is the caller's.

use crate::ceiling::{copy_bandwidth, gather_bandwidth, gemm_peak, Ceiling, GemmMath};
use crate::device::{median, time_on, Device};
use crate::error::{drv, GpuError, Result};
use crate::mlp::{Blas, GpuLinear, Strided};
use crate::plan::{TableBags, TableShape};
use crate::power::{PowerSampler, PowerStats};
use crate::GpuTables;
use cudarc::driver::DevicePtr;
use hercules_kernels::embedding::{random_bags, Bags, DType, Indices, Pooling};
use hercules_kernels::mlp::Activation;
use serde::Serialize;
use std::time::Duration;

/// The default MLP layer shapes (K, N) of the GPU benchmarks.
pub const MLP_KN: [(usize, usize); 6] =
    [(256, 256), (512, 512), (1024, 1024), (2048, 1024), (479, 1024), (13, 512)];
/// The default MLP batch sizes (M) of the GPU benchmarks.
pub const MLP_M: [usize; 6] = [1, 16, 64, 256, 1024, 4096];
/// The MLP batch sizes of a quick run.
pub const MLP_M_QUICK: [usize; 2] = [16, 256];

/// Sizes of the ceiling measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CeilingOpts {
    /// Bytes of each copy buffer (source and destination).
    pub copy_bytes: usize,
    /// Bytes of the random-gather table.
    pub gather_table_bytes: usize,
    /// Bytes per gathered row (a multiple of 16, at most 512).
    pub gather_row_bytes: usize,
    /// Rows read per gather repeat.
    pub gather_reads: usize,
    /// n of the n × n × n GEMMs.
    pub gemm_n: usize,
    /// Timed repeats per ceiling (median reported).
    pub repeats: usize,
}

impl CeilingOpts {
    /// The standard sizes: 2 GiB copies, a `gather_table_bytes` table of rows of `dim` fp32 values
    /// (16–512 bytes), 16 Mi rows read, 8192³ GEMMs; `quick` shrinks them to 0.25 GiB, 1 Mi rows and
    /// 2048³ (a smoke test, not a ceiling).
    pub fn standard(quick: bool, gather_table_bytes: usize, dim: usize, repeats: usize) -> Self {
        Self {
            copy_bytes: if quick { 256 << 20 } else { 2 << 30 },
            gather_table_bytes,
            gather_row_bytes: gather_row_bytes(dim),
            gather_reads: if quick { 1 << 20 } else { 16 << 20 },
            gemm_n: if quick { 2048 } else { 8192 },
            repeats,
        }
    }
}

/// Bytes of a gather-ceiling row matching fp32 rows of `dim`: 4·dim rounded up to 16, within 16–512.
pub fn gather_row_bytes(dim: usize) -> usize {
    (dim * 4).clamp(16, 512).next_multiple_of(16)
}

/// The device's measured ceilings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GpuCeilings {
    /// Device-to-device copy, GB/s of bytes read + written.
    pub copy: Ceiling,
    /// Random row gather from a large table, GB/s of row bytes.
    pub gather: Ceiling,
    /// cuBLAS GEMM peaks that ran (FP32, TF32, BF16 in that order).
    pub gemm: Vec<Ceiling>,
    /// GEMM peaks that could not run, each "math: error" on one line.
    pub gemm_errors: Vec<String>,
}

impl GpuCeilings {
    /// The GEMM peak named `name` ("gemm_fp32", "gemm_tf32", "gemm_bf16"), if it ran.
    pub fn gemm(&self, name: &str) -> Option<&Ceiling> {
        self.gemm.iter().find(|c| c.name == name)
    }

    /// Every ceiling that ran, in order: copy, gather, GEMMs.
    pub fn all(&self) -> Vec<&Ceiling> {
        [&self.copy, &self.gather].into_iter().chain(&self.gemm).collect()
    }
}

/// Measures copy and gather bandwidth and the FP32/TF32/BF16 GEMM peaks. A GEMM that fails (e.g. BF16
/// on a device without it) is listed in `gemm_errors` rather than failing the whole measurement.
pub fn ceilings(dev: &Device, o: &CeilingOpts) -> Result<GpuCeilings> {
    let copy = copy_bandwidth(dev, o.copy_bytes, o.repeats)?;
    let gather = gather_bandwidth(dev, o.gather_table_bytes, o.gather_row_bytes, o.gather_reads, o.repeats)?;
    let mut gemm = Vec::new();
    let mut gemm_errors = Vec::new();
    for m in [GemmMath::Fp32, GemmMath::Tf32, GemmMath::Bf16] {
        match gemm_peak(dev, m, o.gemm_n, o.repeats) {
            Ok(c) => gemm.push(c),
            Err(e) => gemm_errors.push(format!("{m:?}: {e}")),
        }
    }
    Ok(GpuCeilings { copy, gather, gemm, gemm_errors })
}

/// One table-batched embedding-bag shape: `tables` tables of `rows_per_table` rows, one launch for all.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EmbeddingShape {
    /// Tables pooled by the one launch.
    pub tables: usize,
    /// Rows of each table.
    pub rows_per_table: u64,
    /// Row width (elements).
    pub dim: usize,
    /// Lookups per bag.
    pub lookups: usize,
    /// Bags per table (the batch).
    pub batch: usize,
    /// Row storage.
    #[serde(serialize_with = "display")]
    pub dtype: DType,
    /// Pooling.
    #[serde(serialize_with = "display")]
    pub pooling: Pooling,
}

fn display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// What one embedding-bag shape measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbeddingResult {
    /// The shape (its fields at the top level of the JSON).
    #[serde(flatten)]
    pub shape: EmbeddingShape,
    /// Bytes of all tables on the device (row stride included).
    pub table_bytes: usize,
    /// Data bytes of one row (what a lookup must read).
    pub row_bytes: usize,
    /// Median seconds per launch.
    pub seconds_median: f64,
    /// Seconds of each timed launch.
    pub seconds: Vec<f64>,
    /// Lookups per launch (tables × batch × lookups).
    pub lookups_per_call: u64,
    /// GB/s of row data bytes at the median.
    pub gb_per_s_rows: f64,
    /// Million rows gathered per second at the median.
    pub mrows_per_s: f64,
    /// Board power during the timed launches, when asked for and NVML answered.
    pub power: Option<PowerStats>,
}

impl EmbeddingResult {
    /// `gb_per_s_rows` as a fraction of a bandwidth ceiling (NaN when the ceiling is not positive).
    pub fn fraction_of(&self, ceiling: &Ceiling) -> f64 {
        if ceiling.median > 0.0 {
            self.gb_per_s_rows / ceiling.median
        } else {
            f64::NAN
        }
    }
}

/// Seconds of steady work the board power is sampled over (its reading averages over about 1 s).
pub const POWER_SECONDS: f64 = 2.5;

/// Times one table-batched embedding bag on random tables (filled on the device) and uniform random
/// indices: one warm-up pair of launches, then `repeats` timed ones; with `power`, then
/// [`POWER_SECONDS`] of launches while NVML is sampled.
pub fn embedding_bag(
    dev: &Device,
    s: &EmbeddingShape,
    repeats: usize,
    power: bool,
) -> Result<EmbeddingResult> {
    if s.tables == 0 || s.rows_per_table == 0 || s.dim == 0 || s.lookups == 0 || s.batch == 0 || repeats == 0
    {
        return Err(GpuError::Invalid(format!(
            "embedding shape {s:?}, {repeats} repeats: all must be positive"
        )));
    }
    let shapes: Vec<(TableShape, Pooling)> = (0..s.tables)
        .map(|_| (TableShape { rows: s.rows_per_table, dim: s.dim, dtype: s.dtype }, s.pooling))
        .collect();
    let tables = GpuTables::random(dev, &shapes, 1)?;
    let rows = usize::try_from(s.rows_per_table).map_err(|_| GpuError::Invalid("rows per table".into()))?;
    let inputs: Vec<(Vec<u32>, Vec<usize>)> =
        (0..s.tables).map(|t| random_bags(rows, s.batch, s.lookups.min(rows), 100 + t as u64)).collect();
    let bags: Vec<TableBags<'_>> = inputs
        .iter()
        .map(|(i, o)| TableBags { indices: Indices::U32(i), bags: Bags::Offsets(o), weights: None })
        .collect();
    let dbags = tables.upload(&bags)?;
    let mut out =
        dev.stream().alloc_zeros::<f32>(s.batch * tables.out_width()).map_err(drv("alloc output"))?;
    tables.time_launches(&dbags, &mut out, 2)?;
    let times = tables.time_launches(&dbags, &mut out, repeats)?;
    let t = median(&times);
    // The board averages its power reading over about a second: sample over POWER_SECONDS of
    // back-to-back launches, not over the few milliseconds the timed repeats take.
    let power = if power {
        let launches = (POWER_SECONDS / t.max(1e-6)).ceil().clamp(1.0, 1e7) as usize;
        match PowerSampler::start(Some(&dev.info().uuid), Duration::from_millis(20)) {
            Ok(sampler) => {
                tables.time_launches(&dbags, &mut out, launches)?;
                sampler.stop().ok()
            }
            Err(_) => None,
        }
    } else {
        None
    };
    let lookups: u64 = inputs.iter().map(|(i, _)| i.len() as u64).sum();
    let row_bytes = s.dtype.packed_row_bytes(s.dim);
    let gbs = lookups as f64 * row_bytes as f64 / t / 1e9;
    Ok(EmbeddingResult {
        shape: *s,
        table_bytes: tables.bytes(),
        row_bytes,
        seconds_median: t,
        seconds: times,
        lookups_per_call: lookups,
        gb_per_s_rows: gbs,
        mrows_per_s: lookups as f64 / t / 1e6,
        power,
    })
}

/// What one MLP layer shape measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MlpResult {
    /// Batch rows.
    pub m: usize,
    /// Input width.
    pub k: usize,
    /// Output width.
    pub n: usize,
    /// The fused activation.
    #[serde(serialize_with = "display")]
    pub activation: Activation,
    /// Median seconds per layer call (SGEMM + fused bias/activation).
    pub seconds_median: f64,
    /// Fastest call.
    pub seconds_min: f64,
    /// Slowest call.
    pub seconds_max: f64,
    /// Timed calls (after one warm-up).
    pub repeats: usize,
    /// GFLOP/s at the median.
    pub gflops: f64,
}

/// Times a K → N layer (cuBLAS SGEMM with FP32 math, then the fused bias + activation kernel) at each
/// batch size of `ms`: one warm-up call, then `repeats` timed ones each.
pub fn mlp_layer(
    dev: &Device,
    k: usize,
    n: usize,
    ms: &[usize],
    act: Activation,
    repeats: usize,
) -> Result<Vec<MlpResult>> {
    if repeats == 0 || ms.contains(&0) {
        return Err(GpuError::Invalid(format!(
            "MLP batch sizes {ms:?}, {repeats} repeats: all must be positive"
        )));
    }
    let w: Vec<f32> = (0..k * n).map(|i| ((i % 17) as f32 - 8.0) * 1e-3).collect();
    let b: Vec<f32> = (0..n).map(|i| ((i % 5) as f32 - 2.0) * 1e-2).collect();
    let layer = GpuLinear::new(dev, &w, Some(&b), k, n, act)?;
    let s = dev.stream().clone();
    let blas = Blas::new(s.clone())?;
    let mut out = Vec::with_capacity(ms.len());
    for &m in ms {
        let x = s.alloc_zeros::<f32>(m * k).map_err(drv("alloc MLP input"))?;
        let y = s.alloc_zeros::<f32>(m * n).map_err(drv("alloc MLP output"))?;
        let (xp, _gx) = x.device_ptr(&s);
        let (yp, _gy) = y.device_ptr(&s);
        let mut times = Vec::with_capacity(repeats);
        for i in 0..=repeats {
            // SAFETY: x holds m × k and y m × n floats, alive past the synchronising timer.
            let t = time_on(&s, || unsafe {
                layer.forward_raw(&blas, Strided { ptr: xp, ld: k }, m, Strided { ptr: yp, ld: n })
            })?;
            if i > 0 {
                times.push(t);
            }
        }
        let t = median(&times);
        out.push(MlpResult {
            m,
            k,
            n,
            activation: act,
            seconds_median: t,
            seconds_min: times.iter().copied().fold(f64::INFINITY, f64::min),
            seconds_max: times.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            repeats,
            gflops: layer.flops(m) / t / 1e9,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::tests::device_or_skip;

    #[test]
    fn gather_rows_follow_the_dim() {
        assert_eq!(gather_row_bytes(1), 16);
        assert_eq!(gather_row_bytes(32), 128);
        assert_eq!(gather_row_bytes(13), 64);
        assert_eq!(gather_row_bytes(1000), 512);
        let q = CeilingOpts::standard(true, 1 << 28, 128, 3);
        assert!(q.copy_bytes < CeilingOpts::standard(false, 1 << 28, 128, 3).copy_bytes);
    }

    #[test]
    fn shapes_serialise_dtypes_as_text() {
        let s = EmbeddingShape {
            tables: 2,
            rows_per_table: 10,
            dim: 4,
            lookups: 3,
            batch: 5,
            dtype: DType::F16,
            pooling: Pooling::Mean,
        };
        let v = serde_json::to_value(s).unwrap();
        assert_eq!(v["dtype"], DType::F16.to_string());
        assert_eq!(v["pooling"], Pooling::Mean.to_string());
    }

    #[test]
    fn benchmarks_run_on_a_small_scale() {
        let Some(dev) = device_or_skip() else { return };
        let c = ceilings(
            &dev,
            &CeilingOpts {
                copy_bytes: 16 << 20,
                gather_table_bytes: 64 << 20,
                gather_row_bytes: 512,
                gather_reads: 1 << 16,
                gemm_n: 512,
                repeats: 2,
            },
        )
        .unwrap();
        assert!(c.copy.median > 0.0 && c.gemm("gemm_fp32").is_some(), "{c:?}");
        let s = EmbeddingShape {
            tables: 2,
            rows_per_table: 1000,
            dim: 32,
            lookups: 8,
            batch: 64,
            dtype: DType::F32,
            pooling: Pooling::Sum,
        };
        let e = embedding_bag(&dev, &s, 3, false).unwrap();
        assert_eq!(e.lookups_per_call, 2 * 64 * 8);
        assert!(e.gb_per_s_rows > 0.0 && e.fraction_of(&c.copy) > 0.0);
        let m = mlp_layer(&dev, 13, 64, &[1, 32], Activation::Relu, 2).unwrap();
        assert_eq!(m.len(), 2);
        assert!(m.iter().all(|r| r.gflops > 0.0));
    }
}
