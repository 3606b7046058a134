//! End-to-end tests of `hercules run` and `hercules capacity` with the built-in models: the JSON
//! they write, and clear one-line errors for bad input (never a hang).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn hercules(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hercules")).args(args).output().expect("running hercules")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn run_noop_writes_the_document_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (j, c) = (dir.path().join("run.json"), dir.path().join("run.csv"));
    let o = hercules(&[
        "run",
        "--model",
        "noop",
        "--schedule",
        "instances=1,threads=1,sub-batch=32",
        "--qps",
        "1000",
        "--duration",
        "1s",
        "--warmup",
        "100ms",
        "--sla",
        "p95:50ms",
        "--json",
        j.to_str().unwrap(),
        "--csv",
        c.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("p95_ms"));
    let d = json(&j);
    assert_eq!(d["schema_version"], 2);
    assert_eq!(d["kind"], "serve-run");
    assert_eq!(d["status"], "complete");
    assert_eq!(d["model"]["weights"], "shared");
    assert_eq!(d["schedule"]["threads_per_instance"], 1);
    assert_eq!(d["schedule"]["sub_batch"], 32);
    let r = &d["result"];
    let queries = r["measured_queries"].as_u64().unwrap();
    assert!((700..=1300).contains(&queries), "{queries} queries at 1000 QPS for 1 s");
    assert!(r["latency_ms"]["p99"].as_f64().unwrap() >= r["latency_ms"]["p50"].as_f64().unwrap());
    assert!(r["schedule_error_us"]["p99"].as_f64().is_some());
    assert_eq!(d["curve"].as_array().unwrap().len(), 1);
    // Honest fields: power is measured (rapl) or marked estimated; counters are numbers or null
    // with a reason.
    let src = r["power"]["source"].as_str().unwrap();
    assert!(src == "rapl" || src == "estimated", "{src}");
    for (name, v) in r["counters"].as_object().unwrap() {
        assert!(v["value"].is_number() != v["reason"].is_string(), "{name}: {v}");
    }
    assert!(r["counters"]["task_clock_ns"]["value"].as_f64().unwrap() > 0.0);
    let csv = std::fs::read_to_string(&c).unwrap();
    assert!(csv.starts_with("offered_qps,achieved_qps,p50_ms"), "{csv}");
    assert_eq!(csv.lines().count(), 2);
}

#[test]
fn unknown_model_lists_the_known_ones() {
    let o = hercules(&["run", "--model", "dlrm-rmc9", "--qps", "10", "--duration", "1s"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("unknown model `dlrm-rmc9`") && e.contains("noop"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
}

#[test]
fn schedule_that_does_not_fit_or_does_not_parse() {
    let o = hercules(&["run", "--model", "noop", "--schedule", "instances=64,threads=4", "--qps", "10"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("does not fit") && e.contains("256 cores"), "{e}");
    let o = hercules(&["run", "--model", "noop", "--schedule", "instances=1,thread=2", "--qps", "10"]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("`thread`"), "{e}");
    let o = hercules(&["capacity", "--model", "noop", "--sla", "p95", "--schedule", "instances=1"]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("SLA `p95`"), "{e}");
}

#[test]
fn unwritable_output_fails_before_measuring() {
    let t = Instant::now();
    let o = hercules(&[
        "run",
        "--model",
        "noop",
        "--qps",
        "10",
        "--duration",
        "30s",
        "--json",
        "/nonexistent-dir/r.json",
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("/nonexistent-dir/r.json") && e.contains("not writable"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5), "it measured first: {:?}", t.elapsed());
}

#[test]
fn unreachable_sla_is_reported_not_hung() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("cap.json");
    let t = Instant::now();
    // 20 ms of work per query can never meet p95 ≤ 1 ms, whatever the rate.
    let o = hercules(&[
        "capacity",
        // Tests run side by side: the host-noise guard would reject trials for each other's load.
        "--no-guard",
        "--model",
        "sleep:20000",
        "--sla",
        "p95:1ms",
        "--min-qps",
        "5",
        "--warmup",
        "100ms",
        "--trial-duration",
        "2s",
        "--min-duration",
        "500ms",
        "--calibrate",
        "300ms",
        "--json",
        j.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("unreachable") && e.contains("p95:1ms"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(40), "took {:?}", t.elapsed());
    let d = json(&j);
    assert_eq!(d["status"], "unreachable");
    assert!(d["best_qps"].is_null());
    assert!(!d["trials"][0]["run"]["trace"].as_array().unwrap().is_empty());
}

#[test]
fn capacity_of_a_known_model_converges() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("cap.json");
    // 1 ms per query, one instance: the answer lies below 1000 QPS.
    let o = hercules(&[
        "capacity",
        // Tests run side by side: the host-noise guard would reject trials for each other's load.
        "--no-guard",
        "--model",
        "sleep:1000",
        "--sizes",
        "fixed:1",
        "--sla",
        "p95:20ms",
        "--start-qps",
        "100",
        "--max-qps",
        "1000",
        "--tolerance",
        "0.1",
        "--warmup",
        "100ms",
        "--trial-duration",
        "2s",
        "--min-duration",
        "500ms",
        "--min-queries",
        "100",
        "--json",
        j.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let d = json(&j);
    assert_eq!(d["kind"], "capacity");
    let best = d["best_qps"].as_f64().unwrap();
    assert!(best > 50.0 && best < 1000.0, "{best}");
    assert_eq!(d["sla"]["target_ms"], 20.0);
    let run = &d["trials"][0]["run"];
    let curve = run["curve"].as_array().unwrap();
    assert_eq!(curve.len(), run["trace"].as_array().unwrap().len());
    assert!(curve.windows(2).all(|w| w[0]["offered_qps"].as_f64() <= w[1]["offered_qps"].as_f64()));
    // One trial: no interval, and the tail's interval from the query count.
    let iv = &d["summary"]["interval"];
    assert_eq!(iv["low"], iv["high"]);
    assert!(iv["method"].as_str().unwrap().starts_with("one trial"));
    let tail = &d["summary"]["tail"];
    assert!(tail["low_ms"].as_f64().unwrap() <= tail["high_ms"].as_f64().unwrap());
}

#[test]
fn repeated_capacity_reports_every_trial_and_an_interval() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("cap.json");
    let c = dir.path().join("cap.csv");
    let o = hercules(&[
        "capacity",
        "--model",
        "sleep:1000",
        "--sizes",
        "fixed:1",
        "--sla",
        "p95:20ms",
        "--start-qps",
        "100",
        "--max-qps",
        "1000",
        "--tolerance",
        "0.2",
        "--warmup",
        "100ms",
        "--trial-duration",
        "1s",
        "--min-duration",
        "300ms",
        "--min-queries",
        "50",
        "--repeats",
        "2",
        "--no-guard",
        "--json",
        j.to_str().unwrap(),
        "--csv",
        c.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("median") && out.contains("90% interval"), "{out}");
    let d = json(&j);
    let trials = d["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2);
    // Independent trials: their own arrivals.
    assert_ne!(trials[0]["seed"], trials[1]["seed"]);
    let iv = &d["summary"]["interval"];
    let (lo, med, hi) =
        (iv["low"].as_f64().unwrap(), iv["median"].as_f64().unwrap(), iv["high"].as_f64().unwrap());
    assert!(lo < med && med < hi, "{iv}");
    assert_eq!(iv["trials"].as_array().unwrap().len(), 2);
    assert_eq!(d["best_qps"].as_f64(), Some(med));
    // Probes are recorded even with the guard off.
    assert!(trials[0]["probe_before"]["fma_gflops"].as_f64().unwrap() > 0.0);
    // The model's own work is among them, timed before and after each trial.
    assert!(trials.iter().all(|t| t["probe_before"]["work_ms"].as_f64().unwrap() > 0.0
        && t["probe_after"]["work_ms"].as_f64().unwrap() > 0.0));
    // The CSV has one row per trial.
    assert_eq!(std::fs::read_to_string(&c).unwrap().lines().count(), 3);
}

#[test]
fn ctrl_c_leaves_finished_trials_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("cap.json");
    // A generous SLA: every trial passes and runs its full second, so the search keeps going
    // until the signal.
    let child = Command::new(env!("CARGO_BIN_EXE_hercules"))
        .args([
            "capacity",
            "--no-guard",
            "--model",
            "sleep:100",
            "--sla",
            "p95:1s",
            "--start-qps",
            "50",
            "--max-qps",
            "100000",
        ])
        .args([
            "--warmup",
            "100ms",
            "--trial-duration",
            "1s",
            "--min-duration",
            "1s",
            "--min-queries",
            "100000",
        ])
        .args(["--json", j.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !j.exists() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(e.contains("interrupted"), "{e}");
    let d = json(&j);
    assert_eq!(d["status"], "interrupted");
    assert!(!d["trials"][0]["run"]["trace"].as_array().unwrap().is_empty());
}
