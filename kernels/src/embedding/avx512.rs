//! AVX-512 half of the SIMD kernel (`simd.rs`): 16 f32 lanes, masked loads and stores for the last
//! partial vector of a row.

#![cfg(target_arch = "x86_64")]

use super::input::IndexInt;
use super::job::Job;
use super::simd::EmbedSimd;
use crate::simd::{Avx512, Simd};
use std::arch::x86_64::*;
use std::ops::Range;

impl EmbedSimd for Avx512 {
    #[inline(always)]
    unsafe fn load_f16(self, p: *const u16) -> __m512 {
        // SAFETY: 16 values at p are readable (the caller's contract).
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)) }
    }

    #[inline(always)]
    unsafe fn load_u8(self, p: *const u8) -> __m512 {
        // SAFETY: 16 codes at p are readable (the caller's contract).
        unsafe { _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(p as *const __m128i))) }
    }

    #[inline(always)]
    unsafe fn load_f32_last(self, p: *const f32, _tail: usize, mask: __mmask16) -> __m512 {
        // SAFETY: the lanes of the mask (< tail) are readable; the others are not read.
        unsafe { self.load_masked(p, mask) }
    }

    #[inline(always)]
    unsafe fn load_f16_last(self, p: *const u16, _tail: usize, mask: __mmask16) -> __m512 {
        // SAFETY: as for f32; the CPU has AVX-512BW/VL (the caller's contract).
        unsafe { _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p as *const i16)) }
    }

    #[inline(always)]
    unsafe fn load_u8_last(self, p: *const u8, _tail: usize, mask: __mmask16) -> __m512 {
        // SAFETY: as for f32; the CPU has AVX-512BW/VL (the caller's contract).
        unsafe { _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mask, p as *const i8))) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,f16c,fma")]
    unsafe fn pass<const N: usize, const DT: u8, const W: bool, const H: u8, I: IndexInt>(
        job: &Job<'_, I>,
        bags: Range<usize>,
        col: usize,
        out: *mut f32,
        pf_end: usize,
    ) -> Result<(), usize> {
        // SAFETY: the CPU has AVX-512F/BW/VL, F16C and FMA (the token's features and the loads'),
        // all enabled here; the rest is the caller's contract.
        unsafe {
            super::simd::pass::<Self, N, DT, W, H, I>(Self::new_unchecked(), job, bags, col, out, pf_end)
        }
    }
}
