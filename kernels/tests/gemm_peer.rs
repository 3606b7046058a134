//! The `gemm` crate peer (`peers/gemm.rs`) computes the layer the kernels compute.

#[path = "../peers/gemm.rs"]
mod peer;

use hercules_kernels::mlp::{linear_reference, Activation};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn random(len: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

#[test]
fn gemm_crate_peer_matches_reference() {
    let (m, k, n) = (13, 70, 40);
    let mut rng = StdRng::seed_from_u64(3);
    let (x, w, b) = (random(m * k, &mut rng), random(n * k, &mut rng), random(n, &mut rng));
    let want = linear_reference(&x, &w, Some(&b), m, k, n, Activation::Sigmoid);
    let mut y = vec![0.0; m * n];
    peer::gemm_crate_linear(&x, &w, Some(&b), m, k, n, Activation::Sigmoid, &mut y, 1);
    for (g, e) in y.iter().zip(&want) {
        assert!((g - e).abs() < 1e-4, "{g} vs {e}");
    }
}
