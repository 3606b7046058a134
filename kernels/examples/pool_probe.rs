//! Hand-off cost of `PinnedPool::broadcast`: an empty job on every worker, timed from the caller,
//! after a gap of serial work (long gaps let the helpers park), with the caller pinned to the
//! pool's first core (the forward passes' case) and unpinned (re-pinned for each call).
//!
//! `cargo run --release -p hercules-kernels --example pool_probe [-- THREADS]`

use hercules_kernels::pool::{allowed_cores, pin_current};
use hercules_kernels::PinnedPool;
use std::time::Instant;

/// Busy-waits `us` microseconds (serial work between hand-offs).
fn spin(us: f64) {
    let t = Instant::now();
    while t.elapsed().as_secs_f64() * 1e6 < us {
        std::hint::spin_loop();
    }
}

fn main() {
    let threads = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let pool = PinnedPool::with_threads(threads).expect("pool");
    println!("| caller | gap µs | median µs | p90 µs |\n|---|---|---|---|");
    for pinned in [false, true] {
        if pinned {
            pin_current(allowed_cores()[0]).expect("pin");
        }
        for gap in [0.0, 20.0, 100.0, 5000.0] {
            let mut v: Vec<f64> = (0..1000)
                .map(|_| {
                    spin(gap);
                    let t = Instant::now();
                    pool.broadcast(|_, _| {});
                    t.elapsed().as_secs_f64() * 1e6
                })
                .collect();
            v.sort_by(f64::total_cmp);
            let who = if pinned { "pinned" } else { "unpinned" };
            println!("| {who} | {gap} | {:.2} | {:.2} |", v[v.len() / 2], v[v.len() * 9 / 10]);
        }
    }
}
