//! AVX2 element-wise functions: 8 lanes, `maskload` / `maskstore` for the tails.

use super::{exp_poly, TANH_CLAMP, TANH_LINEAR, TANH_P, TANH_Q};
use crate::simd::{hmax, hsum, lanes_below};
use std::arch::x86_64::*;

/// `x` clamped to `[lo, hi]`; NaN stays NaN (max/min return their second operand on NaN).
#[target_feature(enable = "avx")]
#[inline]
fn clamp(x: __m256, lo: f32, hi: f32) -> __m256 {
    _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), x))
}

/// e^x on 8 lanes within ~1 ulp: the AVX-512 path's reduction and polynomial, with the power of
/// two built in the exponent bits (the clamp to ±87 keeps `n` in the normal range).
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn exp(x: __m256) -> __m256 {
    let t = clamp(x, -87.0, 87.0);
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        t,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(exp_poly::LN2_HI), t);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(exp_poly::LN2_LO), r);
    let mut p = _mm256_set1_ps(exp_poly::P[0]);
    for c in &exp_poly::P[1..] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(*c));
    }
    let e = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0));
    let pow2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
        _mm256_cvtps_epi32(n),
        _mm256_set1_epi32(127),
    )));
    _mm256_mul_ps(e, pow2)
}

/// [`super::tanh`] on 8 lanes.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn tanh(x: __m256) -> __m256 {
    let c = clamp(x, -TANH_CLAMP, TANH_CLAMP);
    let x2 = _mm256_mul_ps(c, c);
    let mut p = _mm256_set1_ps(TANH_P[0]);
    for k in &TANH_P[1..] {
        p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(*k));
    }
    let mut q = _mm256_set1_ps(TANH_Q[0]);
    for k in &TANH_Q[1..] {
        q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(*k));
    }
    let r = _mm256_div_ps(_mm256_mul_ps(p, c), q);
    let abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0), c);
    let linear = _mm256_cmp_ps::<_CMP_LT_OQ>(abs, _mm256_set1_ps(TANH_LINEAR));
    _mm256_blendv_ps(r, c, linear)
}

/// `out[i] = tanh(a[i] + b[i])`.
///
/// # Safety
/// The CPU supports AVX2 and FMA; `b` and `out` are at least as long as `a`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn tanh_of_sum(a: &[f32], b: &[f32], out: &mut [f32]) {
    let n = a.len();
    let (pa, pb, po) = (a.as_ptr(), b.as_ptr(), out.as_mut_ptr());
    let mut i = 0;
    // SAFETY: whole vectors stay below n; the tail is masked to the lanes below n, and masked-off
    // lanes are neither read nor written.
    unsafe {
        while i + 8 <= n {
            let s = _mm256_add_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            _mm256_storeu_ps(po.add(i), tanh(s));
            i += 8;
        }
        if i < n {
            let m = lanes_below((n - i) as i32);
            let s = _mm256_add_ps(_mm256_maskload_ps(pa.add(i), m), _mm256_maskload_ps(pb.add(i), m));
            _mm256_maskstore_ps(po.add(i), m, tanh(s));
        }
    }
}

/// `o += softmax(x)` for one row; `x` is left holding `e^(x − max)`.
///
/// # Safety
/// The CPU supports AVX2 and FMA; `o` is at least as long as `x`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn add_softmax(x: &mut [f32], o: &mut [f32]) {
    let n = x.len();
    let (px, po) = (x.as_mut_ptr(), o.as_mut_ptr());
    let (full, m) = (n / 8 * 8, lanes_below((n % 8) as i32));
    let neg_inf = _mm256_set1_ps(f32::NEG_INFINITY);
    // SAFETY: offsets below `full` are whole vectors inside both slices; the tail is masked to
    // the lanes below n, and masked-off lanes cannot fault.
    unsafe {
        let mut mx = neg_inf;
        for i in (0..full).step_by(8) {
            mx = _mm256_max_ps(mx, _mm256_loadu_ps(px.add(i)));
        }
        if full < n {
            // Masked-off lanes load as 0; -inf there keeps them out of the max.
            let t = _mm256_blendv_ps(neg_inf, _mm256_maskload_ps(px.add(full), m), _mm256_castsi256_ps(m));
            mx = _mm256_max_ps(mx, t);
        }
        let mx = _mm256_set1_ps(hmax(mx));
        let mut sum = _mm256_setzero_ps();
        for i in (0..full).step_by(8) {
            let e = exp(_mm256_sub_ps(_mm256_loadu_ps(px.add(i)), mx));
            _mm256_storeu_ps(px.add(i), e);
            sum = _mm256_add_ps(sum, e);
        }
        if full < n {
            let e = exp(_mm256_sub_ps(_mm256_maskload_ps(px.add(full), m), mx));
            let e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
            _mm256_maskstore_ps(px.add(full), m, e);
            sum = _mm256_add_ps(sum, e);
        }
        let inv = _mm256_set1_ps(1.0 / hsum(sum));
        for i in (0..full).step_by(8) {
            let p = _mm256_mul_ps(_mm256_loadu_ps(px.add(i)), inv);
            _mm256_storeu_ps(po.add(i), _mm256_add_ps(_mm256_loadu_ps(po.add(i)), p));
        }
        if full < n {
            let p = _mm256_mul_ps(_mm256_maskload_ps(px.add(full), m), inv);
            _mm256_maskstore_ps(po.add(full), m, _mm256_add_ps(_mm256_maskload_ps(po.add(full), m), p));
        }
    }
}
