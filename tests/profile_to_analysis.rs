//! `hercules profile` writes efficiency tables the results schema validates and the analysis reads;
//! an interrupted or repeated profile resumes from its checkpoint instead of measuring again; bad
//! input fails in one line.

use hercules_e2e::workspace_bin;
use hercules_results::read_table;
use std::path::Path;
use std::process::{Command, Output};

/// A one-core profile of a model with a known service time (300 µs busy per sub-batch): two
/// schedules (split at 256 or not), short trials.
fn profile(out: &Path, extra: &[&str]) -> Output {
    Command::new(workspace_bin("hercules"))
        .args(["profile", "--model", "sleep:300", "--sla", "p95:20ms", "--sub-batches", "256"])
        .args(["--restrict-cores", "0", "--server-type", "tiny-1c", "--no-ceilings"])
        .args(["--trial-duration", "800ms", "--min-duration", "300ms", "--min-queries", "100"])
        .args(["--warmup", "100ms", "--max-trials", "8", "--tolerance", "0.1"])
        // The guard is unit-tested; here it would make the number of measurements depend on the host.
        .args(["--repeats", "2", "--no-guard"])
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn profile_writes_valid_tables_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = profile(dir.path(), &["--search", "all"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let table_path = dir.path().join("tiny-1c").join("sleep-300.json");
    let t = read_table(&table_path).unwrap();
    assert_eq!(t.server_type.name, "tiny-1c");
    assert_eq!(t.server_type.restricted_cores, Some(vec![0]));
    assert_eq!(t.search.algorithm, "exhaustive");
    assert_eq!(t.search.evaluations, 2, "1 instance x 1 thread, split at 256 or not");
    // One core serves at most 1 / 300 µs = 3333 sub-batches per second.
    assert!(t.best.latency_bounded_qps > 300.0 && t.best.latency_bounded_qps < 3400.0, "{:?}", t.best);
    assert!(t.best.p95_ms <= 20.0);
    // The finalists were measured at least twice (the noise-aware gradient may have re-measured them
    // already): the table's figure is the median, with an interval.
    let iv = t.best.interval.as_ref().expect("an interval over the repeated trials");
    assert!(iv.trials.len() >= 2, "{iv:?}");
    assert!(iv.low <= iv.median && iv.median <= iv.high && iv.median == t.best.latency_bounded_qps);
    assert!(t.default_schedule.interval.is_some() && t.best.tail.is_some());
    // Re-measured, the table's best is never behind the default.
    assert!(t.best.latency_bounded_qps >= t.default_schedule.latency_bounded_qps, "{t:?}");
    let prov = t.provenance.as_ref().expect("provenance");
    assert!(prov.command.contains("profile") && prov.host_id.starts_with("fnv1a64:"));
    assert_eq!(t.schema_version, hercules_results::TABLE_SCHEMA_VERSION);
    let md = std::fs::read_to_string(table_path.with_extension("md")).unwrap();
    assert!(
        md.contains("| best | ") && md.contains("Intervals: Student t") && md.contains("- Command: `"),
        "{md}"
    );
    assert!(!t.curve.is_empty() && !t.default_curve.is_empty());
    assert_eq!(t.power.source, hercules_results::PowerSource::Estimated, "no RAPL in this VM");
    for ext in ["csv", "md", "svg", "searches.json", "checkpoint.json"] {
        assert!(dir.path().join("tiny-1c").join(format!("sleep-300.{ext}")).exists(), "{ext}");
    }
    let cmp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("tiny-1c/sleep-300.searches.json")).unwrap(),
    )
    .unwrap();
    let names: Vec<&str> =
        cmp["searches"].as_array().unwrap().iter().map(|s| s["algorithm"].as_str().unwrap()).collect();
    assert_eq!(names, ["gradient", "deeprecsched", "random", "exhaustive"]);
    let evals = |k: usize| cmp["searches"][k]["evaluations"].as_u64().unwrap();
    assert!(evals(2) <= evals(0), "random gets the gradient's budget");

    // The same command again measures nothing new: every point comes from the checkpoint.
    let again = profile(dir.path(), &["--search", "exhaustive"]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("resuming 2 measured schedules"), "{stderr}");
    assert_eq!(read_table(&table_path).unwrap().best, t.best);

    // Resumed, a schedule an earlier run settled stays a finalist even when its first trial (all a
    // search reads) is below the default's: the medians rank them, as in the first run. The
    // checkpoint is edited so the split schedule's first trial reads 1000 and its median 3000, the
    // default's 2000 and 1500.
    let ckpt = dir.path().join("tiny-1c/sleep-300.checkpoint.json");
    let saved = std::fs::read_to_string(&ckpt).unwrap();
    let mut c: serde_json::Value = serde_json::from_str(&saved).unwrap();
    for e in c["evaluations"].as_array_mut().unwrap() {
        let split = !e["schedule"]["sub_batch"].is_null();
        let (first, median) = if split { (1000.0, 3000.0) } else { (2000.0, 1500.0) };
        e["qps"] = first.into();
        let samples = e["samples"].as_array_mut().unwrap();
        let one = samples[0].clone();
        samples.resize(2, one);
        for s in samples {
            s["qps"] = median.into();
            s["rejected"] = serde_json::Value::Null;
        }
    }
    std::fs::write(&ckpt, serde_json::to_string(&c).unwrap()).unwrap();
    let edited = profile(dir.path(), &["--search", "exhaustive"]);
    let stderr = String::from_utf8_lossy(&edited.stderr);
    assert!(edited.status.success() && stderr.contains("resuming 2 measured schedules"), "{stderr}");
    let best = read_table(&table_path).unwrap().best;
    assert_eq!((best.schedule.sub_batch, best.latency_bounded_qps), (Some(256), 3000.0), "{stderr}");
    std::fs::write(&ckpt, saved).unwrap();

    // Other settings refuse the checkpoint rather than mix runs.
    let other = profile(dir.path(), &["--seed", "7"]);
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert!(!other.status.success() && stderr.contains("--fresh"), "{stderr}");

    // A checkpoint another build (or machine) measured is measured afresh, not resumed.
    let ckpt = dir.path().join("tiny-1c/sleep-300.checkpoint.json");
    let mut c: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&ckpt).unwrap()).unwrap();
    c["key"]["measured_by"] = "0123abc built by rustc 1.0 on another CPU".into();
    std::fs::write(&ckpt, serde_json::to_string(&c).unwrap()).unwrap();
    let rebuilt = profile(dir.path(), &["--search", "exhaustive"]);
    let stderr = String::from_utf8_lossy(&rebuilt.stderr);
    assert!(rebuilt.status.success(), "{stderr}");
    assert!(stderr.contains("was measured by 0123abc") && stderr.contains("measuring afresh"), "{stderr}");
    assert!(!stderr.contains("resuming"), "{stderr}");

    // The analysis reads the table.
    let show =
        Command::new(workspace_bin("hercules-analysis")).arg("show").arg(&table_path).output().unwrap();
    assert!(show.status.success(), "{}", String::from_utf8_lossy(&show.stderr));
    assert!(String::from_utf8_lossy(&show.stdout).contains("tiny-1c"));
}

#[test]
fn profile_bad_input_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(workspace_bin("hercules"))
            .arg("profile")
            .args(args)
            .arg("--out")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let e = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(e.lines().count(), 1, "{e}");
        e
    };
    assert!(run(&["--model", "sleep:300"]).contains("no default SLA"));
    assert!(run(&["--model", "dlrm-rmc9", "--no-ceilings"]).contains("dlrm-rmc9"));
    assert!(run(&["--model", "ncf", "--search", "annealing"]).contains("annealing"));
    assert!(run(&["--model", "ncf", "--restrict-cores", "4096", "--no-ceilings"]).contains("4096"));
    assert!(run(&["--model", "ncf", "--sub-batches", "0"]).contains("--sub-batches"));
    assert!(run(&["--model", "ncf", "--gpu-streams", "0"]).contains("--gpu-streams"));
    if hercules_gpu::Device::open(0).is_err() {
        let e = run(&["--model", "ncf", "--gpu-thresholds", "128", "--no-ceilings"]);
        assert!(e.contains("--gpu-thresholds: no CUDA device"), "{e}");
    }
}

/// The GPU knobs through the whole offline stage, on the built-in model's host stand-in lane: the
/// search measures offloading schedules and the table records the threshold and streams it chose.
#[test]
fn profile_searches_the_gpu_lane_knobs() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        profile(dir.path(), &["--search", "exhaustive", "--gpu-thresholds", "64", "--gpu-streams", "1,2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let t = read_table(dir.path().join("tiny-1c").join("sleep-300.json")).unwrap();
    // 1x1 × (split at 256 or not) × (CPU only, or offload at 64 with 1 or 2 streams).
    assert_eq!(t.search.evaluations, 2 * 3);
    let text = std::fs::read_to_string(dir.path().join("tiny-1c/sleep-300.json")).unwrap();
    let text = serde_json::from_str::<serde_json::Value>(&text).unwrap()["search"].to_string();
    assert!(text.contains("\"gpu_threshold\":64") && text.contains("\"gpu_streams\":2"), "{text}");
}
