//! AVX2 half of the element-wise functions (`simd.rs`): 8 lanes, `maskload` / `maskstore` for the
//! tails, every softmax row in three passes.

use super::simd::{self, ElementwiseSimd};
use crate::simd::Avx2;
use std::arch::x86_64::*;

/// e^x on 8 lanes within ~1 ulp ([`simd::exp`]).
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn exp(x: __m256) -> __m256 {
    // SAFETY: this function's target features are the token's (AVX2, FMA).
    simd::exp(unsafe { Avx2::new_unchecked() }, x)
}

impl ElementwiseSimd for Avx2 {
    /// The power of two is built in the exponent bits; the clamp to ±87 keeps `n` in the normal range.
    const EXP_CLAMP: f32 = 87.0;
    const SHORT_ROW_VECS: usize = 0;

    #[inline(always)]
    fn scale_pow2(self, e: __m256, n: __m256) -> __m256 {
        // SAFETY: the token exists only where the CPU has AVX2 (`new_unchecked`); no memory is touched.
        unsafe {
            let pow2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
                _mm256_cvtps_epi32(n),
                _mm256_set1_epi32(127),
            )));
            _mm256_mul_ps(e, pow2)
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn tanh_of_sum(a: &[f32], b: &[f32], out: &mut [f32]) {
        // SAFETY: the CPU has AVX2 and FMA (this function's features); the rest is the caller's contract.
        unsafe { simd::tanh_of_sum(Self::new_unchecked(), a, b, out) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn add_softmax_rows(x: &mut [f32], o: &mut [f32], width: usize) {
        // SAFETY: as for `tanh_of_sum`.
        unsafe { simd::add_softmax_rows(Self::new_unchecked(), x, o, width) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn add_softmax_row(x: &mut [f32], o: &mut [f32]) {
        // SAFETY: as for `tanh_of_sum`.
        unsafe { simd::add_softmax_row(Self::new_unchecked(), x, o) }
    }
}
