//! End to end through the binary: a synthetic fleet, every policy, every output, and each bad input's
//! one-line error.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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
        "servers.svg",
    ] {
        let text = std::fs::read_to_string(out_dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(!text.is_empty(), "{f}");
        if f.ends_with(".svg") {
            assert!(text.contains("<svg") && text.contains("SYNTHETIC"), "{f}");
        }
    }
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(report.contains("**SYNTHETIC**") && report.contains("Replay"));
    // Every picture the report shows is written beside it.
    for link in report.split("](").skip(1).filter_map(|l| l.split(')').next()).filter(|l| l.ends_with(".svg"))
    {
        assert!(out_dir.join(link).exists(), "{link}");
    }
    assert_eq!(report.matches(".svg)").count(), 3);
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
    fails_with(provision(&d, &good_cluster, &l, &[]), "peak_qps must be in [0, 1e12] QPS (MAX_LOAD_QPS)");
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

    // A table whose interval's lower end exceeds its median.
    let table = std::fs::read_dir(d.join("tables")).unwrap().next().unwrap().unwrap().path();
    let original = std::fs::read_to_string(&table).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&original).unwrap();
    v["best"]["interval"] = interval(100.0, 120.0, 130.0);
    std::fs::write(&table, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    fails_with(
        provision(&d, &good_cluster, &good_load, &[]),
        "best.interval is not ordered: low 120 median 100 high 130",
    );

    // Tables of two schema versions in one plan, then a table of a newer schema than this build's.
    let version = format!("\"schema_version\": {}", hercules_results::TABLE_SCHEMA_VERSION);
    assert!(original.contains(&version));
    std::fs::write(&table, original.replacen(&version, "\"schema_version\": 1", 1)).unwrap();
    fails_with(
        provision(&d, &good_cluster, &good_load, &[]),
        "the tables mix schema versions: version 1 (1 tables, e.g. ",
    );
    std::fs::write(&table, original.replacen(&version, "\"schema_version\": 99", 1)).unwrap();
    fails_with(
        provision(&d, &good_cluster, &good_load, &[]),
        &format!(
            "schema_version 99 but this build reads versions 1 to {}",
            hercules_results::TABLE_SCHEMA_VERSION
        ),
    );
}

/// A `best.interval` object.
fn interval(median: f64, low: f64, high: f64) -> serde_json::Value {
    serde_json::json!({
        "median": median, "low": low, "high": high, "confidence": 0.9, "method": "test",
        "trials": [low, median, high], "rejected": []
    })
}

/// Peak servers of the greedy-by-QPS policy in a `provision --json` answer.
fn peak_servers(out: &std::process::Output) -> f64 {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["totals"].as_array().unwrap().iter().find(|p| p["policy"] == "greedy-qps").unwrap()["totals"]
        ["peak_servers"]
        .as_f64()
        .unwrap()
}

#[test]
fn capacity_is_the_interval_low_end_unless_median_is_asked_for() {
    let (_keep, d) = fleet();
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(d.join("tables")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    // Every table measured with an interval of [0.5, 1.1] × its median, at two commits, one dirty.
    for (k, f) in files.iter().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        let q = v["best"]["latency_bounded_qps"].as_f64().unwrap();
        v["best"]["interval"] = interval(q, 0.5 * q, 1.1 * q);
        v["synthetic"] = false.into();
        let (commit, dirty) = if k == 0 { ("bbbbbbb", true) } else { ("aaaaaaa", false) };
        v["provenance"] =
            serde_json::json!({"commit": commit, "dirty": dirty, "command": "test", "host_id": "h"});
        std::fs::write(f, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
    let run = |extra: &[&str]| {
        let args: Vec<&str> =
            ["--policy", "greedy-qps", "--headroom", "0", "--json"].iter().chain(extra).copied().collect();
        provision(&d, &d.join("cluster.toml"), &d.join("load.toml"), &args)
    };
    let low = run(&[]);
    let median = run(&["--capacity", "median"]);
    let (n_low, n_median) = (peak_servers(&low), peak_servers(&median));
    assert!(n_low > n_median, "half the capacity must need more servers: low {n_low}, median {n_median}");

    let warnings = String::from_utf8_lossy(&low.stderr);
    assert!(warnings.contains("warning: the tables come from different commits: aaaaaaa ("), "{warnings}");
    assert!(warnings.contains("bbbbbbb (1, e.g. "), "{warnings}");
    assert!(
        warnings
            .contains("warning: 1 of 12 tables were measured from a source tree with uncommitted changes"),
        "{warnings}"
    );
    assert!(!warnings.contains("no confidence interval"), "{warnings}");

    // One table measured once: its capacity is its measurement, and the planner is told.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[1]).unwrap()).unwrap();
    v["best"].as_object_mut().unwrap().remove("interval");
    std::fs::write(&files[1], serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let warnings = String::from_utf8_lossy(&run(&[]).stderr).into_owned();
    assert!(warnings.contains("warning: 1 of 12 tables have no confidence interval"), "{warnings}");
    let median = String::from_utf8_lossy(&run(&["--capacity", "median"]).stderr).into_owned();
    assert!(!median.contains("no confidence interval"), "{median}");
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

/// Runs with a wall-clock bound: a hang fails the test instead of stalling it.
fn within(limit: Duration, cmd: &mut Command) -> std::process::Output {
    let started = Instant::now();
    let mut child =
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            panic!("still running after {limit:?}: {cmd:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn provision_cmd(d: &Path, tables: &Path, load: &Path, extra: &[&str]) -> Command {
    let mut c = bin();
    c.arg("provision").arg("--tables").arg(tables).arg("--cluster").arg(d.join("cluster.toml"));
    c.arg("--load").arg(load).args(extra);
    c
}

/// Sets `best.latency_bounded_qps` of every table under `dir`.
fn set_table_qps(dir: &Path, qps: f64) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        v["best"]["latency_bounded_qps"] = serde_json::json!(qps);
        std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
}

#[test]
fn numeric_flags_fail_with_one_line_naming_range_and_unit() {
    let (_keep, d) = fleet();
    let (c, l) = (d.join("cluster.toml"), d.join("load.toml"));
    for t in ["1e300", "NaN", "-1", "inf", "0"] {
        fails_with(provision(&d, &c, &l, &["--time-limit", t]), "--time-limit must be in (0, 86400] s");
    }
    fails_with(provision(&d, &c, &l, &["--time-limit", "1e300"]), "MAX_TIME_LIMIT_S), got 1e300");
    fails_with(provision(&d, &c, &l, &["--slot-minutes", "0"]), "--slot-minutes must be in (0, 10080] min");
    fails_with(provision(&d, &c, &l, &["--headroom", "NaN"]), "--headroom must be in [0, 100]");
    fails_with(provision(&d, &c, &l, &["--threads", "0"]), "--threads must be in [1, 1024]");
    // clap's own parse errors are one line too.
    fails_with(provision(&d, &c, &l, &["--threads", "many"]), "invalid value 'many' for '--threads");
    let out = d.join("s");
    for spare in ["NaN", "-1", "1e30"] {
        let o = bin().args(["synth", "--spare", spare, "--out"]).arg(&out).output().unwrap();
        fails_with(o, "--spare must be in [0, 100] as a fraction of the need (MAX_SPARE)");
    }
    let o =
        within(Duration::from_secs(10), bin().args(["synth", "--models", "100000000", "--out"]).arg(&out));
    fails_with(o, "--models must be in [1, 1000] (MAX_MODELS), got 100000000");
    assert!(!out.exists(), "nothing written for a rejected fleet");
}

#[test]
fn resource_bounds_fail_fast_at_parse_time() {
    let (_keep, d) = fleet();
    let load = std::fs::read_to_string(d.join("load.toml")).unwrap();
    let huge = d.join("huge.toml");
    std::fs::write(&huge, load.replace("slots = 24", "slots = 100000000")).unwrap();
    let o = within(Duration::from_secs(10), &mut provision_cmd(&d, &d.join("tables"), &huge, &[]));
    fails_with(o, "slots must be in [1, 10080] (MAX_SLOTS), got 100000000");
    let trace = d.join("far.csv");
    std::fs::write(&trace, "slot,model,qps\n99999999999,synth-model-000,5\n").unwrap();
    let o = within(Duration::from_secs(10), &mut provision_cmd(&d, &d.join("tables"), &trace, &[]));
    fails_with(o, "line 2: slot 99999999999 is beyond the last allowed slot 10079 (MAX_SLOTS = 10080)");
    for qps in [1e15, 1e308] {
        set_table_qps(&d.join("tables"), qps);
        let o = within(
            Duration::from_secs(10),
            &mut provision_cmd(&d, &d.join("tables"), &d.join("load.toml"), &["--time-limit", "3"]),
        );
        fails_with(o, "exceeds the bound of 1e9 QPS per server (MAX_SERVER_QPS)");
    }
}

#[test]
fn the_time_limit_holds_on_extreme_but_allowed_inputs() {
    let (_keep, d) = fleet();
    // Servers at the QPS bound against ordinary load, and a load far below one server: each needs
    // one server per model, which the searches used to round to zero and then loop on.
    let tiny = d.join("tiny.csv");
    std::fs::write(&tiny, "slot,model,qps\n0,synth-model-000,0.000001\n").unwrap();
    let o = within(
        Duration::from_secs(20),
        &mut provision_cmd(&d, &d.join("tables"), &tiny, &["--time-limit", "1"]),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("| optimal | 1 |"));
    set_table_qps(&d.join("tables"), 1e9);
    let o = within(
        Duration::from_secs(20),
        &mut provision_cmd(&d, &d.join("tables"), &d.join("load.toml"), &["--time-limit", "3", "--json"]),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for p in v["totals"].as_array().unwrap() {
        assert_eq!(p["totals"]["slots_short"], 0, "{p}");
    }
}

#[test]
fn the_time_limit_holds_over_many_slots() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = bin()
        .args(["synth", "--models", "8", "--types", "6", "--slots", "3000", "--out"])
        .arg(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Each slot used to get at least 10 ms whatever the budget; past the budget, slots now get the
    // greedy plan, marked unsolved.
    let started = Instant::now();
    let o = within(
        Duration::from_secs(60),
        &mut provision_cmd(
            d,
            &d.join("tables"),
            &d.join("load.toml"),
            &["--policy", "optimal", "--time-limit", "0.5", "--threads", "1", "--json"],
        ),
    );
    let secs = started.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["totals"][0]["totals"];
    assert!(t["solve_seconds"].as_f64().unwrap() < 2.0, "{t} after {secs} s");
    assert!(t["slots_unsolved"].as_u64().unwrap() > 0, "{t}");
}

#[test]
fn a_broken_table_in_a_folder_is_an_error_or_a_listed_skip() {
    let (_keep, d) = fleet();
    let tables: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> =
            std::fs::read_dir(d.join("tables")).unwrap().map(|e| e.unwrap().path()).collect();
        v.sort();
        v
    };
    // Truncated, and NaN as Python's json writes it (not JSON at all).
    let text = std::fs::read_to_string(&tables[0]).unwrap();
    std::fs::write(&tables[0], &text[..text.len() / 2]).unwrap();
    let nan = std::fs::read_to_string(&tables[1]).unwrap();
    let at = nan.find("\"latency_bounded_qps\": ").unwrap() + "\"latency_bounded_qps\": ".len();
    let end = at + nan[at..].find([',', '\n']).unwrap();
    std::fs::write(&tables[1], format!("{}NaN{}", &nan[..at], &nan[end..])).unwrap();
    let name0 = tables[0].file_name().unwrap().to_string_lossy().into_owned();
    fails_with(provision(&d, &d.join("cluster.toml"), &d.join("load.toml"), &[]), &name0);
    // A document of another kind stays silently skipped.
    std::fs::write(d.join("tables/other.json"), "{\"kind\": \"roofline\"}").unwrap();
    let o = provision(
        &d,
        &d.join("cluster.toml"),
        &d.join("load.toml"),
        &["--skip-invalid", "--policy", "greedy-qps"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning: skipped ")).collect();
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(warnings[0].contains(&name0) && !err.contains("other.json"), "{err}");
    assert!(warnings[1].contains(&*tables[1].file_name().unwrap().to_string_lossy()), "{err}");
}

#[test]
fn an_infeasible_cluster_reports_no_fake_savings_or_gaps() {
    let (_keep, d) = fleet();
    let cluster = std::fs::read_to_string(d.join("cluster.toml")).unwrap();
    let small: String = cluster
        .lines()
        .map(|l| if l.starts_with("count = ") { "count = 1" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    let c = d.join("small.toml");
    std::fs::write(&c, small).unwrap();
    let out_dir = d.join("out");
    let o =
        provision(&d, &c, &d.join("load.toml"), &["--time-limit", "3", "--out", out_dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(!stdout.contains("0.0% fewer"), "{stdout}");
    assert!(
        stdout.contains("optimal vs greedy-qps: n/a (infeasible: optimal leaves 24 of 24 slots short"),
        "{stdout}"
    );
    assert!(stdout.contains("| optimal | 3 |") && stdout.contains("| n/a |"), "{stdout}");
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        report.contains("0 of 24 slots proven optimal, 24 infeasible") && report.contains("worst gap n/a"),
        "{report}"
    );
    let savings = std::fs::read_to_string(out_dir.join("savings.csv")).unwrap();
    assert!(savings.lines().nth(1).unwrap().contains(",,,,,\"infeasible: "), "{savings}");
}

#[test]
fn os_errors_are_quoted_once() {
    let (_keep, d) = fleet();
    let missing = d.join("absent.toml");
    for o in [
        provision(&d, &missing, &d.join("load.toml"), &[]),
        provision(&d, &d.join("cluster.toml"), &d.join("absent.csv"), &[]),
        bin().arg("show").arg(d.join("absent.json")).output().unwrap(),
    ] {
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
        fails_with(o, "No such file or directory");
    }
}
