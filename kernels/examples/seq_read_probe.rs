//! Sequential read rate of pinned cores by buffer size: where a batch-1 layer's weights
//! (streamed once per pass) are read from, and how fast that can be.
//!
//! `cargo run --release -p hercules-kernels --example seq_read_probe [-- MIB..]` (default 2 10 40 2048);
//! `THREADS=2` splits each buffer over two pinned cores (the shared L3's rate for two readers).

use hercules_kernels::ceiling::{seq_read, StreamArrays};
use hercules_kernels::PinnedPool;

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![2, 10, 40, 2048] } else { sizes };
    let threads = std::env::var("THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(1);
    let pool = PinnedPool::with_threads(threads).expect("pool");
    let _pinned = pool.enter().expect("pin");
    println!("| MiB | median GB/s | max GB/s |\n|---|---|---|");
    for mib in sizes {
        let a = StreamArrays::new(mib << 20).expect("buffers");
        let _ = seq_read(&pool, &a); // warm-up: brings a cache-sized buffer in
        let mut v: Vec<f64> = (0..21).map(|_| seq_read(&pool, &a)).collect();
        v.sort_by(f64::total_cmp);
        println!("| {mib} | {:.1} | {:.1} |", v[10], v[20]);
    }
}
