//! AVX-512 block: 16 floats of K per step.

use super::B;
use std::arch::x86_64::*;

/// AVX-512 block: 16 accumulators, 16 floats of K per step, the K tail under a mask.
///
/// # Safety
/// The CPU supports AVX-512F; every slice of `f` holds `d` floats.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn block(f: &[&[f32]; 2 * B], d: usize) -> [[f32; B]; B] {
    let mut acc = [[_mm512_setzero_ps(); B]; B];
    let mut v = [_mm512_setzero_ps(); 2 * B];
    // SAFETY (both expansions): lanes k0.. under the mask lie inside every slice (d floats);
    // masked-off lanes are not read.
    macro_rules! step {
        ($k0:expr, $load:expr) => {
            for s in 0..2 * B {
                v[s] = unsafe { $load(f[s].as_ptr().add($k0)) };
            }
            for a in 0..B {
                for b in 0..B {
                    acc[a][b] = _mm512_fmadd_ps(v[a], v[B + b], acc[a][b]);
                }
            }
        };
    }
    let full = d / 16 * 16;
    let mut k0 = 0;
    while k0 < full {
        step!(k0, |p| _mm512_loadu_ps(p));
        k0 += 16;
    }
    if full < d {
        let mask: __mmask16 = (1u16 << (d - full)) - 1;
        step!(full, |p| _mm512_maskz_loadu_ps(mask, p));
    }
    // Row a's four sums at once: pairs of accumulators interleave and add within 128-bit lanes,
    // then the four lanes add (about a third of the shuffles of four separate reductions).
    let mut out = [[0.0; B]; B];
    for (o, v) in out.iter_mut().zip(&acc) {
        let t0 = _mm512_add_ps(_mm512_unpacklo_ps(v[0], v[1]), _mm512_unpackhi_ps(v[0], v[1]));
        let t1 = _mm512_add_ps(_mm512_unpacklo_ps(v[2], v[3]), _mm512_unpackhi_ps(v[2], v[3]));
        let u = _mm512_add_ps(_mm512_shuffle_ps::<0x44>(t0, t1), _mm512_shuffle_ps::<0xEE>(t0, t1));
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(u)));
        let h = _mm256_add_ps(_mm512_castps512_ps256(u), hi);
        let q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
        // SAFETY: o holds B = 4 floats.
        unsafe { _mm_storeu_ps(o.as_mut_ptr(), q) };
    }
    out
}
