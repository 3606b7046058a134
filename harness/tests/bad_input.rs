//! Every bad value a user can type gives one line on stderr, a non-zero exit and no panic, fast:
//! the checks run before any model is built or any ceiling measured.

use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `hercules` with `args` and returns its exit code and stderr, checking it took under 20 s.
fn fails(args: &str) -> (i32, String) {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_hercules"))
        .args(args.split_whitespace())
        .output()
        .expect("running hercules");
    assert!(t.elapsed() < Duration::from_secs(20), "`{args}` took {:?}", t.elapsed());
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).trim_end().to_string())
}

#[test]
fn bad_values_are_one_line_errors() {
    let cases = [
        ("run --model noop --qps 1e-300 --duration 1s", "--qps 1e-300 must be a number from"),
        ("run --model sleep:1e300 --qps 10 --duration 1s", "not a number of microseconds from 0 to"),
        ("run --model noop --qps 1e12 --duration 1s", "--qps 1e12 must be a number from"),
        ("run --model noop --qps 1000000 --duration 100s", "arrivals, over the harness's bound"),
        ("run --model noop --qps 10 --duration 100000000h", "longer than the 7days"),
        ("run --model noop --closed 1000000000 --duration 1s", "bound of 100000 queries in flight"),
        ("run --model noop --qps -1 --duration 1s", "--qps -1 must be"),
        ("run --model noop --rows-scale NaN --qps 10 --duration 1s", "--rows-scale NaN must be above 0"),
        ("run --model noop --idle-watts -5 --qps 10 --duration 1s", "--idle-watts -5 must be"),
        ("run --model noop --schedule instances=1,threads=1,cores=0-18446744073709551615 --qps 10", "cores"),
        ("run --model noop --schedule instances=1,threads=1,cores=0-4000000000 --qps 10", "cores"),
        ("capacity --model noop --sla p95:10ms --start-qps 1e11 --max-qps 1e12", "--start-qps 1e11 must be"),
        ("capacity --model noop --sla p95:10ms --start-qps 0", "--start-qps 0 must be"),
        ("capacity --model noop --sla p95:10ms --start-qps -1", "--start-qps -1 must be"),
        ("capacity --model noop --sla p95:10ms --start-qps NaN", "--start-qps NaN must be"),
        ("capacity --model noop --sla p95:10ms --tolerance 0", "--tolerance 0 must be"),
        ("capacity --model noop --sla p95:10ms --max-trials 0", "--max-trials must be at least 1"),
        ("capacity --model noop --sla p95:10ms --repeats 0", "--repeats must be at least 1"),
        ("capacity --model noop --sla p95:10ms --repeats 100000", "--repeats 100000 is above"),
        (
            "capacity --model noop --sla p95:10ms --confidence 1.5",
            "--confidence 1.5 must be a number strictly",
        ),
        ("capacity --model noop --sla p95:10ms --confidence 0", "--confidence 0 must be a number strictly"),
        ("capacity --model noop --sla p95:10ms --confidence NaN", "--confidence NaN must be"),
        ("capacity --model noop --sla p95:10ms --max-drift -1", "--max-drift -1 must be"),
        ("profile --model noop --sla p95:10ms --repeats 0", "--repeats must be at least 1"),
        ("profile --model noop --sla p95:10ms --confidence 1", "--confidence 1 must be"),
        ("infer --model dlrm-rmc1 --batch 1 --rows-scale 0.001 --seconds inf", "--seconds inf must be"),
        ("infer --model dlrm-rmc1 --batch 1 --rows-scale 0.001 --seconds 1e300", "--seconds 1e300 must be"),
        ("infer --model dlrm-rmc1 --batch 1 --rows-scale 0.001 --seconds NaN", "--seconds NaN must be"),
        ("infer --model dlrm-rmc1 --batch 1 --rows-scale 0.001 --seconds -1", "--seconds -1 must be"),
        ("infer --model dlrm-rmc1 --batch 1 --rows-scale 0.001 --input-sets 0", "--input-sets must be"),
        ("infer --model dlrm-rmc1 --batch 1 --rows-scale 0.001 --inter-op --threads 1", "needs --threads 2"),
        ("kernels --op mlp --m 100000000 --k 100000 --n 100000", "above the harness's bound"),
        ("kernels --op embedding --table-mib 18446744073709551615", "above the harness's bound"),
        ("run --model noop --qps 10 --bogus", "unexpected argument '--bogus'"),
    ];
    for (args, want) in cases {
        let (code, err) = fails(args);
        assert_ne!(code, 0, "`{args}` succeeded");
        assert!(err.starts_with("error: ") && err.contains(want), "`{args}`: {err}");
        assert_eq!(err.lines().count(), 1, "`{args}` printed more than one line: {err}");
        assert!(!err.contains("panicked"), "`{args}`: {err}");
    }
}

#[test]
fn a_size_file_with_nan_is_refused_with_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sizes.txt");
    std::fs::write(&p, "100 NaN 200\n").unwrap();
    let (code, err) = fails(&format!("run --model noop --qps 10 --duration 1s --sizes file:{}", p.display()));
    assert_ne!(code, 0);
    assert!(err.contains("entry 2") && err.contains("not a finite number"), "{err}");
}

#[test]
fn os_errors_are_quoted_once() {
    let (_, err) = fails("run --model noop --qps 10 --duration 1s --sizes file:/nonexistent/sizes.txt");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    let (_, err) = fails("run --model noop --qps 10 --duration 1s --json /nonexistent/dir/x.json");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
}

#[test]
fn a_trace_index_past_the_table_is_an_error_unless_wrapping_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("trace.txt");
    std::fs::write(&p, "0 1 2\n1 3\n2 500\n3 4\n").unwrap();
    let base = format!("infer --model ncf --batch 4 --rows-scale 0.001 --dist trace:{}", p.display());
    let (code, err) = fails(&base);
    assert_ne!(code, 0);
    assert!(err.contains("index 500 is past table 2") && err.lines().count() == 1, "{err}");
    let (code, err) = fails("infer --model ncf --batch 4 --wrap-trace");
    assert_ne!(code, 0);
    assert!(err.contains("--wrap-trace applies to --dist trace:PATH"), "{err}");
    let o = Command::new(env!("CARGO_BIN_EXE_hercules"))
        .args(base.split_whitespace())
        .args(["--wrap-trace", "--seconds", "0", "--min-iters", "2", "--warmup", "1"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
