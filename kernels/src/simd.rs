//! Small AVX2 helpers shared by the kernels' AVX2 paths.

use std::arch::x86_64::*;

/// Lanes `0..n` all ones and the rest zero: the sign-bit mask `maskload` / `maskstore` read (any n;
/// n ≥ 8 keeps every lane, n ≤ 0 none).
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn lanes_below(n: i32) -> __m256i {
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}

/// The sum of the eight lanes of `v`.
#[target_feature(enable = "avx")]
#[inline]
pub(crate) fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// The largest of the eight lanes of `v`.
#[target_feature(enable = "avx")]
#[inline]
pub(crate) fn hmax(v: __m256) -> f32 {
    let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)))
}
