//! DLRM's dot interaction (`interaction::DotInteraction`) per ISA: GFLOP/s of the pairs over a
//! batch whose features stay in L2 (16 samples) and one that streams from memory (1024 samples of
//! MLPerf DLRM v1's 27 × 128, 14 MB), beside the same dots taken one pair at a time (the models'
//! loop before the blocked kernel) and beside the `gemm` crate computing each sample's whole Gram
//! matrix (PyTorch's reference does it with bmm), each pair of sides alternating round by round.
//!
//! `cargo run --release -p hercules-kernels --example interaction_probe [-- N D]`

mod common;
#[path = "../peers/gemm.rs"]
mod peer;

use common::alternate;
use hercules_kernels::interaction::DotInteraction;
use hercules_kernels::Isa;

/// One pair at a time, eight partial sums (vectorised by the baseline ISA).
fn pairwise(x: &[f32], n: usize, d: usize, out: &mut [f32]) {
    let mut k = 0;
    for i in 0..n {
        for j in 0..i {
            let mut acc = [0.0f32; 8];
            for (a, b) in x[i * d..(i + 1) * d].chunks(8).zip(x[j * d..(j + 1) * d].chunks(8)) {
                for l in 0..a.len() {
                    acc[l] += a[l] * b[l];
                }
            }
            out[k] = acc.iter().sum();
            k += 1;
        }
    }
}

fn main() {
    let arg = |i: usize, def: usize| std::env::args().nth(i).and_then(|s| s.parse().ok()).unwrap_or(def);
    let (n, d) = (arg(1, 27), arg(2, 128));
    // Speed-ups are medians of per-round ratios; every GFLOP/s counts the pairs' FLOPs.
    println!("| samples | isa | ns/sample | GFLOP/s | pair-at-a-time GFLOP/s | speed-up | gemm-crate Gram GFLOP/s | speed-up |");
    println!("|---|---|---|---|---|---|---|---|");
    for rows in [16usize, 1024] {
        let x: Vec<f32> = (0..rows * n * d).map(|i| (i % 7) as f32 * 0.1).collect();
        for isa in Isa::available() {
            let k = DotInteraction::with_isa(n, d, false, isa).expect("shape");
            let p = k.pairs();
            let mut out = vec![0.0f32; rows * p];
            let mut out0 = vec![0.0f32; rows * p];
            let flops = (2 * p * d * rows) as f64;
            let (t, t0, speedup) = alternate(
                || k.forward(|f| &x[f * d..], n * d, rows, &mut out, p, 0).expect("forward"),
                || {
                    for (xr, o) in x.chunks_exact(n * d).zip(out0.chunks_exact_mut(p)) {
                        pairwise(xr, n, d, o);
                    }
                },
            );
            let mut gram = vec![0.0f32; n * n];
            let (_, t1, vs_gemm) = alternate(
                || k.forward(|f| &x[f * d..], n * d, rows, &mut out, p, 0).expect("forward"),
                || {
                    for xs in x.chunks_exact(n * d) {
                        peer::gemm_crate_plain(xs, xs, n, d, n, &mut gram, 1);
                    }
                },
            );
            // FLOP/s of the pairs the model needs (the Gram computes them twice, plus the diagonal).
            println!(
                "| {rows} | {isa} | {:.0} | {:.1} | {:.1} | {speedup:.1} | {:.1} | {vs_gemm:.1} |",
                t / rows as f64 * 1e9,
                flops / t / 1e9,
                flops / t0 / 1e9,
                flops / t1 / 1e9
            );
        }
    }
}
