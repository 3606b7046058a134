//! Software prefetch of a whole table row (a random gather defeats the hardware prefetchers, so
//! the kernels ask for the row `distance` lookups ahead themselves).

use super::PrefetchHint;

/// Asks for every cache line of the `bytes` bytes at `row` (exactly the lines the row touches, so a
/// packed row that straddles a line boundary gets both ends and no neighbour is pulled in needlessly).
/// Never faults, whatever the address, and never dereferences it; a no-op where the architecture has
/// no prefetch instruction.
#[inline(always)]
pub(super) fn prefetch_row(row: *const u8, bytes: usize, hint: PrefetchHint) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_NTA, _MM_HINT_T0, _MM_HINT_T1};
        let lines = ((row as usize & 63) + bytes).div_ceil(64);
        for l in 0..lines {
            // wrapping_add: the address is only a hint, so no in-bounds pointer arithmetic is claimed.
            let p = row.wrapping_add(l * 64) as *const i8;
            match hint {
                // SAFETY: prefetch is a hint that neither faults nor reads into Rust-visible memory;
                // SSE is part of the x86-64 baseline.
                PrefetchHint::T0 => unsafe { _mm_prefetch::<_MM_HINT_T0>(p) },
                // SAFETY: as above. (T1T0's far prefetch is T1; its near one is asked for as T0.)
                PrefetchHint::T1 | PrefetchHint::T1T0 => unsafe { _mm_prefetch::<_MM_HINT_T1>(p) },
                // SAFETY: as above.
                PrefetchHint::Nta => unsafe { _mm_prefetch::<_MM_HINT_NTA>(p) },
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (row, bytes, hint);
    }
}
