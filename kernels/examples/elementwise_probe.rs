//! The element-wise kernels (`elementwise::Elementwise`) per ISA on DIEN's shapes: one RNN step
//! (1024 samples × 64, L2-resident) and a whole layer's 40 steps (10 MB, from L3). Each beside
//! the scalar path (the models' loops before: the rational tanh one value at a time, libm's `expf`
//! per softmax element), alternating round by round, and beside a STREAM triad over arrays of the
//! same size on one pinned thread: the ceiling for an op that reads two arrays and writes one.
//! GB/s count those three streams (4 bytes each per element), for both ops.
//!
//! `cargo run --release -p hercules-kernels --example elementwise_probe`
//! (`kernels/peers/elementwise.py` runs it beside PyTorch's tanh and softmax.)

mod common;

use common::alternate;
use hercules_kernels::ceiling::{stream_triad, StreamArrays};
use hercules_kernels::elementwise::Elementwise;
use hercules_kernels::{Isa, PinnedPool};

const WIDTH: usize = 64;

fn main() {
    let pool = PinnedPool::with_threads(1).expect("one pinned thread");
    println!("| elements | op | isa | ns/element | GB/s | triad GB/s | of triad | vs scalar path |");
    println!("|---|---|---|---|---|---|---|---|");
    for len in [1024 * WIDTH, 40 * 1024 * WIDTH] {
        let mut arrays = StreamArrays::new(len * 4).expect("triad arrays");
        let mut triads: Vec<f64> = (0..21).map(|_| stream_triad(&pool, &mut arrays)).collect();
        triads.sort_by(f64::total_cmp);
        let triad = triads[triads.len() / 2];
        let a: Vec<f32> = (0..len).map(|i| ((i * 7919) % 2001) as f32 * 2e-3 - 2.0).collect();
        let b: Vec<f32> = (0..len).map(|i| ((i * 104_729) % 1999) as f32 * 1e-3 - 1.0).collect();
        let (mut out, mut x, mut o) = (vec![0.0f32; len], a.clone(), vec![0.0f32; len]);
        let scalar = Elementwise::with_isa(Isa::Scalar).expect("scalar");
        let row = |op: &str, isa: Isa, t: f64, speedup: f64| {
            let gbps = 12.0 * len as f64 / t / 1e9;
            println!(
                "| {len} | {op} | {isa} | {:.3} | {gbps:.1} | {triad:.1} | {:.2} | {speedup:.1} |",
                t / len as f64 * 1e9,
                gbps / triad
            );
        };
        for isa in Isa::available() {
            let ew = Elementwise::with_isa(isa).expect("isa");
            let mut out0 = vec![0.0f32; len];
            let (t, _, s) = alternate(
                || ew.tanh_of_sum(&a, &b, &mut out).expect("tanh"),
                || scalar.tanh_of_sum(&a, &b, &mut out0).expect("tanh"),
            );
            row("tanh(a + b)", isa, t, s);
            let (mut x0, mut o0) = (a.clone(), vec![0.0f32; len]);
            // `x` is scratch the op overwrites; after the first call it holds e^(x − max) ≤ 1,
            // still valid logits, so the rounds stay comparable.
            let (t, _, s) = alternate(
                || ew.add_softmax_rows(&mut x, &mut o, WIDTH).expect("softmax"),
                || scalar.add_softmax_rows(&mut x0, &mut o0, WIDTH).expect("softmax"),
            );
            row("o += softmax(x)", isa, t, s);
        }
    }
}
