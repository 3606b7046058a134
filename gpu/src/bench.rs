//! Benchmark building blocks of `hercules kernels|roofline --device cuda`: the device's ceilings in one
//! call, one table-batched embedding-bag shape (timed, or run as steady work for the board power), one
//! MLP layer at several batch sizes. Each returns plain serialisable records; printing is the caller's.

use crate::ceiling::{copy_bandwidth, gather_bandwidth, gemm_peak, Ceiling, GemmMath};
use crate::device::{median, time_on, Device};
use crate::error::{drv, GpuError, Result};
use crate::mlp::{Blas, GpuLinear, Strided};
use crate::plan::{TableBags, TableShape};
use crate::{DeviceBags, GpuTables};
use cudarc::driver::{CudaSlice, DevicePtr};
use hercules_kernels::embedding::{random_bags, Bags, DType, Indices, Pooling};
use hercules_kernels::mlp::Activation;
use serde::Serialize;

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

/// One table-batched embedding-bag shape set up on the device (random tables filled there, uniform
/// random indices uploaded), ready to be timed or to run as steady work while power is sampled.
pub struct EmbeddingBench {
    shape: EmbeddingShape,
    tables: GpuTables,
    bags: DeviceBags,
    out: CudaSlice<f32>,
    lookups: u64,
}

impl EmbeddingBench {
    /// Allocates and fills the tables and uploads one batch of bags.
    pub fn new(dev: &Device, s: &EmbeddingShape) -> Result<Self> {
        if s.tables == 0 || s.rows_per_table == 0 || s.dim == 0 || s.lookups == 0 || s.batch == 0 {
            return Err(GpuError::Invalid(format!("embedding shape {s:?}: every size must be positive")));
        }
        let shapes: Vec<(TableShape, Pooling)> = (0..s.tables)
            .map(|_| (TableShape { rows: s.rows_per_table, dim: s.dim, dtype: s.dtype }, s.pooling))
            .collect();
        let tables = GpuTables::random(dev, &shapes, 1)?;
        let rows =
            usize::try_from(s.rows_per_table).map_err(|_| GpuError::Invalid("rows per table".into()))?;
        let inputs: Vec<(Vec<u32>, Vec<usize>)> =
            (0..s.tables).map(|t| random_bags(rows, s.batch, s.lookups.min(rows), 100 + t as u64)).collect();
        let bags: Vec<TableBags<'_>> = inputs
            .iter()
            .map(|(i, o)| TableBags { indices: Indices::U32(i), bags: Bags::Offsets(o), weights: None })
            .collect();
        let bags = tables.upload(&bags)?;
        let out =
            dev.stream().alloc_zeros::<f32>(s.batch * tables.out_width()).map_err(drv("alloc output"))?;
        let lookups = inputs.iter().map(|(i, _)| i.len() as u64).sum();
        Ok(Self { shape: *s, tables, bags, out, lookups })
    }

    /// One warm-up pair of launches, then `repeats` timed ones.
    pub fn time(&mut self, repeats: usize) -> Result<EmbeddingResult> {
        if repeats == 0 {
            return Err(GpuError::Invalid("embedding bag: repeats must be positive".into()));
        }
        self.tables.time_launches(&self.bags, &mut self.out, 2)?;
        let times = self.tables.time_launches(&self.bags, &mut self.out, repeats)?;
        let t = median(&times);
        let s = &self.shape;
        let row_bytes = s.dtype.packed_row_bytes(s.dim);
        Ok(EmbeddingResult {
            shape: *s,
            table_bytes: self.tables.bytes(),
            row_bytes,
            seconds_median: t,
            seconds: times,
            lookups_per_call: self.lookups,
            gb_per_s_rows: self.lookups as f64 * row_bytes as f64 / t / 1e9,
            mrows_per_s: self.lookups as f64 / t / 1e6,
        })
    }

    /// Back-to-back launches for at least `seconds` (steady work to sample board power over), in
    /// batches of about 50 ms each timed with events; returns the seconds the launches took.
    pub fn run_for(&mut self, seconds: f64) -> Result<f64> {
        let one = median(&self.tables.time_launches(&self.bags, &mut self.out, 3)?).max(1e-6);
        let per_batch = ((0.05 / one).ceil() as usize).clamp(1, 1 << 20);
        let mut spent = 0.0;
        while spent < seconds {
            spent += self.tables.time_launches(&self.bags, &mut self.out, per_batch)?.iter().sum::<f64>();
        }
        Ok(spent)
    }
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
    /// How the layer ran: "cublaslt-epilogue" (one matmul whose epilogue adds the bias and applies
    /// ReLU), or "sgemm+bias_act" (SGEMM, then the bias/activation kernel).
    pub path: String,
    /// Why a call asked to fuse took the SGEMM path (cuBLASLt missing or without an algorithm).
    pub fallback: Option<String>,
    /// Median seconds per layer call.
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

/// Workspace of the benchmark's cuBLAS/cuBLASLt handle, as a model runner's.
const MLP_WORKSPACE_BYTES: usize = 32 << 20;

/// Times a K → N layer with FP32 math at each batch size of `ms`, through the cuBLASLt epilogue
/// (`fused`) or SGEMM + the bias/activation kernel: one warm-up call, then `repeats` timed ones each.
pub fn mlp_layer(
    dev: &Device,
    k: usize,
    n: usize,
    ms: &[usize],
    act: Activation,
    repeats: usize,
    fused: bool,
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
    let mut blas = Blas::new(s.clone())?;
    blas.set_workspace(MLP_WORKSPACE_BYTES)?;
    blas.set_fused_epilogue(fused);
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
        let fallback = blas.fallback_reason().filter(|_| fused);
        let path = if fused && fallback.is_none() { "cublaslt-epilogue" } else { "sgemm+bias_act" };
        out.push(MlpResult {
            m,
            k,
            n,
            activation: act,
            path: path.into(),
            fallback,
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
        let e = EmbeddingBench::new(&dev, &s).unwrap().time(3).unwrap();
        assert_eq!(e.lookups_per_call, 2 * 64 * 8);
        assert!(e.gb_per_s_rows > 0.0 && e.fraction_of(&c.copy) > 0.0);
        for fused in [true, false] {
            let m = mlp_layer(&dev, 13, 64, &[1, 32], Activation::Relu, 2, fused).unwrap();
            assert_eq!(m.len(), 2);
            assert!(m.iter().all(|r| r.gflops > 0.0));
            let want = if fused { "cublaslt-epilogue" } else { "sgemm+bias_act" };
            assert!(m.iter().all(|r| r.path == want), "{m:?}");
        }
    }
}
