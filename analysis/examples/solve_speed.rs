//! Times the optimal policy on random, deliberately adversarial instances (independent random QPS per
//! (model, type), random watts, counts that bind): `cargo run --release -p hercules-analysis --example
//! solve_speed -- SLOTS MODELS TYPES SPARE_PERCENT [SEED]`, e.g. `24 8 6 2`.
use hercules_analysis::instance::Instance;
use hercules_analysis::policy::{solve_slot, OptimalOptions};
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (slots, models, types, tight) = (args[0], args[1], args[2], args[3]);
    let seed = args.get(4).copied().unwrap_or(1) as u64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let qps: Vec<Vec<f64>> =
        (0..models).map(|_| (0..types).map(|_| rng.gen_range(100.0..2000.0)).collect()).collect();
    let cost: Vec<f64> = (0..types).map(|_| rng.gen_range(150.0..600.0)).collect();
    let peak: Vec<f64> = (0..models).map(|_| rng.gen_range(1000.0..50000.0)).collect();
    // Count so the fleet covers the peak with `tight` percent to spare when spread evenly.
    let need: f64 = (0..models).map(|m| peak[m] / 1000.0).sum();
    let count: Vec<u32> =
        (0..types).map(|_| ((need / types as f64) * (1.0 + tight as f64 / 100.0)).ceil() as u32).collect();
    let t0 = Instant::now();
    let mut worst_gap: f64 = 0.0;
    let mut methods = std::collections::BTreeMap::new();
    for t in 0..slots {
        let f = 0.3 + 0.7 * (0.5 + 0.5 * (t as f64 / slots as f64 * std::f64::consts::TAU).cos());
        let demand = peak.iter().map(|p| p * f * 1.1).collect();
        let inst = Instance { qps: qps.clone(), count: count.clone(), cost: cost.clone(), demand };
        let s = solve_slot(&inst, &OptimalOptions::default());
        worst_gap = worst_gap.max(s.gap);
        *methods.entry(format!("{}:{:?}", s.method, s.status)).or_insert(0) += 1;
        if s.seconds > 1.0 {
            eprintln!("slot {t}: {:.2}s {:?} {} gap {:.4}", s.seconds, s.status, s.method, s.gap);
        }
    }
    println!(
        "{slots}x{models}x{types}: {:.3}s, worst gap {worst_gap:.5}, {methods:?}",
        t0.elapsed().as_secs_f64()
    );
}
