//! The SIMD element-wise functions, written once for every vector width ([`Simd`]). What differs per
//! ISA (how exp scales by its power of two and where it clamps, whether short softmax rows stay in
//! registers, and the target features) is its [`ElementwiseSimd`] impl in `avx2.rs` / `avx512.rs`.

use super::{exp_poly, TANH_CLAMP, TANH_LINEAR, TANH_P, TANH_Q};
use crate::simd::Simd;

/// An ISA's part of the element-wise functions, and the bodies below compiled with its features.
pub(crate) trait ElementwiseSimd: Simd {
    /// [`exp`] clamps its argument to ±this.
    const EXP_CLAMP: f32;
    /// The widest rows, in vectors, that [`add_softmax_rows`] holds in registers (one pass over `x`
    /// and one over `o`); wider rows take three passes. 0: every row takes three passes. At most 4.
    const SHORT_ROW_VECS: usize;

    /// `e · 2ⁿ` for `n` integral and at most `EXP_CLAMP · log2(e)` (rounded) in magnitude.
    fn scale_pow2(self, e: Self::V, n: Self::V) -> Self::V;

    /// [`tanh_of_sum`] compiled with this ISA's features.
    ///
    /// # Safety
    /// The CPU has this ISA (`Isa::is_available`); `b` and `out` are at least as long as `a`.
    unsafe fn tanh_of_sum(a: &[f32], b: &[f32], out: &mut [f32]);

    /// [`add_softmax_rows`] compiled with this ISA's features.
    ///
    /// # Safety
    /// The CPU has this ISA; `o` is as long as `x`, and `width` (> 0) divides that length.
    unsafe fn add_softmax_rows(x: &mut [f32], o: &mut [f32], width: usize);

    /// [`add_softmax_row`] compiled with this ISA's features, out of line.
    ///
    /// # Safety
    /// The CPU has this ISA; `o` is at least as long as `x`.
    unsafe fn add_softmax_row(x: &mut [f32], o: &mut [f32]);
}

/// `x` clamped to `[lo, hi]`; NaN stays NaN (max/min return their second operand on NaN).
#[inline(always)]
fn clamp<S: Simd>(s: S, x: S::V, lo: f32, hi: f32) -> S::V {
    s.min(s.splat(hi), s.max(s.splat(lo), x))
}

/// e^x within ~1 ulp: Cody–Waite reduction and [`exp_poly`]'s polynomial, then the power of two
/// (the argument clamped to ±`EXP_CLAMP`).
#[inline(always)]
pub(crate) fn exp<S: ElementwiseSimd>(s: S, x: S::V) -> S::V {
    let t = clamp(s, x, -S::EXP_CLAMP, S::EXP_CLAMP);
    let n = s.round(s.mul(t, s.splat(std::f32::consts::LOG2_E)));
    let r = s.fnmadd(n, s.splat(exp_poly::LN2_HI), t);
    let r = s.fnmadd(n, s.splat(exp_poly::LN2_LO), r);
    let mut p = s.splat(exp_poly::P[0]);
    for c in &exp_poly::P[1..] {
        p = s.fmadd(p, r, s.splat(*c));
    }
    let e = s.add(s.fmadd(p, s.mul(r, r), r), s.splat(1.0));
    s.scale_pow2(e, n)
}

/// [`super::tanh`] on a vector.
#[inline(always)]
fn tanh<S: Simd>(s: S, x: S::V) -> S::V {
    let c = clamp(s, x, -TANH_CLAMP, TANH_CLAMP);
    let x2 = s.mul(c, c);
    let mut p = s.splat(TANH_P[0]);
    for k in &TANH_P[1..] {
        p = s.fmadd(p, x2, s.splat(*k));
    }
    let mut q = s.splat(TANH_Q[0]);
    for k in &TANH_Q[1..] {
        q = s.fmadd(q, x2, s.splat(*k));
    }
    // A true division: rcp14 and a Newton step gain nothing, as the pass is bound by memory.
    let r = s.div(s.mul(p, c), q);
    s.select_lt(s.abs(c), s.splat(TANH_LINEAR), c, r)
}

/// `out[i] = tanh(a[i] + b[i])`.
///
/// # Safety
/// Called from `S::tanh_of_sum` (the CPU has its features); `b` and `out` are at least as long as `a`.
#[inline(always)]
pub(super) unsafe fn tanh_of_sum<S: Simd>(s: S, a: &[f32], b: &[f32], out: &mut [f32]) {
    let n = a.len();
    let (pa, pb, po) = (a.as_ptr(), b.as_ptr(), out.as_mut_ptr());
    let mut i = 0;
    while i + S::LANES <= n {
        // SAFETY: i + LANES ≤ n, within all three slices.
        unsafe {
            let x = s.add(s.load(pa.add(i)), s.load(pb.add(i)));
            s.store(po.add(i), tanh(s, x));
        }
        i += S::LANES;
    }
    if i < n {
        let m = s.mask_below(n - i);
        // SAFETY: masked lanes beyond n are neither read nor written (they cannot fault).
        unsafe {
            let x = s.add(s.load_masked(pa.add(i), m), s.load_masked(pb.add(i), m));
            s.store_masked(po.add(i), m, tanh(s, x));
        }
    }
}

/// `o += softmax(x)` for each row of `width` floats; `x` is scratch.
///
/// # Safety
/// Called from `S::add_softmax_rows` (the CPU has its features); `o` is as long as `x`, and
/// `width` (> 0) divides that length.
#[inline(always)]
pub(super) unsafe fn add_softmax_rows<S: ElementwiseSimd>(s: S, x: &mut [f32], o: &mut [f32], width: usize) {
    const { assert!(S::SHORT_ROW_VECS <= 4) };
    let rows = x.chunks_exact_mut(width).zip(o.chunks_exact_mut(width));
    let vecs = width.div_ceil(S::LANES);
    // SAFETY (all calls): each row pair has `width` floats, and the short paths take rows of at
    // most LANES·V floats; the CPU has S's features (this function's contract).
    unsafe {
        if vecs > S::SHORT_ROW_VECS {
            for (x, o) in rows {
                S::add_softmax_row(x, o);
            }
            return;
        }
        match vecs {
            1 => {
                for (x, o) in rows {
                    add_softmax_short::<S, 1>(s, x, o);
                }
            }
            2 => {
                for (x, o) in rows {
                    add_softmax_short::<S, 2>(s, x, o);
                }
            }
            3 => {
                for (x, o) in rows {
                    add_softmax_short::<S, 3>(s, x, o);
                }
            }
            _ => {
                for (x, o) in rows {
                    add_softmax_short::<S, 4>(s, x, o);
                }
            }
        }
    }
}

/// Whether vector `j` (of `lanes` floats) of a row of `n` floats lies wholly inside it.
#[inline(always)]
fn is_full(n: usize, j: usize, lanes: usize) -> bool {
    lanes * (j + 1) <= n
}

/// The lanes of vector `j` of a row of `n` floats that lie inside it.
#[inline(always)]
fn row_mask<S: Simd>(s: S, n: usize, j: usize) -> S::Mask {
    if is_full(n, j, S::LANES) {
        s.mask_below(S::LANES)
    } else {
        s.mask_below(n - S::LANES * j)
    }
}

/// `o += softmax(x)` for one row of at most `LANES·V` floats, held in `V` registers: `x` is read
/// once and `o` once, against three passes over `x` in the general path (DIEN's rows are 64 wide; the
/// single pass pays when the layer's output comes from L3, not from L2: see results/notebook-2026.md).
///
/// # Safety
/// Called from `S::add_softmax_rows`; `o` is as long as `x`, which holds
/// `LANES·(V−1) < len ≤ LANES·V` floats.
#[inline(always)]
unsafe fn add_softmax_short<S: ElementwiseSimd, const V: usize>(s: S, x: &[f32], o: &mut [f32]) {
    let n = x.len();
    let neg_inf = s.splat(f32::NEG_INFINITY);
    let mut v = [neg_inf; V];
    // SAFETY: vector j covers floats LANES·j.. of both rows, masked to those below n; masked-off
    // lanes are neither read nor written.
    unsafe {
        for (j, v) in v.iter_mut().enumerate() {
            let p = x.as_ptr().add(S::LANES * j);
            *v = if is_full(n, j, S::LANES) {
                s.load(p)
            } else {
                s.load_masked_or(p, row_mask(s, n, j), neg_inf)
            };
        }
        let mut m = v[0];
        for &vj in &v[1..] {
            m = s.max(m, vj);
        }
        let mx = s.splat(s.reduce_max(m));
        let mut sum = s.zero();
        for (j, v) in v.iter_mut().enumerate() {
            *v = exp(s, s.sub(*v, mx));
            sum = s.add_masked(sum, row_mask(s, n, j), *v);
        }
        let inv = s.splat(1.0 / s.reduce_add(sum));
        for (j, &e) in v.iter().enumerate() {
            let p = o.as_mut_ptr().add(S::LANES * j);
            if is_full(n, j, S::LANES) {
                s.store(p, s.add(s.load(p), s.mul(e, inv)));
            } else {
                let m = row_mask(s, n, j);
                s.store_masked(p, m, s.add(s.load_masked(p, m), s.mul(e, inv)));
            }
        }
    }
}

/// `o += softmax(x)` for one row of any width, in three passes (`x` holds `e^(x − max)` between
/// the second and third).
///
/// # Safety
/// Called from `S::add_softmax_row` (the CPU has its features); `o` is at least as long as `x`.
#[inline(always)]
pub(super) unsafe fn add_softmax_row<S: ElementwiseSimd>(s: S, x: &mut [f32], o: &mut [f32]) {
    let n = x.len();
    let (px, po) = (x.as_mut_ptr(), o.as_mut_ptr());
    let (full, m) = (n / S::LANES * S::LANES, s.mask_below(n % S::LANES));
    let neg_inf = s.splat(f32::NEG_INFINITY);
    // SAFETY: offsets below `full` are whole vectors inside both slices; the tail is masked to
    // the lanes below n, and masked-off lanes cannot fault.
    unsafe {
        let mut mx = neg_inf;
        for i in (0..full).step_by(S::LANES) {
            mx = s.max(mx, s.load(px.add(i)));
        }
        if full < n {
            mx = s.max(mx, s.load_masked_or(px.add(full), m, neg_inf));
        }
        let mx = s.splat(s.reduce_max(mx));
        let mut sum = s.zero();
        for i in (0..full).step_by(S::LANES) {
            let e = exp(s, s.sub(s.load(px.add(i)), mx));
            s.store(px.add(i), e);
            sum = s.add(sum, e);
        }
        if full < n {
            let e = exp(s, s.sub(s.load_masked(px.add(full), m), mx));
            s.store_masked(px.add(full), m, e);
            sum = s.add_masked(sum, m, e);
        }
        let inv = s.splat(1.0 / s.reduce_add(sum));
        for i in (0..full).step_by(S::LANES) {
            let p = s.mul(s.load(px.add(i)), inv);
            s.store(po.add(i), s.add(s.load(po.add(i)), p));
        }
        if full < n {
            let p = s.mul(s.load_masked(px.add(full), m), inv);
            s.store_masked(po.add(full), m, s.add(s.load_masked(po.add(full), m), p));
        }
    }
}
