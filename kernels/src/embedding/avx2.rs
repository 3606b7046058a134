//! AVX2 kernel (with FMA and F16C): 8 f32 lanes, up to 8 accumulators (64 values) held in registers
//! per pass over a bag; the last partial vector of a row goes through a masked load (fp32) or a small
//! zero-padded copy (fp16, int8), so any dim works without reading past the row.

#![cfg(target_arch = "x86_64")]

use super::input::IndexInt;
use super::job::Job;
use super::{DT_F16, DT_F32};
use std::arch::x86_64::*;
use std::ops::Range;

const LANES: usize = 8;
/// Accumulators per pass: 8 of the 16 ymm registers, leaving room for loads and conversions.
const BLOCK: usize = 8;

/// Pools bags `bags` of `job` into `out` (`bags.len() × dim`); the position of the first
/// out-of-range index is the error (then `out` is partly written).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C (`Isa::Avx2.is_available()`), `job` must
/// satisfy [`Job`]'s invariants, `bags.end < job.offsets.len()`, and `out.len() == bags.len() * dim`.
pub(super) unsafe fn run<I: IndexInt>(
    job: &Job<'_, I>,
    bags: Range<usize>,
    out: &mut [f32],
) -> Result<(), usize> {
    let dt = job.dtype.code();
    let nvec = job.dim.div_ceil(LANES);
    let pf_end = job.prefetch_end(&bags);
    if nvec <= BLOCK {
        // One pass covers the row: a single call over all bags.
        // SAFETY: forwarded from this function's contract; col 0 with nvec vectors covers dim.
        return unsafe { dispatch(dt, nvec, job, bags, 0, out.as_mut_ptr(), pf_end) };
    }
    // Wide rows: per bag, passes of BLOCK vectors; the rows stay in cache between passes.
    for (k, b) in bags.enumerate() {
        let mut col = 0;
        while col < job.dim {
            let n = (job.dim - col).div_ceil(LANES).min(BLOCK);
            // SAFETY: bag b is in range, out row k has dim values, and col + n vectors end at or
            // past dim with the last one masked to dim.
            unsafe { dispatch(dt, n, job, b..b + 1, col, out.as_mut_ptr().add(k * job.dim), pf_end)? };
            col += n * LANES;
        }
    }
    Ok(())
}

/// Calls `pass::<N, DT, W, H>` for a run-time vector count `n` in 1..=BLOCK, the job's dtype,
/// weights and prefetch hint.
///
/// # Safety
/// As [`pass`].
unsafe fn dispatch<I: IndexInt>(
    dt: u8,
    n: usize,
    job: &Job<'_, I>,
    bags: Range<usize>,
    col: usize,
    out: *mut f32,
    pf_end: usize,
) -> Result<(), usize> {
    // SAFETY: forwarded from this function's contract.
    unsafe { dispatch_pass!(dt, n, job, bags, col, out, pf_end) }
}

/// One pass: values `col .. col + N·8` (the last vector cut at `dim`) of every bag in `bags`,
/// written to `out + k·dim` for the k-th bag. Prefetches its own slice of the rows ahead with
/// hint `H` (see [`SlicePlan`](super::job::SlicePlan)).
/// `W`: the job has per-index weights (unweighted sums add rows without a multiply, as FBGEMM's
/// loop does, and take no per-lookup branch on the weights).
///
/// # Safety
/// AVX2, F16C and FMA available; `job` valid; `W == job.weights.is_some()`; `bags.end < job.offsets.len()`;
/// `col + (N-1)·8 < dim`; `out` valid for writes at `k·dim + col .. k·dim + min(col + N·8, dim)`
/// for each k < bags.len().
#[target_feature(enable = "avx2,f16c,fma")]
unsafe fn pass<const N: usize, const DT: u8, const W: bool, const H: u8, I: IndexInt>(
    job: &Job<'_, I>,
    bags: Range<usize>,
    col: usize,
    out: *mut f32,
    pf_end: usize,
) -> Result<(), usize> {
    let dim = job.dim;
    let tail = (dim - col - (N - 1) * LANES).min(LANES);
    // Lanes < tail of the last vector: all ones, the rest zero (maskload/maskstore take the sign bit).
    let mask = crate::simd::lanes_below(tail as i32);
    let base = job.data.as_ptr();
    let rows = job.rows as u64;
    let (plan, lines) = job.pass_prefetch::<DT>(col, N * LANES);
    for (k, b) in bags.enumerate() {
        // SAFETY: b + 1 ≤ bags.end < offsets.len().
        let (s, e) = unsafe { (*job.offsets.get_unchecked(b), *job.offsets.get_unchecked(b + 1)) };
        let mut acc = [_mm256_setzero_ps(); N];
        let mut bias = 0f32;
        for i in s..e {
            // SAFETY: offsets are monotone and end at indices.len(), so i < indices.len().
            let idx = unsafe { job.indices.get_unchecked(i) }.to_u64();
            if idx >= rows {
                return Err(i);
            }
            plan.issue::<H, DT, I>(job, i, pf_end, lines);
            let w = match job.weights {
                // SAFETY: weights has one entry per index (Job invariant).
                Some(ws) if W => unsafe { *ws.get_unchecked(i) },
                _ => 1.0,
            };
            // SAFETY: idx < rows, so the row lies inside data.
            let row = unsafe { base.add(idx as usize * job.stride) };
            match DT {
                DT_F32 => {
                    let wv = _mm256_set1_ps(w);
                    // SAFETY: values col .. col + N·8 of the row, the last vector cut at dim.
                    let p = unsafe { (row as *const f32).add(col) };
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: full vectors lie inside the row; maskload touches only lanes < tail
                        // (masked-off lanes do not fault). A full last vector takes a plain load:
                        // vmaskmovps is the slower of the two on some cores (Zen).
                        let x = unsafe {
                            if v + 1 < N || tail == LANES {
                                _mm256_loadu_ps(p.add(v * LANES))
                            } else {
                                _mm256_maskload_ps(p.add(v * LANES), mask)
                            }
                        };
                        *a = if W { _mm256_fmadd_ps(x, wv, *a) } else { _mm256_add_ps(*a, x) };
                    }
                }
                DT_F16 => {
                    let wv = _mm256_set1_ps(w);
                    // SAFETY: as for f32, 2 bytes per value.
                    let p = unsafe { (row as *const u16).add(col) };
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: full vectors lie inside the row; the tail copies only `tail` values.
                        let h = unsafe {
                            if v + 1 < N || tail == LANES {
                                _mm_loadu_si128(p.add(v * LANES) as *const __m128i)
                            } else {
                                let mut buf = [0u16; LANES];
                                std::ptr::copy_nonoverlapping(p.add(v * LANES), buf.as_mut_ptr(), tail);
                                _mm_loadu_si128(buf.as_ptr() as *const __m128i)
                            }
                        };
                        let x = _mm256_cvtph_ps(h);
                        *a = if W { _mm256_fmadd_ps(x, wv, *a) } else { _mm256_add_ps(*a, x) };
                    }
                }
                _ => {
                    // SAFETY: an int8 row holds dim codes, then scale and bias (unaligned f32s).
                    let (scale, b) = unsafe {
                        (
                            (row.add(dim) as *const f32).read_unaligned(),
                            (row.add(dim + 4) as *const f32).read_unaligned(),
                        )
                    };
                    let sw = _mm256_set1_ps(scale * w);
                    bias += b * w;
                    // SAFETY: codes col .. col + N·8 of the row.
                    let p = unsafe { row.add(col) };
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: full vectors (8 bytes) lie inside the codes; the tail copies only
                        // `tail` codes.
                        let q = unsafe {
                            if v + 1 < N || tail == LANES {
                                _mm_loadl_epi64(p.add(v * LANES) as *const __m128i)
                            } else {
                                let mut buf = [0u8; 16];
                                std::ptr::copy_nonoverlapping(p.add(v * LANES), buf.as_mut_ptr(), tail);
                                _mm_loadu_si128(buf.as_ptr() as *const __m128i)
                            }
                        };
                        let x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q));
                        *a = _mm256_fmadd_ps(x, sw, *a);
                    }
                }
            }
        }
        let scale = _mm256_set1_ps(job.final_scale(e - s));
        let bias = _mm256_set1_ps(bias);
        // SAFETY: the caller guarantees out + k·dim + col .. + N·8 (cut at dim) is writable.
        let o = unsafe { out.add(k * dim + col) };
        for (v, a) in acc.iter().enumerate() {
            let y = _mm256_mul_ps(_mm256_add_ps(*a, bias), scale);
            // SAFETY: full vectors end at or before dim; maskstore writes only lanes < tail.
            unsafe {
                if v + 1 < N {
                    _mm256_storeu_ps(o.add(v * LANES), y)
                } else {
                    _mm256_maskstore_ps(o.add(v * LANES), mask, y)
                }
            }
        }
    }
    Ok(())
}
