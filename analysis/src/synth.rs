//! `synth`: a synthetic fleet (tables, inventory, load) for scale tests and demos. Every table is
//! marked `synthetic: true` and every report made from them says so.

use hercules_results::{synthetic_table, write_bytes_atomic, write_json_atomic, SchemaError, SyntheticSpec};
use rand::{Rng, SeedableRng};
use std::fmt::Write;
use std::path::Path;

/// Size and seed of a synthetic fleet.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Models.
    pub models: usize,
    /// Server types.
    pub types: usize,
    /// Slots of the day in the generated load.
    pub slots: usize,
    /// Seed.
    pub seed: u64,
    /// Spare servers over what the peak needs, as a fraction (0.3 = 30 % more than needed).
    pub spare: f64,
}

/// SLA targets of SPEC §4, cycled over the synthetic models.
const TARGETS_MS: [f64; 8] = [5.0, 25.0, 25.0, 35.0, 100.0, 100.0, 100.0, 400.0];

/// Writes `dir/tables/*.json`, `dir/cluster.toml` and `dir/load.toml`. Returns the number of tables.
pub fn synth(dir: &Path, o: &SynthOptions) -> Result<usize, SchemaError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(o.seed);
    let tables_dir = dir.join("tables");
    std::fs::create_dir_all(&tables_dir)
        .map_err(|cause| SchemaError::Io { path: tables_dir.clone(), cause })?;
    // Types: faster ones draw more power, with scatter so that QPS per server and QPS per watt rank
    // types differently (which is what makes the greedy baselines disagree with the optimum).
    let types: Vec<(String, f64, f64, u32)> = (0..o.types)
        .map(|s| {
            let speed: f64 = rng.gen_range(0.5..3.0);
            let peak = (150.0 + 180.0 * speed * rng.gen_range(0.7..1.4)).round();
            (format!("synth-type-{s:02}"), speed, peak, 0)
        })
        .collect();
    let mut cluster_need = vec![0.0; o.types];
    let mut load = String::new();
    let _ = writeln!(load, "# SYNTHETIC load made by `hercules-analysis synth --seed {}`.", o.seed);
    let _ = writeln!(
        load,
        "slot_minutes = {}\nslots = {}\nseed = {}\n",
        24.0 * 60.0 / o.slots as f64,
        o.slots,
        o.seed
    );
    let mut written = 0;
    for m in 0..o.models {
        let name = format!("synth-model-{m:03}");
        let base: f64 = 10f64.powf(rng.gen_range(2.3..4.3));
        let target = TARGETS_MS[m % TARGETS_MS.len()];
        let mut any = false;
        for (s, (tname, speed, peak, _)) in types.iter().enumerate() {
            // A few (model, type) pairs have no table, as in a real fleet where not everything was
            // measured everywhere; every model keeps at least one type.
            let skip = rng.gen_bool(0.05);
            if skip && (any || s + 1 != types.len()) {
                continue;
            }
            any = true;
            // Affinity: some types suit some models much better (e.g. accelerators for MLP-heavy ones).
            let affinity = if rng.gen_bool(0.15) { rng.gen_range(1.5..3.0) } else { rng.gen_range(0.6..1.4) };
            let qps = (base * speed * affinity).round().max(1.0);
            let spec = SyntheticSpec {
                server_type: tname.clone(),
                idle_watts: (0.35 * peak).round(),
                peak_watts: *peak,
                price: None,
                model: name.clone(),
                percentile: 95.0,
                target_ms: target,
                qps,
                default_qps: (qps / rng.gen_range(1.5..4.0)).round().max(1.0),
                cores: 32,
            };
            write_json_atomic(tables_dir.join(format!("{tname}__{name}.json")), &synthetic_table(&spec))?;
            written += 1;
        }
        let peak_servers: f64 = rng.gen_range(2.0..40.0);
        let peak_qps = (base * peak_servers).round();
        // Spread the need for capacity over the types in proportion to their speed.
        for (s, t) in types.iter().enumerate() {
            cluster_need[s] += peak_servers / o.types as f64 / t.1.max(0.5);
        }
        let _ = writeln!(
            load,
            "[[model]]\nname = \"{name}\"\npeak_qps = {peak_qps}\ntrough_ratio = {:.2}\npeak_hour = {:.1}\nnoise = 0.03\n",
            rng.gen_range(0.2..0.5),
            rng.gen_range(12.0..22.0)
        );
    }
    let mut cluster = String::new();
    let _ = writeln!(cluster, "# SYNTHETIC inventory made by `hercules-analysis synth --seed {}`.\n", o.seed);
    for (s, (name, _, peak, _)) in types.iter().enumerate() {
        let count = (cluster_need[s] * (1.1 + o.spare) * rng.gen_range(0.6..1.4)).ceil().max(1.0) as u32;
        let _ = writeln!(
            cluster,
            "[[server]]\nname = \"{name}\"\ncount = {count}\nidle_watts = {}\npeak_watts = {peak}\n",
            (0.35 * peak).round()
        );
    }
    write_bytes_atomic(&dir.join("cluster.toml"), cluster.as_bytes())?;
    write_bytes_atomic(&dir.join("load.toml"), load.as_bytes())?;
    Ok(written)
}
