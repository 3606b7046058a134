//! Portable block: safe Rust, for `Isa::Scalar` and CPUs without AVX2.

use super::B;

/// Dots of rows `f[0..4]` with columns `f[4..8]`, each with eight partial sums (so the baseline
/// ISA vectorises it).
pub(super) fn block(f: &[&[f32]; 2 * B], d: usize) -> [[f32; B]; B] {
    let dot = |x: &[f32], y: &[f32]| {
        let mut acc = [0.0f32; 8];
        let (cx, cy) = (x[..d].chunks_exact(8), y[..d].chunks_exact(8));
        let tail: f32 = cx.remainder().iter().zip(cy.remainder()).map(|(p, q)| p * q).sum();
        for (p, q) in cx.zip(cy) {
            for l in 0..8 {
                acc[l] += p[l] * q[l];
            }
        }
        acc.iter().sum::<f32>() + tail
    };
    let mut out = [[0.0; B]; B];
    for (a, row) in out.iter_mut().enumerate() {
        for (b, o) in row.iter_mut().enumerate() {
            *o = dot(f[a], f[B + b]);
        }
    }
    out
}
