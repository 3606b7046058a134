//! End to end through the binary: a synthetic fleet, every policy, every output, and each bad input's
//! one-line error.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hercules-analysis"))
}

/// A small synthetic fleet in a fresh directory.
fn fleet() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let out = bin()
        .args(["synth", "--models", "4", "--types", "3", "--slots", "24", "--seed", "3", "--out"])
        .arg(&d)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SYNTHETIC"));
    (dir, d)
}

fn provision(d: &Path, cluster: &Path, load: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .arg("provision")
        .arg("--tables")
        .arg(d.join("tables"))
        .arg("--cluster")
        .arg(cluster)
        .arg("--load")
        .arg(load)
        .args(extra)
        .output()
        .unwrap()
}

/// Runs and expects failure with exactly one line on stderr containing `want`.
fn fails_with(out: std::process::Output, want: &str) {
    assert!(!out.status.success(), "should fail: {want}");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(want), "want `{want}`, got `{}`", lines[0]);
}

#[test]
fn end_to_end_on_synthetic_tables() {
    let (_keep, d) = fleet();
    let out_dir = d.join("out");
    let out = provision(
        &d,
        &d.join("cluster.toml"),
        &d.join("load.toml"),
        &["--policy", "all", "--objective", "power", "--out", out_dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("SYNTHETIC") && stdout.contains("| optimal |"), "{stdout}");
    for f in [
        "provision.json",
        "plan.csv",
        "totals.csv",
        "savings.csv",
        "report.md",
        "load_vs_capacity.svg",
        "power.svg",
        "servers_optimal.svg",
        "servers_greedy-qps.svg",
        "servers_greedy-eff.svg",
    ] {
        let text = std::fs::read_to_string(out_dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(!text.is_empty(), "{f}");
        if f.ends_with(".svg") {
            assert!(text.contains("<svg") && text.contains("SYNTHETIC"), "{f}");
        }
    }
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(report.contains("**SYNTHETIC**") && report.contains("Replay"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("provision.json")).unwrap()).unwrap();
    assert_eq!(json["synthetic"], true);
    let policies = json["policies"].as_array().unwrap();
    assert_eq!(policies.len(), 3);
    // The optimum provisions no more peak power than either greedy (it minimises it per slot, and the
    // peak slot's optimum is at most the greedy's plan for that slot).
    let peak = |i: usize| policies[i]["totals"]["peak_provisioned_watts"].as_f64().unwrap();
    assert!(peak(2) <= peak(0) + 1e-6 && peak(2) <= peak(1) + 1e-6);
    assert_eq!(policies[2]["slots"].as_array().unwrap().len(), 24);
    let plan = std::fs::read_to_string(out_dir.join("plan.csv")).unwrap();
    assert!(plan.lines().nth(1).unwrap().starts_with("true,"), "synthetic column");

    // Summary formats.
    let j = provision(&d, &d.join("cluster.toml"), &d.join("load.toml"), &["--policy", "optimal", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v["synthetic"], true);
    let c =
        provision(&d, &d.join("cluster.toml"), &d.join("load.toml"), &["--policy", "greedy-qps", "--csv"]);
    assert!(String::from_utf8_lossy(&c.stdout).starts_with("synthetic,policy,peak_servers"));

    // A CSV trace works the same way.
    let trace = d.join("trace.csv");
    let models: Vec<String> =
        json["models"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().into()).collect();
    let mut t = String::from("slot,model,qps\n");
    for slot in 0..3 {
        for m in &models {
            t.push_str(&format!("{slot},{m},{}\n", 100 * (slot + 1)));
        }
    }
    std::fs::write(&trace, t).unwrap();
    let out = provision(&d, &d.join("cluster.toml"), &trace, &["--slot-minutes", "20"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // `show` renders a table.
    let table = std::fs::read_dir(d.join("tables")).unwrap().next().unwrap().unwrap().path();
    let show = bin().arg("show").arg(&table).output().unwrap();
    assert!(String::from_utf8_lossy(&show.stdout).contains("SYNTHETIC"));
}

#[test]
fn bad_inputs_each_give_one_clear_line() {
    let (_keep, d) = fleet();
    let cluster = std::fs::read_to_string(d.join("cluster.toml")).unwrap();
    let load = std::fs::read_to_string(d.join("load.toml")).unwrap();
    let write = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let good_load = d.join("load.toml");
    let good_cluster = d.join("cluster.toml");

    // A server type with no tables.
    let c = write(
        "ghost.toml",
        &format!("{cluster}\n[[server]]\nname = \"ghost\"\ncount = 3\nidle_watts = 50\npeak_watts = 100\n"),
    );
    fails_with(provision(&d, &c, &good_load, &[]), "server type `ghost` has no efficiency tables");

    // A model with load and no table anywhere.
    let l = write("orphan.toml", &format!("{load}\n[[model]]\nname = \"orphan\"\npeak_qps = 10\n"));
    fails_with(provision(&d, &good_cluster, &l, &[]), "model `orphan` has load but no efficiency table");

    // Negative and NaN loads, in the generator and in a trace.
    let l = write("neg.toml", &load.replacen("peak_qps = ", "peak_qps = -", 1));
    fails_with(provision(&d, &good_cluster, &l, &[]), "peak_qps must be a finite non-negative number");
    let first_peak = load.lines().find(|l| l.starts_with("peak_qps")).unwrap();
    let l = write("nan.toml", &load.replacen(first_peak, "peak_qps = nan", 1));
    fails_with(provision(&d, &good_cluster, &l, &[]), "got NaN");
    let t = write("neg.csv", "slot,model,qps\n0,synth-model-000,-3\n");
    fails_with(provision(&d, &good_cluster, &t, &[]), "line 2: qps -3 is negative or not a number");
    let t = write("nan.csv", "slot,model,qps\n0,synth-model-000,NaN\n");
    fails_with(provision(&d, &good_cluster, &t, &[]), "qps NaN is negative or not a number");

    // Duplicate type names.
    let first = cluster.split("[[server]]").nth(1).unwrap();
    let c = write("dup.toml", &format!("{cluster}\n[[server]]{first}"));
    fails_with(provision(&d, &c, &good_load, &[]), "is listed twice");

    // Empty traces.
    let t = write("empty.csv", "");
    fails_with(provision(&d, &good_cluster, &t, &[]), "the trace is empty");
    let t = write("header.csv", "slot,model,qps\n");
    fails_with(provision(&d, &good_cluster, &t, &[]), "no rows");

    // A table of a newer schema.
    let table = std::fs::read_dir(d.join("tables")).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(&table).unwrap().replacen(
        "\"schema_version\": 1",
        "\"schema_version\": 2",
        1,
    );
    std::fs::write(&table, text).unwrap();
    fails_with(
        provision(&d, &good_cluster, &good_load, &[]),
        "schema_version 2 but this build reads version 1",
    );
}

#[test]
fn shipped_example_inputs_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/provisioning");
    let load = hercules_analysis::load::read_load_toml(&root.join("load.toml")).unwrap();
    assert_eq!((load.qps.len(), load.models.len()), (24, 8));
    for name in ["cluster.example.toml", "cluster.toml"] {
        let cluster = hercules_analysis::cluster::read_cluster(&root.join(name)).unwrap();
        assert_eq!(cluster.server.len(), 2, "{name}");
    }
}
