//! Software prefetch of table rows (a random gather defeats the hardware prefetchers, so the kernels
//! ask for the row `distance` lookups ahead themselves), with the hint a compile-time choice.

use super::PrefetchHint;

/// [`PrefetchHint`] as a const-generic parameter of the SIMD passes: `prefetcht0`.
pub(crate) const H_T0: u8 = 0;
/// `prefetcht1` (also the far prefetch of [`PrefetchHint::T1T0`]).
pub(super) const H_T1: u8 = 1;
/// `prefetchnta`.
pub(super) const H_NTA: u8 = 2;

/// The const-generic code of the far prefetch of `hint`.
pub(super) fn hint_code(hint: PrefetchHint) -> u8 {
    match hint {
        PrefetchHint::T0 => H_T0,
        PrefetchHint::T1 | PrefetchHint::T1T0 => H_T1,
        PrefetchHint::Nta => H_NTA,
    }
}

/// Asks for the cache line holding `p` with the hint `H` (one of `H_T0`, `H_T1`, `H_NTA`), chosen at
/// compile time so the SIMD passes carry no per-lookup branch on it. Never faults, never dereferences.
#[inline(always)]
pub(crate) fn prefetch_line<const H: u8>(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_NTA, _MM_HINT_T0, _MM_HINT_T1};
        let p = p as *const i8;
        // SAFETY: prefetch is a hint that neither faults nor reads into Rust-visible memory; SSE is
        // part of the x86-64 baseline.
        unsafe {
            match H {
                H_T0 => _mm_prefetch::<_MM_HINT_T0>(p),
                H_T1 => _mm_prefetch::<_MM_HINT_T1>(p),
                _ => _mm_prefetch::<_MM_HINT_NTA>(p),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = p;
    }
}
