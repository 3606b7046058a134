//! The device's measured ceilings: device-to-device copy bandwidth, random row-gather bandwidth from a
//! large table, and cuBLAS GEMM peaks (FP32, TF32, BF16). Each is the median of several timed repeats.

use crate::device::{median, time_on, Device, Source, BLOCK_THREADS};
use crate::error::{blas, drv, GpuError, Result};
use crate::mlp::Blas;
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{Gemm, GemmConfig};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use serde::Serialize;

/// One measured ceiling.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ceiling {
    /// What was measured, e.g. "copy_d2d".
    pub name: String,
    /// Unit of the values ("GB/s" = 1e9 bytes/s, "TFLOP/s").
    pub unit: String,
    /// Median over the repeats.
    pub median: f64,
    /// Lowest repeat.
    pub min: f64,
    /// Highest repeat.
    pub max: f64,
    /// Timed repeats (after one warm-up).
    pub repeats: usize,
    /// The shape of the measurement, in words.
    pub detail: String,
}

fn ceiling(name: &str, unit: &str, values: &[f64], detail: String) -> Ceiling {
    Ceiling {
        name: name.into(),
        unit: unit.into(),
        median: median(values),
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        repeats: values.len(),
        detail,
    }
}

/// Device-to-device copy of `bytes` with cuMemcpyAsync; GB/s counts bytes read plus bytes written (the
/// STREAM convention), i.e. 2 × bytes per copy.
pub fn copy_bandwidth(dev: &Device, bytes: usize, repeats: usize) -> Result<Ceiling> {
    dev.check_free("copy buffers", 2 * bytes)?;
    let s = dev.stream().clone();
    let src = s.alloc_zeros::<u8>(bytes).map_err(drv("alloc copy source"))?;
    let mut dst = s.alloc_zeros::<u8>(bytes).map_err(drv("alloc copy destination"))?;
    let mut gbs = Vec::with_capacity(repeats);
    for r in 0..=repeats {
        let t = time_on(&s, || s.memcpy_dtod(&src, &mut dst).map_err(drv("cuMemcpyDtoD")))?;
        if r > 0 {
            gbs.push(2.0 * bytes as f64 / t / 1e9);
        }
    }
    Ok(ceiling("copy_d2d", "GB/s", &gbs, format!("{} MiB, read + write bytes", bytes >> 20)))
}

/// Geometry of the gather ceiling: (lanes per row, threads, blocks) for `groups` row groups of
/// `row_chunks` 16-byte chunks.
pub fn gather_geometry(row_chunks: usize, groups: usize) -> (u32, u64, u32) {
    let lanes = row_chunks.max(1).next_power_of_two().min(32) as u32;
    let threads = groups as u64 * u64::from(lanes);
    (lanes, threads, threads.div_ceil(u64::from(BLOCK_THREADS)) as u32)
}

/// Reads `reads` rows of `row_bytes` (a multiple of 16, at most 512) chosen at random from a table
/// of `table_bytes`; GB/s of row bytes read.
pub fn gather_bandwidth(
    dev: &Device,
    table_bytes: usize,
    row_bytes: usize,
    reads: usize,
    repeats: usize,
) -> Result<Ceiling> {
    if row_bytes == 0 || !row_bytes.is_multiple_of(16) || row_bytes > 512 {
        return Err(GpuError::Invalid(format!(
            "gather row of {row_bytes} bytes: need a multiple of 16, ≤ 512"
        )));
    }
    dev.check_free("gather table", table_bytes)?;
    let s = dev.stream().clone();
    let rows = (table_bytes / row_bytes) as u64;
    let table = s.alloc_zeros::<u8>(rows as usize * row_bytes).map_err(drv("alloc gather table"))?;
    let chunks = (row_bytes / 16) as u32;
    const PER_GROUP: u32 = 64;
    let groups = reads.div_ceil(PER_GROUP as usize);
    let (lanes, _threads, blocks) = gather_geometry(chunks as usize, groups);
    // The kernel has no tail check: every thread of the grid reads rows and writes its sink slot.
    let grid_threads = blocks as usize * 256;
    let sink = s.alloc_zeros::<f32>(grid_threads).map_err(drv("alloc sink"))?;
    let groups = grid_threads / lanes as usize;
    let f = dev.function(Source::Ops, "gather_ceiling")?;
    let cfg =
        LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (BLOCK_THREADS, 1, 1), shared_mem_bytes: 0 };
    let mut gbs = Vec::with_capacity(repeats);
    let bytes = groups as f64 * f64::from(PER_GROUP) * row_bytes as f64;
    for r in 0..=repeats {
        let seed = r as u64 * 0x9E37_79B9_7F4A_7C15;
        let t = time_on(&s, || {
            let mut b = s.launch_builder(&f);
            b.arg(&table).arg(&rows).arg(&chunks).arg(&lanes).arg(&PER_GROUP).arg(&seed).arg(&sink);
            // SAFETY: rows × chunks float4s are inside `table`; sink holds one float per thread of the grid.
            unsafe { b.launch(cfg) }.map(|_| ()).map_err(drv("gather_ceiling launch"))
        })?;
        if r > 0 {
            gbs.push(bytes / t / 1e9);
        }
    }
    Ok(ceiling(
        "gather_random_rows",
        "GB/s",
        &gbs,
        format!(
            "{row_bytes} B rows from a {:.2} GiB table, {} rows read",
            table_bytes as f64 / (1u64 << 30) as f64,
            groups * PER_GROUP as usize
        ),
    ))
}

/// The math of a GEMM peak measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum GemmMath {
    /// FP32 inputs, FP32 math.
    Fp32,
    /// FP32 inputs, TF32 tensor cores.
    Tf32,
    /// BF16 inputs and output, FP32 accumulation.
    Bf16,
}

/// TFLOP/s of an n × n × n cuBLAS GEMM in `math`.
pub fn gemm_peak(dev: &Device, math: GemmMath, n: usize, repeats: usize) -> Result<Ceiling> {
    let s = dev.stream().clone();
    let mut bh = Blas::new(s.clone())?;
    let ni = i32::try_from(n).map_err(|_| GpuError::Invalid(format!("GEMM size {n}")))?;
    let flops = 2.0 * (n as f64).powi(3);
    let fill = dev.function(Source::Ops, "fill_table")?;
    let fill_mat = |m: &CudaSlice<u8>, dt: u32, elem: u32| -> Result<()> {
        let (rows, dim, stride, seed, bound) = (n as u64, n as u32, n as u32 * elem, 1u64, 1.0f32);
        let cfg =
            LaunchConfig { grid_dim: (1024, 1, 1), block_dim: (BLOCK_THREADS, 1, 1), shared_mem_bytes: 0 };
        let mut b = s.launch_builder(&fill);
        b.arg(m).arg(&rows).arg(&dim).arg(&stride).arg(&dt).arg(&seed).arg(&bound);
        // SAFETY: the kernel writes n rows of n elements of `elem` bytes, the size of `m`.
        unsafe { b.launch(cfg) }.map(|_| ()).map_err(drv("fill matrix"))
    };
    let name = match math {
        GemmMath::Fp32 => "gemm_fp32",
        GemmMath::Tf32 => "gemm_tf32",
        GemmMath::Bf16 => "gemm_bf16",
    };
    let mut tf = Vec::with_capacity(repeats);
    match math {
        GemmMath::Fp32 | GemmMath::Tf32 => {
            bh.set_math(math)?;
            let mut bufs = Vec::new();
            for _ in 0..3 {
                let m = s.alloc_zeros::<u8>(n * n * 4).map_err(drv("alloc matrix"))?;
                fill_mat(&m, 0, 4)?;
                bufs.push(m);
            }
            // SAFETY: reinterpreting n·n·4 bytes as n·n f32 (any bit pattern is a valid f32).
            let (a, b) = unsafe { (bufs[0].transmute::<f32>(n * n), bufs[1].transmute::<f32>(n * n)) };
            let (a, b) = (
                a.ok_or_else(|| GpuError::Invalid("transmute".into()))?,
                b.ok_or_else(|| GpuError::Invalid("transmute".into()))?,
            );
            let mut c = s.alloc_zeros::<f32>(n * n).map_err(drv("alloc matrix"))?;
            let cfg = GemmConfig {
                transa: cublasOperation_t::CUBLAS_OP_N,
                transb: cublasOperation_t::CUBLAS_OP_N,
                m: ni,
                n: ni,
                k: ni,
                alpha: 1.0f32,
                lda: ni,
                ldb: ni,
                beta: 0.0f32,
                ldc: ni,
            };
            for r in 0..=repeats {
                // SAFETY: all three matrices are n × n.
                let t =
                    time_on(&s, || unsafe { bh.inner().gemm(cfg, &a, &b, &mut c) }.map_err(blas("sgemm")))?;
                if r > 0 {
                    tf.push(flops / t / 1e12);
                }
            }
        }
        GemmMath::Bf16 => {
            let mut bufs = Vec::new();
            for _ in 0..2 {
                let m = s.alloc_zeros::<u8>(n * n * 2).map_err(drv("alloc matrix"))?;
                fill_mat(&m, 1, 2)?;
                bufs.push(m);
            }
            // SAFETY: reinterpreting n·n·2 bytes as n·n bf16 (any bit pattern is a valid bf16).
            let (a, b) =
                unsafe { (bufs[0].transmute::<half::bf16>(n * n), bufs[1].transmute::<half::bf16>(n * n)) };
            let (a, b) = (
                a.ok_or_else(|| GpuError::Invalid("transmute".into()))?,
                b.ok_or_else(|| GpuError::Invalid("transmute".into()))?,
            );
            let mut c = s.alloc_zeros::<half::bf16>(n * n).map_err(drv("alloc matrix"))?;
            let cfg = GemmConfig {
                transa: cublasOperation_t::CUBLAS_OP_N,
                transb: cublasOperation_t::CUBLAS_OP_N,
                m: ni,
                n: ni,
                k: ni,
                alpha: half::bf16::ONE,
                lda: ni,
                ldb: ni,
                beta: half::bf16::ZERO,
                ldc: ni,
            };
            for r in 0..=repeats {
                let t = time_on(&s, || {
                    // SAFETY: all three matrices are n × n.
                    unsafe { bh.inner().gemm(cfg, &a, &b, &mut c) }.map_err(blas("bf16 gemm"))
                })?;
                if r > 0 {
                    tf.push(flops / t / 1e12);
                }
            }
        }
    }
    Ok(ceiling(name, "TFLOP/s", &tf, format!("{n}×{n}×{n}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::tests::device_or_skip;

    #[test]
    fn gather_grid() {
        assert_eq!(gather_geometry(32, 10), (32, 320, 2));
        assert_eq!(gather_geometry(8, 100), (8, 800, 4));
        assert_eq!(gather_geometry(3, 1), (4, 4, 1));
    }

    #[test]
    fn ceilings_run_on_a_small_scale() {
        let Some(dev) = device_or_skip() else { return };
        let c = copy_bandwidth(&dev, 64 << 20, 3).unwrap();
        assert!(c.median > 1.0, "{c:?}");
        let g = gather_bandwidth(&dev, 256 << 20, 512, 1 << 20, 3).unwrap();
        assert!(g.median > 1.0, "{g:?}");
        for m in [GemmMath::Fp32, GemmMath::Tf32, GemmMath::Bf16] {
            let p = gemm_peak(&dev, m, 1024, 3).unwrap();
            assert!(p.median > 0.1, "{p:?}");
        }
    }
}
