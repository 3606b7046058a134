//! AVX-512 element-wise functions: 16 lanes, masked loads and stores for the tails.

use super::{exp_poly, TANH_CLAMP, TANH_LINEAR, TANH_P, TANH_Q};
use std::arch::x86_64::*;

/// Mask of the first `n` (< 16) lanes.
fn tail_mask(n: usize) -> __mmask16 {
    ((1u32 << n) - 1) as __mmask16
}

/// `x` clamped to `[lo, hi]`; NaN stays NaN (max/min return their second operand on NaN).
#[target_feature(enable = "avx512f")]
#[inline]
fn clamp(x: __m512, lo: f32, hi: f32) -> __m512 {
    _mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), x))
}

/// e^x on 16 lanes within ~1 ulp (the argument clamped to ±88, where f32's range ends), with
/// `vscalefps` for the power of two (so no exponent-bit overflow path to special-case).
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn exp(x: __m512) -> __m512 {
    let t = clamp(x, -88.0, 88.0);
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(
        t,
        _mm512_set1_ps(std::f32::consts::LOG2_E),
    ));
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(exp_poly::LN2_HI), t);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(exp_poly::LN2_LO), r);
    let mut p = _mm512_set1_ps(exp_poly::P[0]);
    for c in &exp_poly::P[1..] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(*c));
    }
    let e = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0));
    _mm512_scalef_ps(e, n)
}

/// [`super::tanh`] on 16 lanes.
#[target_feature(enable = "avx512f")]
#[inline]
fn tanh(x: __m512) -> __m512 {
    let c = clamp(x, -TANH_CLAMP, TANH_CLAMP);
    let x2 = _mm512_mul_ps(c, c);
    let mut p = _mm512_set1_ps(TANH_P[0]);
    for k in &TANH_P[1..] {
        p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(*k));
    }
    let mut q = _mm512_set1_ps(TANH_Q[0]);
    for k in &TANH_Q[1..] {
        q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(*k));
    }
    // A true division: rcp14 and a Newton step measured no faster here (the pass is bound by memory).
    let r = _mm512_div_ps(_mm512_mul_ps(p, c), q);
    let abs = _mm512_abs_ps(c);
    let linear = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(abs, _mm512_set1_ps(TANH_LINEAR));
    _mm512_mask_blend_ps(linear, r, c)
}

/// `out[i] = tanh(a[i] + b[i])`.
///
/// # Safety
/// The CPU supports AVX-512F; `b` and `out` are at least as long as `a`.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn tanh_of_sum(a: &[f32], b: &[f32], out: &mut [f32]) {
    let n = a.len();
    let (pa, pb, po) = (a.as_ptr(), b.as_ptr(), out.as_mut_ptr());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 ≤ n, within all three slices.
        unsafe {
            let s = _mm512_add_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
            _mm512_storeu_ps(po.add(i), tanh(s));
        }
        i += 16;
    }
    if i < n {
        let m = tail_mask(n - i);
        // SAFETY: masked lanes beyond n are neither read nor written (they cannot fault).
        unsafe {
            let s = _mm512_add_ps(_mm512_maskz_loadu_ps(m, pa.add(i)), _mm512_maskz_loadu_ps(m, pb.add(i)));
            _mm512_mask_storeu_ps(po.add(i), m, tanh(s));
        }
    }
}

/// `o += softmax(x)` for each row of `width` floats; `x` is scratch.
///
/// # Safety
/// The CPU supports AVX-512F; `o` is as long as `x`, and `width` (> 0) divides that length.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn add_softmax_rows(x: &mut [f32], o: &mut [f32], width: usize) {
    let rows = x.chunks_exact_mut(width).zip(o.chunks_exact_mut(width));
    // SAFETY (all calls): each row pair has `width` floats, and the short paths take rows of at
    // most 16·V floats.
    unsafe {
        match width.div_ceil(16) {
            1 => rows.for_each(|(x, o)| add_softmax_short::<1>(x, o)),
            2 => rows.for_each(|(x, o)| add_softmax_short::<2>(x, o)),
            3 => rows.for_each(|(x, o)| add_softmax_short::<3>(x, o)),
            4 => rows.for_each(|(x, o)| add_softmax_short::<4>(x, o)),
            _ => rows.for_each(|(x, o)| add_softmax_row(x, o)),
        }
    }
}

/// `o += softmax(x)` for one row of at most `16·V` floats, held in `V` registers: `x` is read once
/// and `o` once, against three passes over `x` in the general path (DIEN's rows are 64 wide: on a
/// layer's 10 MB of FC output, read from L3, ~1.3x the three passes; from L2 no faster).
///
/// # Safety
/// The CPU supports AVX-512F; `o` is as long as `x`, which holds `16·(V−1) < len ≤ 16·V` floats.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn add_softmax_short<const V: usize>(x: &[f32], o: &mut [f32]) {
    let n = x.len();
    let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
    let mask = |j: usize| if 16 * (j + 1) <= n { !0 } else { tail_mask(n - 16 * j) };
    let mut v = [neg_inf; V];
    // SAFETY: vector j covers floats 16j.. of both rows, masked to those below n; masked-off lanes
    // are neither read nor written.
    unsafe {
        for (j, v) in v.iter_mut().enumerate() {
            *v = _mm512_mask_loadu_ps(neg_inf, mask(j), x.as_ptr().add(16 * j));
        }
        let mut m = v[0];
        for &vj in &v[1..] {
            m = _mm512_max_ps(m, vj);
        }
        let mx = _mm512_set1_ps(_mm512_reduce_max_ps(m));
        let mut sum = _mm512_setzero_ps();
        for (j, v) in v.iter_mut().enumerate() {
            *v = exp(_mm512_sub_ps(*v, mx));
            sum = _mm512_mask_add_ps(sum, mask(j), sum, *v);
        }
        let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(sum));
        for (j, &e) in v.iter().enumerate() {
            let p = o.as_mut_ptr().add(16 * j);
            let sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask(j), p), _mm512_mul_ps(e, inv));
            _mm512_mask_storeu_ps(p, mask(j), sum);
        }
    }
}

/// `o += softmax(x)` for one row of any width, in three passes (`x` holds `e^(x − max)` between
/// the second and third).
///
/// # Safety
/// The CPU supports AVX-512F; `o` is at least as long as `x`.
#[target_feature(enable = "avx512f")]
unsafe fn add_softmax_row(x: &mut [f32], o: &mut [f32]) {
    let n = x.len();
    let (px, po) = (x.as_mut_ptr(), o.as_mut_ptr());
    let (full, m) = (n / 16 * 16, tail_mask(n % 16));
    let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
    // SAFETY: offsets below `full` are whole vectors inside both slices; the tail is masked to
    // the lanes below n, and masked-off lanes cannot fault.
    unsafe {
        let mut mx = neg_inf;
        for i in (0..full).step_by(16) {
            mx = _mm512_max_ps(mx, _mm512_loadu_ps(px.add(i)));
        }
        if full < n {
            mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(neg_inf, m, px.add(full)));
        }
        let mx = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
        let mut sum = _mm512_setzero_ps();
        for i in (0..full).step_by(16) {
            let e = exp(_mm512_sub_ps(_mm512_loadu_ps(px.add(i)), mx));
            _mm512_storeu_ps(px.add(i), e);
            sum = _mm512_add_ps(sum, e);
        }
        if full < n {
            let e = exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, px.add(full)), mx));
            _mm512_mask_storeu_ps(px.add(full), m, e);
            sum = _mm512_mask_add_ps(sum, m, sum, e);
        }
        let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(sum));
        for i in (0..full).step_by(16) {
            let p = _mm512_mul_ps(_mm512_loadu_ps(px.add(i)), inv);
            _mm512_storeu_ps(po.add(i), _mm512_add_ps(_mm512_loadu_ps(po.add(i)), p));
        }
        if full < n {
            let p = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, px.add(full)), inv);
            _mm512_mask_storeu_ps(po.add(full), m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, po.add(full)), p));
        }
    }
}
