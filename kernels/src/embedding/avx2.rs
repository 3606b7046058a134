//! AVX2 (with FMA and F16C) half of the SIMD kernel (`simd.rs`): 8 f32 lanes. The last partial
//! vector of a row goes through a masked load (fp32) or a small zero-padded copy (fp16, int8).

#![cfg(target_arch = "x86_64")]

use super::input::IndexInt;
use super::job::Job;
use super::simd::EmbedSimd;
use crate::simd::{Avx2, Simd};
use std::arch::x86_64::*;
use std::ops::Range;

impl EmbedSimd for Avx2 {
    #[inline(always)]
    unsafe fn load_f16(self, p: *const u16) -> __m256 {
        // SAFETY: 8 values at p are readable and the CPU has F16C (the caller's contract).
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
    }

    #[inline(always)]
    unsafe fn load_u8(self, p: *const u8) -> __m256 {
        // SAFETY: 8 codes at p are readable (the caller's contract).
        unsafe { _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(p as *const __m128i))) }
    }

    #[inline(always)]
    unsafe fn load_f32_last(self, p: *const f32, tail: usize, mask: __m256i) -> __m256 {
        // SAFETY: lanes < tail are readable (the caller's contract); maskload touches only those
        // (masked-off lanes do not fault). A full last vector takes a plain load: vmaskmovps is the
        // slower of the two on some cores (Zen).
        unsafe {
            if tail == Self::LANES {
                self.load(p)
            } else {
                self.load_masked(p, mask)
            }
        }
    }

    #[inline(always)]
    unsafe fn load_f16_last(self, p: *const u16, tail: usize, _mask: __m256i) -> __m256 {
        // SAFETY: a full vector is readable; otherwise only `tail` values are copied.
        unsafe {
            if tail == Self::LANES {
                self.load_f16(p)
            } else {
                let mut buf = [0u16; 8];
                std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), tail);
                self.load_f16(buf.as_ptr())
            }
        }
    }

    #[inline(always)]
    unsafe fn load_u8_last(self, p: *const u8, tail: usize, _mask: __m256i) -> __m256 {
        // SAFETY: a full vector (8 bytes) is readable; otherwise only `tail` codes are copied.
        unsafe {
            if tail == Self::LANES {
                self.load_u8(p)
            } else {
                let mut buf = [0u8; 16];
                std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), tail);
                let q = _mm_loadu_si128(buf.as_ptr() as *const __m128i);
                _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q))
            }
        }
    }

    #[target_feature(enable = "avx2,f16c,fma")]
    unsafe fn pass<const N: usize, const DT: u8, const W: bool, const H: u8, I: IndexInt>(
        job: &Job<'_, I>,
        bags: Range<usize>,
        col: usize,
        out: *mut f32,
        pf_end: usize,
    ) -> Result<(), usize> {
        // SAFETY: the CPU has AVX2, FMA and F16C (the token's features and the loads'), all enabled
        // here; the rest is the caller's contract.
        unsafe {
            super::simd::pass::<Self, N, DT, W, H, I>(Self::new_unchecked(), job, bags, col, out, pf_end)
        }
    }
}
