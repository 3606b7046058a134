//! `read_cluster` (the analysis's `cluster.toml` inventory), then `build_fleet` against tables held in
//! memory, and the table-glob matcher on the patterns the file gives.
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_analysis::cluster::{build_fleet, glob_match, read_cluster, Capacity};
use hercules_results::{synthetic_table, EfficiencyTable, SyntheticSpec};
use std::path::PathBuf;
use std::sync::OnceLock;

fn pool() -> &'static Vec<(PathBuf, EfficiencyTable)> {
    static POOL: OnceLock<Vec<(PathBuf, EfficiencyTable)>> = OnceLock::new();
    POOL.get_or_init(|| {
        ["a", "b"]
            .iter()
            .map(|st| {
                let t = synthetic_table(&SyntheticSpec {
                    server_type: (*st).into(),
                    idle_watts: 50.0,
                    peak_watts: 100.0,
                    price: None,
                    model: "m".into(),
                    percentile: 95.0,
                    target_ms: 100.0,
                    qps: 1000.0,
                    default_qps: 500.0,
                    cores: 2,
                });
                (PathBuf::from(format!("{st}.json")), t)
            })
            .collect()
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = hercules_fuzz::scratch_file("cluster.toml", data);
    let mut file = match read_cluster(&path) {
        Err(e) => return hercules_fuzz::one_line("read_cluster", &e),
        Ok(f) => f,
    };
    for s in &mut file.server {
        // Table globs would be looked up on this machine's disk: match them against the name instead.
        if let Some(t) = s.tables.take() {
            let items = match t {
                hercules_analysis::cluster::OneOrMany::One(x) => vec![x],
                hercules_analysis::cluster::OneOrMany::Many(v) => v,
            };
            for p in items.iter().take(8) {
                let _ = glob_match(p, &s.name);
            }
        }
    }
    let models = vec!["m".to_string()];
    if let Err(e) = build_fleet(&file, &path, pool(), &models, Capacity::Low) {
        hercules_fuzz::one_line("build_fleet", &e);
    }
});
