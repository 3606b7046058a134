//! End-to-end tests of `hercules profile` with tiny, fast settings: a changed spec file is measured
//! afresh, a search that did not cover the grid claims no optimum, and bad flags fail in one line
//! before anything (not even the machine's ceilings) is measured.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Seconds a refused command may take: far below measuring the ceilings or any schedule.
const QUICK: Duration = Duration::from_secs(20);

fn hercules(args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hercules"))
        .arg("profile")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("running hercules")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// One core, short trials, exhaustive search; `extra` adds the model and the rest.
fn fast_profile(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--restrict-cores", "0", "--server-type", "t", "--no-ceilings", "--no-gpu"];
    args.extend(["--trial-duration", "300ms", "--min-duration", "100ms", "--min-queries", "20"]);
    args.extend(["--warmup", "50ms", "--max-trials", "3", "--tolerance", "0.3", "--search", "exhaustive"]);
    // Tests run side by side: the host-noise guard would reject trials for each other's load.
    args.extend(["--repeats", "1", "--no-guard"]);
    args.extend(extra);
    hercules(&args, out)
}

/// Runs a refused profile (the ceilings not skipped, so any measuring would be slow): one line on
/// stderr, fast, nothing written under `--out`.
fn refused(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let t0 = Instant::now();
    let o = hercules(args, &out);
    let e = stderr(&o).trim().to_string();
    assert!(!o.status.success(), "{args:?} succeeded: {e}");
    assert!(t0.elapsed() < QUICK, "{args:?} took {:?}: it measured before refusing", t0.elapsed());
    assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
    assert!(!out.exists(), "{args:?} created --out before refusing");
    e
}

/// A small valid NCF spec (`rows` in its first table), fast to build and serve.
fn tiny_spec(rows: u32) -> String {
    format!(
        r#"{{
  "name": "tiny",
  "description": "A tiny NCF for harness tests.",
  "tables": [
    {{"name": "mf_user", "rows": {rows}, "dim": 4, "lookups": 1}},
    {{"name": "mf_item", "rows": 100, "dim": 4, "lookups": 1}},
    {{"name": "mlp_user", "rows": 100, "dim": 4, "lookups": 1}},
    {{"name": "mlp_item", "rows": 100, "dim": 4, "lookups": 1}}
  ],
  "blocks": [{{"kind": "ncf", "mf": ["mf_user", "mf_item"], "mlp_tables": ["mlp_user", "mlp_item"],
              "mlp": {{"widths": [8, 8]}}}}],
  "interaction": {{"kind": "cat"}},
  "top_mlp": {{"widths": [12, 1], "last": "none"}}
}}"#
    )
}

#[test]
fn an_edited_spec_file_is_measured_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("tiny.json");
    std::fs::write(&spec, tiny_spec(100)).unwrap();
    let out = dir.path().join("out");
    let args = [
        "--model",
        spec.to_str().unwrap(),
        "--sla",
        "p95:50ms",
        "--sizes",
        "fixed:4",
        "--sub-batches",
        "1024",
    ];
    let first = fast_profile(&out, &args);
    assert!(first.status.success(), "{}", stderr(&first));

    let same = fast_profile(&out, &args);
    let e = stderr(&same);
    assert!(same.status.success() && e.contains("resuming 2 measured schedules"), "{e}");

    std::fs::write(&spec, tiny_spec(200)).unwrap();
    let edited = fast_profile(&out, &args);
    let e = stderr(&edited);
    assert!(edited.status.success(), "{e}");
    let line: Vec<&str> = e.lines().filter(|l| l.contains("changed since checkpoint")).collect();
    assert_eq!(line.len(), 1, "{e}");
    assert!(line[0].contains("tiny.json") && line[0].ends_with("measuring afresh"), "{e}");
    assert!(!e.contains("resuming"), "{e}");
}

#[test]
fn an_exhaustive_search_cut_short_claims_no_optimum() {
    let dir = tempfile::tempdir().unwrap();
    let model = ["--model", "sleep:300", "--sla", "p95:20ms"];
    // One core: seven split sizes and no split, eight schedules; the budget allows one.
    let cut = fast_profile(
        dir.path(),
        &[&model[..], &["--sub-batches", "16,32,64,128,256,512,1024", "--budget", "1"]].concat(),
    );
    let (o, e) = (stdout(&cut), stderr(&cut));
    assert!(cut.status.success(), "{e}");
    assert!(o.contains("sleep:300: exhaustive stopped at budget: 1 of 8 schedules, optimum unknown"), "{o}");
    assert!(!o.contains("100.0%") && o.contains("unknown"), "{o}");
    let cmp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("t/sleep-300.searches.json")).unwrap())
            .unwrap();
    assert!(cmp["optimum_unknown"].as_str().unwrap().contains("1 of 8"), "{cmp}");
    assert!(cmp["searches"][0]["of_optimum"].is_null(), "{cmp}");

    // Over the whole grid the optimum is known.
    let full = fast_profile(dir.path(), &[&model[..], &["--sub-batches", "256", "--fresh"]].concat());
    let o = stdout(&full);
    assert!(full.status.success(), "{}", stderr(&full));
    assert!(o.contains("100.0%") && !o.contains("optimum unknown"), "{o}");
}

#[test]
fn server_types_that_could_leave_out_fail_before_measuring() {
    for bad in ["../../../etc/evil", "", ".", "..", "a/b", "a b", &"x".repeat(65)] {
        let e = refused(&["--model", "sleep:300", "--sla", "p95:20ms", "--server-type", bad]);
        assert!(e.starts_with("error: --server-type `") && e.contains("A-Z a-z 0-9 . _ -"), "{e}");
    }
}

#[test]
fn bad_numeric_flags_fail_in_one_line_before_measuring() {
    let cases: &[(&[&str], &str)] = &[
        (&["--budget", "0"], "--budget"),
        (&["--time-budget", "0s"], "--time-budget"),
        (&["--time-budget", "1000000h"], "--time-budget"),
        (&["--idle-watts", "NaN"], "--idle-watts"),
        (&["--idle-watts=-5"], "--idle-watts"),
        (&["--idle-watts", "1e300"], "--idle-watts"),
        (&["--peak-watts", "inf"], "--peak-watts"),
        (&["--idle-watts", "200", "--peak-watts", "100"], "--peak-watts"),
        (&["--price", "NaN"], "--price"),
        (&["--price=-1"], "--price"),
        (&["--price", "1e300"], "--price"),
        (&["--rows-scale", "NaN"], "--rows-scale"),
        (&["--rows-scale", "0"], "--rows-scale"),
        (&["--rows-scale", "1e30"], "--rows-scale"),
        (&["--sub-batches", "0"], "--sub-batches"),
        (&["--sub-batches", "99999999999"], "--sub-batches"),
        (&["--gpu-thresholds", "0"], "--gpu-thresholds"),
        (&["--gpu-thresholds", "99999999999"], "--gpu-thresholds"),
        (&["--gpu-streams", "0"], "--gpu-streams"),
        (&["--gpu-streams", "100000"], "--gpu-streams"),
        (&["--trial-duration", "0s"], "--trial-duration"),
        (&["--trial-duration", "1000000h"], "--trial-duration"),
        (&["--min-duration", "10s"], "--min-duration"),
        (&["--warmup", "1000000h"], "--warmup"),
        (&["--min-queries", "0"], "--min-queries"),
        (&["--max-trials", "0"], "--max-trials"),
        (&["--tolerance", "NaN"], "--tolerance"),
        (&["--tolerance", "2"], "--tolerance"),
    ];
    for (flags, name) in cases {
        let args = [&["--model", "sleep:300", "--sla", "p95:20ms"][..], flags].concat();
        let e = refused(&args);
        assert!(e.contains(name), "{flags:?}: {e}");
    }
}

#[test]
fn restricted_cores_are_checked_before_measuring() {
    let model = ["--model", "sleep:300", "--sla", "p95:20ms"];
    let e = refused(&[&model[..], &["--restrict-cores", "0-4000000000"]].concat());
    assert!(e.contains("--restrict-cores") && e.contains("4000000000"), "{e}");
    // The highest core number a list may name, and no machine this runs on has it.
    let e = refused(&[&model[..], &["--restrict-cores", "4096"]].concat());
    assert!(e.contains("--restrict-cores: core 4096 is not usable"), "{e}");
}
