//! Side-by-side GFLOP/s of our fused Linear (bias + ReLU) and the `gemm` crate's plain GEMM over
//! the sweep, on 1 and 2 pinned threads, plus the machine's FP32 FMA peak.
//!
//! `cargo run -p hercules-kernels --release --example mlp_probe [-- M K N]`
//! Each cell: median of 7 repeats, each repeat ≥ 20 ms, ours and theirs interleaved (shared cores).
//! Ours is `Linear::forward_par` on a pinned pool of `thr` workers, the calling thread being worker 0
//! on the pool's first core; theirs is `gemm::gemm` called from the main thread with
//! `Parallelism::Rayon(thr)` (`None` for 1). `PROBE_CPU_TIME=1` times by process CPU time (for 1-thread runs on busy cores).

#[path = "../peers/gemm.rs"]
mod peer;

use hercules_kernels::mlp::{Activation, Linear};
use hercules_kernels::{Isa, PinnedPool};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::hint::black_box;
use std::time::{Duration, Instant};

const REPEATS: usize = 7;
const MIN_REPEAT: Duration = Duration::from_millis(20);

/// Iterations of `f` that take at least MIN_REPEAT.
fn calibrate(f: &mut dyn FnMut()) -> usize {
    let mut iters = 1;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        if t.elapsed() >= MIN_REPEAT {
            return iters;
        }
        iters *= 2;
    }
}

/// Seconds per call of `f`, over `iters` calls. `PROBE_CPU_TIME=1` counts the process CPU time
/// instead of wall time (1-thread runs only: robust when other jobs share the cores).
fn time(f: &mut dyn FnMut(), iters: usize) -> f64 {
    let cpu = std::env::var_os("PROBE_CPU_TIME").is_some();
    let (t, c0) = (Instant::now(), process_cpu_secs());
    for _ in 0..iters {
        f();
    }
    let secs = if cpu { process_cpu_secs() - c0 } else { t.elapsed().as_secs_f64() };
    secs / iters as f64
}

/// CPU time of the process (all threads), in seconds.
fn process_cpu_secs() -> f64 {
    clock_secs(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time of the calling thread, in seconds.
fn thread_cpu_secs() -> f64 {
    clock_secs(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn clock_secs(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to write into.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Seconds per call of `a` and of `b`, measured interleaved: (median a, median b, best a, best b).
fn race(a: &mut dyn FnMut(), b: &mut dyn FnMut()) -> [f64; 4] {
    let (ia, ib) = (calibrate(a), calibrate(b));
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..REPEATS {
        ta.push(time(a, ia));
        tb.push(time(b, ib));
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    [median(ta.clone()), median(tb.clone()), best(&ta), best(&tb)]
}

/// FP32 FMA peak of one core: 12 independent zmm FMA chains (covers 4-cycle latency × 2 ports).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_peak_avx512(iters: usize) -> f64 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); 12];
    let a = _mm512_set1_ps(black_box(0.999_999));
    let b = _mm512_set1_ps(black_box(1e-7));
    let cpu = std::env::var_os("PROBE_CPU_TIME").is_some();
    let (t, c0) = (Instant::now(), thread_cpu_secs());
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    let secs = if cpu { thread_cpu_secs() - c0 } else { t.elapsed().as_secs_f64() };
    black_box(acc);
    (iters * 12 * 16 * 2) as f64 / secs / 1e9
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let shapes: Vec<(usize, usize, usize)> = if args.len() == 3 {
        vec![(args[0], args[1], args[2])]
    } else {
        let kn = [(13, 512), (512, 256), (256, 64), (512, 512), (1024, 1024), (479, 1024)];
        kn.iter().flat_map(|&(k, n)| [1, 16, 64, 256, 1024].map(|m| (m, k, n))).collect()
    };
    println!("isa: {}", Isa::best());
    #[cfg(target_arch = "x86_64")]
    if Isa::Avx512.is_available() {
        let pool = PinnedPool::with_threads(1).expect("pool");
        let peaks: Vec<f64> = (0..REPEATS)
            .map(|_| {
                let gf = std::sync::Mutex::new(0.0);
                // SAFETY: AVX-512F checked available just above.
                pool.broadcast(|_, _| *gf.lock().unwrap() = unsafe { fma_peak_avx512(20_000_000) });
                gf.into_inner().unwrap()
            })
            .collect();
        println!("fp32 zmm FMA peak, 1 core: {:.1} GFLOP/s (median of {REPEATS})", median(peaks));
    }
    let max_threads = hercules_kernels::pool::allowed_cores().len().min(2);
    println!("| M | K | N | thr | ours GF/s | gemm GF/s | ours/gemm | ours best | gemm best |");
    println!("|---|---|---|---|---|---|---|---|---|");
    // Pools first, and rayon's global pool (the gemm crate's threads) started while this thread may
    // still use every core: entering a pool pins this thread to the pool's first core.
    let pools: Vec<PinnedPool> =
        (1..=max_threads).map(|t| PinnedPool::with_threads(t).expect("pool")).collect();
    rayon::broadcast(|_| ());
    let mut rng = StdRng::seed_from_u64(1);
    for &(m, k, n) in &shapes {
        let x: Vec<f32> = (0..m * k).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let w: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let layer = Linear::new(&w, Some(&b), k, n, Activation::Relu).expect("layer");
        let (mut y1, mut y2) = (vec![0.0f32; m * n], vec![0.0f32; m * n]);
        for pool in &pools {
            let threads = pool.threads();
            // This thread is the pool's worker 0 (as in a forward pass), and gemm's caller.
            let _pinned = pool.enter().expect("pin");
            let [ours, theirs, ours_best, theirs_best] = race(
                &mut || layer.forward_par(pool, &x, m, &mut y1).expect("forward"),
                // gemm is called from this thread, as its users would: `Rayon(2)` uses rayon's
                // global pool (2 workers here) and only above gemm's own size threshold.
                &mut || peer::gemm_crate_plain(&x, &w, m, k, n, &mut y2, threads),
            );
            let gf = |s: f64| layer.flops(m) / s / 1e9;
            println!(
                "| {m} | {k} | {n} | {threads} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} |",
                gf(ours),
                gf(theirs),
                theirs / ours,
                gf(ours_best),
                gf(theirs_best)
            );
        }
    }
}
