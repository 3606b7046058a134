//! The SIMD kernel, written once for every vector width ([`Simd`]): up to [`BLOCK`] accumulators
//! held in registers per pass over a bag, the last partial vector of a row read and written under a
//! mask, so any dim works without reading past the row. What differs per ISA (how the stored row
//! types load, and the target features) is its [`EmbedSimd`] impl in `avx2.rs` / `avx512.rs`.

#![cfg(target_arch = "x86_64")]

use super::input::IndexInt;
use super::job::Job;
use super::{DT_F16, DT_F32};
use crate::simd::Simd;
use std::ops::Range;

/// Accumulators per pass: 8 of the 16 ymm (AVX2) or 32 zmm (AVX-512) registers, leaving room for
/// loads and conversions.
const BLOCK: usize = 8;

/// An ISA's part of the embedding kernel: loads of each stored row type widened to f32, and [`pass`]
/// compiled with its target features.
pub(super) trait EmbedSimd: Simd {
    /// The `LANES` fp16 values at `p`.
    ///
    /// # Safety
    /// Called from [`EmbedSimd::pass`] (the CPU has its features); `p .. p + LANES` is readable.
    unsafe fn load_f16(self, p: *const u16) -> Self::V;
    /// The `LANES` int8 codes at `p`, as f32.
    ///
    /// # Safety
    /// As for [`load_f16`](Self::load_f16).
    unsafe fn load_u8(self, p: *const u8) -> Self::V;
    /// The last vector of a pass: `tail` (1..=LANES) f32 values at `p`, zero above; `mask` is
    /// `mask_below(tail)`.
    ///
    /// # Safety
    /// Called from [`EmbedSimd::pass`]; `p .. p + tail` is readable (nothing past it is read).
    unsafe fn load_f32_last(self, p: *const f32, tail: usize, mask: Self::Mask) -> Self::V;
    /// [`load_f32_last`](Self::load_f32_last) for fp16 values.
    ///
    /// # Safety
    /// As for `load_f32_last`.
    unsafe fn load_f16_last(self, p: *const u16, tail: usize, mask: Self::Mask) -> Self::V;
    /// [`load_f32_last`](Self::load_f32_last) for int8 codes.
    ///
    /// # Safety
    /// As for `load_f32_last`.
    unsafe fn load_u8_last(self, p: *const u8, tail: usize, mask: Self::Mask) -> Self::V;
    /// [`pass`] for this ISA, in a function compiled with its target features.
    ///
    /// # Safety
    /// The CPU has this ISA (`Isa::is_available`); the rest as for [`pass`].
    unsafe fn pass<const N: usize, const DT: u8, const W: bool, const H: u8, I: IndexInt>(
        job: &Job<'_, I>,
        bags: Range<usize>,
        col: usize,
        out: *mut f32,
        pf_end: usize,
    ) -> Result<(), usize>;
}

/// Pools bags `bags` of `job` into `out` (`bags.len() × dim`) with ISA `S`; the position of the
/// first out-of-range index is the error (then `out` is partly written).
///
/// # Safety
/// The CPU must have `S`'s ISA (`Isa::is_available`), `job` must satisfy [`Job`]'s invariants,
/// `bags.end < job.offsets.len()`, and `out.len() == bags.len() * dim`.
pub(super) unsafe fn run<S: EmbedSimd, I: IndexInt>(
    job: &Job<'_, I>,
    bags: Range<usize>,
    out: &mut [f32],
) -> Result<(), usize> {
    let dt = job.dtype.code();
    let nvec = job.dim.div_ceil(S::LANES);
    let pf_end = job.prefetch_end(&bags);
    if nvec <= BLOCK {
        // One pass covers the row: a single call over all bags.
        // SAFETY: forwarded from this function's contract; col 0 with nvec vectors covers dim.
        return unsafe { dispatch::<S, I>(dt, nvec, job, bags, 0, out.as_mut_ptr(), pf_end) };
    }
    // Wide rows: per bag, passes of BLOCK vectors; the rows stay in cache between passes.
    for (k, b) in bags.enumerate() {
        let mut col = 0;
        while col < job.dim {
            let n = (job.dim - col).div_ceil(S::LANES).min(BLOCK);
            // SAFETY: bag b is in range, out row k has dim values, and col + n vectors end at or
            // past dim with the last one masked to dim.
            unsafe {
                dispatch::<S, I>(dt, n, job, b..b + 1, col, out.as_mut_ptr().add(k * job.dim), pf_end)?
            };
            col += n * S::LANES;
        }
    }
    Ok(())
}

/// Calls `S::pass::<N, DT, W, H>` for a run-time vector count `n` in 1..=BLOCK, dtype code `dt`, the
/// job's weights and prefetch hint (one monomorphised pass per combination, so the hot loop carries
/// no branch on any of them).
///
/// # Safety
/// As for [`EmbedSimd::pass`].
unsafe fn dispatch<S: EmbedSimd, I: IndexInt>(
    dt: u8,
    n: usize,
    job: &Job<'_, I>,
    bags: Range<usize>,
    col: usize,
    out: *mut f32,
    pf_end: usize,
) -> Result<(), usize> {
    use super::prefetch::{hint_code, H_NTA, H_T0, H_T1};
    use super::DT_I8;
    macro_rules! by_n {
        ($d:expr, $w:expr, $h:expr) => {
            match n {
                1 => S::pass::<1, { $d }, $w, { $h }, I>(job, bags, col, out, pf_end),
                2 => S::pass::<2, { $d }, $w, { $h }, I>(job, bags, col, out, pf_end),
                3 => S::pass::<3, { $d }, $w, { $h }, I>(job, bags, col, out, pf_end),
                4 => S::pass::<4, { $d }, $w, { $h }, I>(job, bags, col, out, pf_end),
                5 => S::pass::<5, { $d }, $w, { $h }, I>(job, bags, col, out, pf_end),
                6 => S::pass::<6, { $d }, $w, { $h }, I>(job, bags, col, out, pf_end),
                7 => S::pass::<7, { $d }, $w, { $h }, I>(job, bags, col, out, pf_end),
                _ => S::pass::<8, { $d }, $w, { $h }, I>(job, bags, col, out, pf_end),
            }
        };
    }
    macro_rules! by_h {
        ($d:expr, $w:expr) => {
            match hint_code(job.hint) {
                H_T0 => by_n!($d, $w, H_T0),
                H_T1 => by_n!($d, $w, H_T1),
                _ => by_n!($d, $w, H_NTA),
            }
        };
    }
    // SAFETY: forwarded from this function's contract.
    unsafe {
        match (dt, job.weights.is_some()) {
            (DT_F32, false) => by_h!(DT_F32, false),
            (DT_F32, true) => by_h!(DT_F32, true),
            (DT_F16, false) => by_h!(DT_F16, false),
            (DT_F16, true) => by_h!(DT_F16, true),
            (_, false) => by_h!(DT_I8, false),
            (_, true) => by_h!(DT_I8, true),
        }
    }
}

/// One pass: values `col .. col + N·LANES` (the last vector cut at `dim`) of every bag in `bags`,
/// written to `out + k·dim` for the k-th bag. Prefetches its own slice of the rows ahead with
/// hint `H` (see [`SlicePlan`](super::job::SlicePlan)).
/// `W`: the job has per-index weights (unweighted sums add rows without a multiply, as FBGEMM's
/// loop does, and take no per-lookup branch on the weights).
///
/// `#[inline(always)]`: each ISA's [`EmbedSimd::pass`] is this body compiled with its features.
///
/// # Safety
/// Called from `S::pass` (the CPU has its features); `job` valid; `W == job.weights.is_some()`;
/// `bags.end < job.offsets.len()`; `col + (N-1)·LANES < dim`; `out` valid for writes at
/// `k·dim + col .. k·dim + min(col + N·LANES, dim)` for each k < bags.len().
#[inline(always)]
pub(super) unsafe fn pass<
    S: EmbedSimd,
    const N: usize,
    const DT: u8,
    const W: bool,
    const H: u8,
    I: IndexInt,
>(
    s: S,
    job: &Job<'_, I>,
    bags: Range<usize>,
    col: usize,
    out: *mut f32,
    pf_end: usize,
) -> Result<(), usize> {
    let lanes = S::LANES;
    let dim = job.dim;
    let tail = (dim - col - (N - 1) * lanes).min(lanes);
    // The lanes < tail of the last vector.
    let mask = s.mask_below(tail);
    let base = job.data.as_ptr();
    let rows = job.rows as u64;
    let (plan, lines) = job.pass_prefetch::<DT>(col, N * lanes);
    for (k, b) in bags.enumerate() {
        // SAFETY: b + 1 ≤ bags.end < offsets.len().
        let (start, end) = unsafe { (*job.offsets.get_unchecked(b), *job.offsets.get_unchecked(b + 1)) };
        let mut acc = [s.zero(); N];
        let mut bias = 0f32;
        for i in start..end {
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
                    let wv = s.splat(w);
                    // SAFETY: values col .. col + N·LANES of the row, the last vector cut at dim.
                    let p = unsafe { (row as *const f32).add(col) };
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: full vectors lie inside the row; the last reads only its `tail`
                        // values; the CPU has S's features (this function's contract).
                        let x = unsafe {
                            if v + 1 < N {
                                s.load(p.add(v * lanes))
                            } else {
                                s.load_f32_last(p.add(v * lanes), tail, mask)
                            }
                        };
                        *a = if W { s.fmadd(x, wv, *a) } else { s.add(*a, x) };
                    }
                }
                DT_F16 => {
                    let wv = s.splat(w);
                    // SAFETY: as for f32, 2 bytes per value.
                    let p = unsafe { (row as *const u16).add(col) };
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: as for f32.
                        let x = unsafe {
                            if v + 1 < N {
                                s.load_f16(p.add(v * lanes))
                            } else {
                                s.load_f16_last(p.add(v * lanes), tail, mask)
                            }
                        };
                        *a = if W { s.fmadd(x, wv, *a) } else { s.add(*a, x) };
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
                    let sw = s.splat(scale * w);
                    bias += b * w;
                    // SAFETY: codes col .. col + N·LANES of the row.
                    let p = unsafe { row.add(col) };
                    for (v, a) in acc.iter_mut().enumerate() {
                        // SAFETY: full vectors lie inside the codes; the last reads only its `tail`
                        // codes.
                        let x = unsafe {
                            if v + 1 < N {
                                s.load_u8(p.add(v * lanes))
                            } else {
                                s.load_u8_last(p.add(v * lanes), tail, mask)
                            }
                        };
                        *a = s.fmadd(x, sw, *a);
                    }
                }
            }
        }
        let scale = s.splat(job.final_scale(end - start));
        let bias = s.splat(bias);
        // SAFETY: the caller guarantees out + k·dim + col .. + N·LANES (cut at dim) is writable.
        let o = unsafe { out.add(k * dim + col) };
        for (v, a) in acc.iter().enumerate() {
            let y = s.mul(s.add(*a, bias), scale);
            // SAFETY: full vectors end at or before dim; the last writes only lanes < tail.
            unsafe {
                if v + 1 < N {
                    s.store(o.add(v * lanes), y)
                } else {
                    s.store_masked(o.add(v * lanes), mask, y)
                }
            }
        }
    }
    Ok(())
}
