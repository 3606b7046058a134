//! Scalar FMA loop.

use super::FMA_CHAINS;

/// Scalar multiply-add chains (no FMA instruction assumed): the portable floor, not a peak.
pub(super) fn fma(iters: u64) -> f32 {
    let mut acc = [1.0f32; FMA_CHAINS];
    let (a, b) = (std::hint::black_box(0.999_999f32), std::hint::black_box(1e-7f32));
    for _ in 0..iters {
        for x in acc.iter_mut() {
            *x = *x * a + b;
        }
    }
    acc.iter().sum()
}
