//! `hercules roofline` and `hercules kernels` write documents the results crate reads, with figures
//! that are measurements (positive, consistent with each other), and bad input fails in one line.

use hercules_e2e::workspace_bin;
use hercules_results::{KernelReport, RooflineReport, BENCH_SCHEMA_VERSION};
use std::process::Command;

#[test]
fn kernels_quick_writes_a_readable_report() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("k.json");
    let csv = dir.path().join("k.csv");
    let out = Command::new(workspace_bin("hercules"))
        .args(["kernels", "--quick", "--repeats", "2", "--dim", "32", "--m", "16", "--json"])
        .arg(&json)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: KernelReport = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report.schema_version, BENCH_SCHEMA_VERSION);
    assert!(report.ceilings.fma_gflops.iter().all(|m| m.median > 0.0));
    let emb: Vec<_> = report.records.iter().filter(|r| r.op == "embedding").collect();
    let mlp: Vec<_> = report.records.iter().filter(|r| r.op == "mlp").collect();
    assert!(!emb.is_empty() && !mlp.is_empty());
    for r in &emb {
        let rows = r.rows_per_s.unwrap();
        let lookups = r.shape["lookups"].as_f64().unwrap() * r.shape["batch"].as_f64().unwrap();
        // rows/s is lookups per call over seconds per call.
        assert!((rows * r.seconds_median / lookups - 1.0).abs() < 1e-9);
        assert!(r.gbs.unwrap() > 0.0);
    }
    for r in &mlp {
        let s = &r.shape;
        let flops = 2.0 * s["m"].as_f64().unwrap() * s["k"].as_f64().unwrap() * s["n"].as_f64().unwrap();
        assert!((r.gflops.unwrap() * 1e9 * r.seconds_median / flops - 1.0).abs() < 1e-9);
        assert!(r.fraction_of_ceiling.unwrap() > 0.0);
    }
    // Both implementations of every MLP shape are in the same run.
    assert!(mlp.iter().any(|r| r.implementation == "gemm-crate"));
    // The dot interaction takes --dim as its feature width; GFLOP/s count the pairs' multiply-adds.
    let inter: Vec<_> = report.records.iter().filter(|r| r.op == "interaction").collect();
    assert!(inter.iter().any(|r| r.implementation == "hercules"));
    assert!(inter.iter().any(|r| r.implementation == "gemm-crate-gram"));
    for r in &inter {
        let s = &r.shape;
        let (n, d, b) =
            (s["features"].as_f64().unwrap(), s["dim"].as_f64().unwrap(), s["batch"].as_f64().unwrap());
        assert_eq!(d, 32.0);
        let flops = n * (n - 1.0) * d * b;
        assert!((r.gflops.unwrap() * 1e9 * r.seconds_median / flops - 1.0).abs() < 1e-9);
        assert!(r.fraction_of_ceiling.unwrap() > 0.0);
    }
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(csv.lines().count(), report.records.len() + 1);
}

#[test]
fn roofline_quick_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = Command::new(workspace_bin("hercules"))
        .args(["roofline", "--quick", "--repeats", "1", "--threads", "1", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: RooflineReport = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r.kind, "roofline");
    assert_eq!(r.ceilings.fma_gflops.len(), 1);
    assert!(r.ceilings.stream_triad_gbs[0].median > 0.0);
}

#[test]
fn bad_input_is_one_line_and_nonzero() {
    let cases: &[&[&str]] = &[
        &["roofline", "--threads", "100000"],
        &["roofline", "--threads", "0"],
        &["roofline", "--quick", "--json", "/nonexistent-dir/r.json"],
        &["kernels", "--quick", "--dtype", "int4"],
        &["kernels", "--quick", "--isa", "sse9"],
        &["kernels", "--quick", "--k", "13"],
        &["kernels", "--quick", "--op", "interaction", "--batch", "0"],
        &["kernels", "--quick", "--op", "mlp", "--m", "16", "--m", "0"],
    ];
    for args in cases {
        let out = Command::new(workspace_bin("hercules")).args(*args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains("error"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
