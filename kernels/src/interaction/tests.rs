//! Every ISA against the f64 definition, on random shapes and DLRM's; input validation.

use super::*;
use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

/// Pairs by the definition, in f64.
fn reference(x: &[f32], n: usize, d: usize, self_interaction: bool) -> Vec<f64> {
    let mut out = Vec::new();
    for i in 0..n {
        for j in 0..i + usize::from(self_interaction) {
            out.push((0..d).map(|k| f64::from(x[i * d + k]) * f64::from(x[j * d + k])).sum());
        }
    }
    out
}

fn check(rows: usize, n: usize, d: usize, self_interaction: bool, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    // Rows padded (ldx > n·d) and the output offset by 3.
    let (ldx, at) = (n * d + 5, 3);
    let x: Vec<f32> = (0..rows * ldx).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    // The same features as separate rows × d arrays (a model's bottom output and tables).
    let split: Vec<Vec<f32>> =
        (0..n).map(|f| (0..rows).flat_map(|r| x[r * ldx + f * d..][..d].to_vec()).collect()).collect();
    let in_block = |f: usize| x.get(f * d..).unwrap_or(&[]);
    let separate = |f: usize| split[f].as_slice();
    type Features<'a> = &'a dyn Fn(usize) -> &'a [f32];
    for (isa, (features, ld)) in
        Isa::available().into_iter().flat_map(|i| [(i, (&in_block as Features, ldx)), (i, (&separate, d))])
    {
        let k = DotInteraction::with_isa(n, d, self_interaction, isa).unwrap();
        let ldo = at + k.pairs() + 2;
        let mut out = vec![f32::NAN; rows * ldo];
        k.forward(features, ld, rows, &mut out, ldo, at).unwrap();
        for r in 0..rows {
            let want = reference(&x[r * ldx..], n, d, self_interaction);
            let got = &out[r * ldo..(r + 1) * ldo];
            assert!(
                got[..at].iter().chain(&got[at + k.pairs()..]).all(|v| v.is_nan()),
                "{isa}: wrote outside"
            );
            for (p, (&g, &w)) in got[at..at + k.pairs()].iter().zip(&want).enumerate() {
                // Relative to Σ|x_i·x_j| ≤ d for |x| ≤ 1.
                assert!(
                    (f64::from(g) - w).abs() <= 1e-6 * d as f64,
                    "{isa} n={n} d={d} row {r} pair {p}: {g} vs {w}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn every_isa_matches_reference(rows in 0usize..4, n in 1usize..30, d in 1usize..140, s: bool, seed: u64) {
        check(rows, n, d, s, seed);
    }
}

#[test]
fn dlrm_shapes() {
    // MLPerf DLRM v1 (27 × 128), block-aligned, one feature (no pairs), ragged tails.
    for &(n, d) in &[(27, 128), (8, 64), (1, 16), (5, 17), (9, 3)] {
        check(3, n, d, false, 1);
        check(2, n, d, true, 2);
    }
}

#[test]
fn bad_shapes_are_errors() {
    assert!(DotInteraction::new(0, 4, false).is_err());
    assert!(DotInteraction::new(3, 0, false).is_err());
    let k = DotInteraction::new(3, 4, false).unwrap();
    let x = [0.0; 24];
    let f = |i: usize| &x[4 * i..];
    let mut out = vec![0.0; 6];
    assert!(k.forward(f, 3, 2, &mut out, 3, 0).is_err(), "ld < d");
    assert!(k.forward(f, 12, 3, &mut out, 3, 0).is_err(), "x too short");
    assert!(k.forward(f, 12, 2, &mut out, 4, 0).is_err(), "out too short");
    assert!(k.forward(f, 12, 2, &mut out, 3, 1).is_err(), "offset past the row");
    assert!(k.forward(f, 12, 2, &mut out, 3, 0).is_ok());
}
