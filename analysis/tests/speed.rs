//! Solve-time checks on synthetic fleets (ignored by default: they take a minute). Run with
//! `cargo test --release -p hercules-analysis --test speed -- --ignored --nocapture`.

use hercules_analysis::cluster::{build_fleet, load_tables, read_cluster, Capacity, TableLoad};
use hercules_analysis::load::read_load_toml;
use hercules_analysis::policy::Backend;
use hercules_analysis::provision::{provision, Objective, PolicyKind, ProvisionOptions};
use hercules_analysis::synth::{synth, SynthOptions};
use std::time::{Duration, Instant};

fn run(models: usize, types: usize, slots: usize, budget: f64, objective: Objective) -> (f64, f64, usize) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d, &SynthOptions { models, types, slots, seed: 1, spare: 0.2 }).unwrap();
    let cluster = read_cluster(&d.join("cluster.toml")).unwrap();
    let load = read_load_toml(&d.join("load.toml")).unwrap();
    let (pool, _) = load_tables(&[d.join("tables")], TableLoad::Strict).unwrap();
    let fleet = build_fleet(&cluster, &d.join("cluster.toml"), &pool, &load.models, Capacity::Low).unwrap();
    let opts = ProvisionOptions {
        policies: vec![PolicyKind::Optimal],
        objective,
        headroom: 0.1,
        time_limit: Duration::from_secs_f64(budget),
        backend: Backend::Microlp,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let t0 = Instant::now();
    let r = provision(&fleet, &load, &opts, &|_| {});
    let secs = t0.elapsed().as_secs_f64();
    let t = &r.policies[0].totals;
    println!(
        "SYNTHETIC {slots} slots x {models} models x {types} types, {objective:?}: {secs:.3} s, {} of {slots} slots proven optimal, worst gap {:.3}%",
        t.slots_proven_optimal.unwrap(),
        100.0 * t.worst_gap.unwrap()
    );
    (secs, t.worst_gap.unwrap(), t.slots_proven_optimal.unwrap())
}

#[test]
#[ignore]
fn small_fleet_to_optimality_under_a_second() {
    for objective in [Objective::Servers, Objective::Power] {
        let (secs, gap, proven) = run(8, 6, 24, 10.0, objective);
        assert!(secs < 1.0 && gap == 0.0 && proven == 24, "{secs} s, gap {gap}");
    }
}

#[test]
#[ignore]
fn large_fleet_under_a_minute() {
    for objective in [Objective::Servers, Objective::Power] {
        let (secs, _gap, _) = run(200, 20, 288, 50.0, objective);
        assert!(secs < 60.0, "{secs} s");
    }
}
