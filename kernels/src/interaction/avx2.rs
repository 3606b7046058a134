//! AVX2 block: 8 floats of K per step.

use super::B;
use std::arch::x86_64::*;

/// AVX2 block: two passes of 2 × 4 (8 accumulators, 4 column vectors and a row vector fit the
/// 16 ymm registers; 4 × 4 at once would spill), 8 floats of K per step, the K tail under a mask.
///
/// # Safety
/// The CPU supports AVX2 and FMA; every slice of `f` holds `d` floats.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn block(f: &[&[f32]; 2 * B], d: usize) -> [[f32; B]; B] {
    const H: usize = B / 2;
    let full = d / 8 * 8;
    let left = (d - full) as i32;
    let mask = crate::simd::lanes_below(left);
    let mut out = [[0.0; B]; B];
    for a0 in (0..B).step_by(H) {
        let mut acc = [[_mm256_setzero_ps(); B]; H];
        let mut col = [_mm256_setzero_ps(); B];
        // SAFETY (both expansions): lanes k0.. under the mask lie inside every slice (d floats);
        // masked-off lanes are not read.
        macro_rules! step {
            ($k0:expr, $load:expr) => {
                for b in 0..B {
                    col[b] = unsafe { $load(f[B + b].as_ptr().add($k0)) };
                }
                for a in 0..H {
                    let row = unsafe { $load(f[a0 + a].as_ptr().add($k0)) };
                    for b in 0..B {
                        acc[a][b] = _mm256_fmadd_ps(row, col[b], acc[a][b]);
                    }
                }
            };
        }
        let mut k0 = 0;
        while k0 < full {
            step!(k0, |p| _mm256_loadu_ps(p));
            k0 += 8;
        }
        if full < d {
            step!(full, |p| _mm256_maskload_ps(p, mask));
        }
        for a in 0..H {
            for b in 0..B {
                out[a0 + a][b] = crate::simd::hsum(acc[a][b]);
            }
        }
    }
    out
}
