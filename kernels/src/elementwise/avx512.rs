//! AVX-512 half of the element-wise functions (`simd.rs`): 16 lanes, masked loads and stores for the
//! tails, softmax rows of up to 4 vectors held in registers.

use super::simd::{self, ElementwiseSimd};
use crate::simd::Avx512;
use std::arch::x86_64::*;

/// e^x on 16 lanes within ~1 ulp ([`simd::exp`]).
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn exp(x: __m512) -> __m512 {
    // SAFETY: this function's target feature is the token's (AVX-512F).
    simd::exp(unsafe { Avx512::new_unchecked() }, x)
}

impl ElementwiseSimd for Avx512 {
    /// ±88, where f32's range ends: `vscalefps` applies the power of two, so there is no
    /// exponent-bit overflow path to special-case.
    const EXP_CLAMP: f32 = 88.0;
    const SHORT_ROW_VECS: usize = 4;

    #[inline(always)]
    fn scale_pow2(self, e: __m512, n: __m512) -> __m512 {
        // SAFETY: the token exists only where the CPU has AVX-512F (`new_unchecked`); no memory is
        // touched.
        unsafe { _mm512_scalef_ps(e, n) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn tanh_of_sum(a: &[f32], b: &[f32], out: &mut [f32]) {
        // SAFETY: the CPU has AVX-512F (this function's feature); the rest is the caller's contract.
        unsafe { simd::tanh_of_sum(Self::new_unchecked(), a, b, out) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn add_softmax_rows(x: &mut [f32], o: &mut [f32], width: usize) {
        // SAFETY: as for `tanh_of_sum`.
        unsafe { simd::add_softmax_rows(Self::new_unchecked(), x, o, width) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn add_softmax_row(x: &mut [f32], o: &mut [f32]) {
        // SAFETY: as for `tanh_of_sum`.
        unsafe { simd::add_softmax_row(Self::new_unchecked(), x, o) }
    }
}
