//! Every ISA path against the f64 reference; parallel against serial; input validation.

use super::*;
use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn random(len: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

/// Per output: |b| + Σ|x·w|, the scale a summation error is relative to.
fn scales(x: &[f32], w: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut s = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let t: f64 = (0..k).map(|p| f64::from(x[i * k + p] * w[j * k + p]).abs()).sum();
            s[i * n + j] = t + bias.map_or(0.0, |b| f64::from(b[j]).abs());
        }
    }
    s
}

/// Checks every available ISA's `forward` against the reference on one random problem.
fn check_all_isas(m: usize, k: usize, n: usize, act: Activation, with_bias: bool, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let x = random(m * k, &mut rng);
    let w = random(n * k, &mut rng);
    let b = random(n, &mut rng);
    let bias = with_bias.then_some(&b[..]);
    let want = linear_reference(&x, &w, bias, m, k, n, act);
    let scale = scales(&x, &w, bias, m, k, n);
    for isa in Isa::available() {
        let layer = Linear::with_isa(&w, bias, k, n, act, isa).unwrap();
        // Pre-filled with NaN: every output must be written.
        let mut y = vec![f32::NAN; m * n];
        layer.forward(&x, m, &mut y).unwrap();
        for (idx, ((&got, &exp), &s)) in y.iter().zip(&want).zip(&scale).enumerate() {
            let err = (f64::from(got) - f64::from(exp)).abs();
            assert!(
                err <= 1e-5 * s + 1e-6,
                "{isa} m={m} k={k} n={n} {act} bias={with_bias}: y[{}][{}] = {got}, want {exp}",
                idx / n,
                idx % n
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn every_isa_matches_reference(
        m in 0usize..70, k in 1usize..300, n in 1usize..300,
        act in prop::sample::select(Activation::ALL.to_vec()), with_bias: bool, seed: u64,
    ) {
        check_all_isas(m, k, n, act, with_bias, seed);
    }

    /// Few output features: the dot-product path of every ISA (fewer than half a panel), and the
    /// panels just past it; ragged K (below one vector, and tails of every length).
    #[test]
    fn narrow_layers_match_reference(
        m in 0usize..40, k in 1usize..200, n in 1usize..40,
        act in prop::sample::select(Activation::ALL.to_vec()), with_bias: bool, seed: u64,
    ) {
        check_all_isas(m, k, n, act, with_bias, seed);
    }
}

#[test]
fn sweep_edges_and_many_k_blocks() {
    // K beyond every kc_max (several K blocks, reloads of y), ragged K, one column, tail tiles.
    // M beyond one M block (144 rows for AVX-512). One- and two-row tiles (split partial sums)
    // with K not a multiple of the split and reloads of y across K blocks.
    for &(m, k, n) in &[
        (1, 13, 512),
        (17, 1100, 33),
        (9, 479, 70),
        (3, 1, 1),
        (70, 600, 17),
        (301, 40, 130),
        (1, 1103, 20),
        (2, 801, 17),
        (8, 3, 40),
    ] {
        for act in Activation::ALL {
            check_all_isas(m, k, n, act, true, (m * 31 + k * 7 + n) as u64);
        }
    }
}

#[test]
fn sigmoid_saturates_without_nan() {
    let (k, n, m) = (1, 3, 2);
    let w = [100.0, -100.0, 0.0];
    let x = [1.0, -1.0];
    for isa in Isa::available() {
        let layer = Linear::with_isa(&w, None, k, n, Activation::Sigmoid, isa).unwrap();
        let mut y = vec![0.0; m * n];
        layer.forward(&x, m, &mut y).unwrap();
        assert_eq!(y[0], 1.0, "{isa}");
        assert!(y[1] >= 0.0 && y[1] < 1e-30, "{isa}: {}", y[1]);
        assert_eq!(y[2], 0.5, "{isa}");
        assert!(y[3] < 1e-30 && y[4] == 1.0, "{isa}: {y:?}");
    }
}

#[test]
fn forward_par_equals_forward() {
    let pool = PinnedPool::with_threads(crate::pool::allowed_cores().len().min(2)).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    // Above the serial threshold (2^19 multiply-adds, M counted as at least 4): one panel (row
    // split), five panels (row split), four panels (panel split), M = 1 and 2 (panel split, a
    // ragged last panel); below it: a small shape, M = 1 just under the threshold, M = 0.
    let shapes = [
        (200, 300, 64),
        (50, 200, 320),
        (40, 300, 256),
        (1, 1024, 520),
        (2, 600, 1000),
        (1, 479, 1024),
        (37, 100, 300),
        (16, 100, 64),
        (1, 511, 256),
        (0, 8, 8),
        // Narrow (dot-product) layers, row split: N = 1 and a ragged 4-row tail, N = 7.
        (1023, 600, 1),
        (500, 300, 7),
    ];
    for &(m, k, n) in &shapes {
        let x = random(m * k, &mut rng);
        let w = random(n * k, &mut rng);
        let b = random(n, &mut rng);
        for isa in Isa::available() {
            let layer = Linear::with_isa(&w, Some(&b), k, n, Activation::Relu, isa).unwrap();
            let mut y1 = vec![f32::NAN; m * n];
            let mut y2 = vec![f32::NAN; m * n];
            layer.forward(&x, m, &mut y1).unwrap();
            layer.forward_par(&pool, &x, m, &mut y2).unwrap();
            assert_eq!(y1, y2, "{isa} m={m} k={k} n={n}");
        }
    }
}

#[test]
fn bad_inputs_name_the_field() {
    let w = vec![0.5; 6];
    let err = |r: Result<Linear>| r.unwrap_err();
    let e = err(Linear::new(&w, None, 0, 6, Activation::None));
    assert!(matches!(e, KernelError::InvalidShape(_)) && e.to_string().contains("k=0"), "{e}");
    let e = err(Linear::new(&w, None, 2, 4, Activation::None));
    assert!(matches!(e, KernelError::ShapeMismatch { expected: 8, got: 6, .. }));
    assert!(e.to_string().contains("weight"), "{e}");
    let e = err(Linear::new(&w, Some(&[1.0; 2]), 2, 3, Activation::None));
    assert!(
        matches!(e, KernelError::ShapeMismatch { expected: 3, got: 2, .. }) && e.to_string().contains("bias")
    );
    let mut bad = w.clone();
    bad[4] = f32::NAN;
    assert_eq!(
        err(Linear::new(&bad, None, 2, 3, Activation::None)),
        KernelError::NonFinite { what: "weight", pos: 4 }
    );
    let e = err(Linear::new(&w, Some(&[0.0, f32::INFINITY, 0.0]), 2, 3, Activation::None));
    assert_eq!(e, KernelError::NonFinite { what: "bias", pos: 1 });

    let layer = Linear::new(&w, None, 2, 3, Activation::Relu).unwrap();
    assert_eq!((layer.in_features(), layer.out_features(), layer.activation()), (2, 3, Activation::Relu));
    assert_eq!(layer.flops(10), 120.0);
    let mut y = vec![0.0; 6];
    let e = layer.forward(&[1.0; 5], 2, &mut y).unwrap_err();
    assert!(
        matches!(e, KernelError::ShapeMismatch { expected: 4, got: 5, .. }) && e.to_string().contains("x")
    );
    let e = layer.forward(&[1.0; 4], 2, &mut y[..5]).unwrap_err();
    assert!(e.to_string().contains("y (m*n)"), "{e}");
    layer.forward(&[], 0, &mut []).unwrap();
}

#[test]
fn activation_parses_and_serialises_lowercase() {
    for a in Activation::ALL {
        assert_eq!(a.to_string().parse::<Activation>().unwrap(), a);
    }
    assert!("tanh".parse::<Activation>().unwrap_err().to_string().contains("tanh"));
}
