//! AVX-512 kernel: 16 f32 lanes, up to 8 accumulators (128 values) held in registers per pass over
//! a bag, masked loads and stores for the last partial vector of a row (any dim).

#![cfg(target_arch = "x86_64")]

use super::input::IndexInt;
use super::job::Job;
use super::{DT_F16, DT_F32};
use std::arch::x86_64::*;
use std::ops::Range;

const LANES: usize = 16;
/// Accumulators per pass: 8 of the 32 zmm registers, leaving room for loads and conversions.
const BLOCK: usize = 8;

/// Pools bags `bags` of `job` into `out` (`bags.len() × dim`); the position of the first
/// out-of-range index is the error (then `out` is partly written).
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL and F16C/FMA (`Isa::Avx512.is_available()`), `job` must
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

/// One pass: values `col .. col + N·16` (the last vector masked to `dim`) of every bag in `bags`,
/// written to `out + k·dim` for the k-th bag. Prefetches its own slice of the rows ahead with
/// hint `H` (see [`SlicePlan`](super::job::SlicePlan)).
/// `W`: the job has per-index weights (unweighted sums add without a multiply).
///
/// # Safety
/// AVX-512 F/BW/VL, F16C and FMA available; `job` valid; `W == job.weights.is_some()`; `bags.end < job.offsets.len()`;
/// `col + (N-1)·16 < dim`; `out` valid for writes at `k·dim + col .. k·dim + min(col + N·16, dim)`
/// for each k < bags.len().
#[target_feature(enable = "avx512f,avx512bw,avx512vl,f16c,fma")]
unsafe fn pass<const N: usize, const DT: u8, const W: bool, const H: u8, I: IndexInt>(
    job: &Job<'_, I>,
    bags: Range<usize>,
    col: usize,
    out: *mut f32,
    pf_end: usize,
) -> Result<(), usize> {
    let dim = job.dim;
    let tail = (dim - col - (N - 1) * LANES).min(LANES);
    let mask: __mmask16 = if tail == LANES { 0xFFFF } else { (1u16 << tail) - 1 };
    let base = job.data.as_ptr();
    let rows = job.rows as u64;
    let (plan, lines) = job.pass_prefetch::<DT>(col, N * LANES);
    for (k, b) in bags.enumerate() {
        // SAFETY: b + 1 ≤ bags.end < offsets.len().
        let (s, e) = unsafe { (*job.offsets.get_unchecked(b), *job.offsets.get_unchecked(b + 1)) };
        let mut acc = [_mm512_setzero_ps(); N];
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
                    let wv = _mm512_set1_ps(w);
                    // SAFETY: values col .. col + N·16 of the row, the last vector masked to dim.
                    let p = unsafe { (row as *const f32).add(col) };
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: full vectors lie inside the row; the masked one reads only lanes < dim.
                        let x = unsafe {
                            if v + 1 < N {
                                _mm512_loadu_ps(p.add(v * LANES))
                            } else {
                                _mm512_maskz_loadu_ps(mask, p.add(v * LANES))
                            }
                        };
                        *a = if W { _mm512_fmadd_ps(x, wv, *a) } else { _mm512_add_ps(*a, x) };
                    }
                }
                DT_F16 => {
                    let wv = _mm512_set1_ps(w);
                    // SAFETY: as for f32, 2 bytes per value.
                    let p = unsafe { (row as *const i16).add(col) };
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: as for f32.
                        let h = unsafe {
                            if v + 1 < N {
                                _mm256_loadu_si256(p.add(v * LANES) as *const __m256i)
                            } else {
                                _mm256_maskz_loadu_epi16(mask, p.add(v * LANES))
                            }
                        };
                        let x = _mm512_cvtph_ps(h);
                        *a = if W { _mm512_fmadd_ps(x, wv, *a) } else { _mm512_add_ps(*a, x) };
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
                    let sw = _mm512_set1_ps(scale * w);
                    bias += b * w;
                    // SAFETY: codes col .. col + N·16 of the row.
                    let p = unsafe { row.add(col) as *const i8 };
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: full vectors lie inside the codes; the masked one reads lanes < dim.
                        let q = unsafe {
                            if v + 1 < N {
                                _mm_loadu_si128(p.add(v * LANES) as *const __m128i)
                            } else {
                                _mm_maskz_loadu_epi8(mask, p.add(v * LANES))
                            }
                        };
                        let x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q));
                        *a = _mm512_fmadd_ps(x, sw, *a);
                    }
                }
            }
        }
        let scale = _mm512_set1_ps(job.final_scale(e - s));
        let bias = _mm512_set1_ps(bias);
        // SAFETY: the caller guarantees out + k·dim + col .. + N·16 (masked to dim) is writable.
        let o = unsafe { out.add(k * dim + col) };
        for (v, a) in acc.iter().enumerate() {
            let y = _mm512_mul_ps(_mm512_add_ps(*a, bias), scale);
            // SAFETY: full vectors end at or before dim; the last is masked to dim.
            unsafe {
                if v + 1 < N {
                    _mm512_storeu_ps(o.add(v * LANES), y)
                } else {
                    _mm512_mask_storeu_ps(o.add(v * LANES), mask, y)
                }
            }
        }
    }
    Ok(())
}
