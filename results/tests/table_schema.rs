//! The efficiency-table contract: round trip, version and kind refusal, unknown fields, validation,
//! atomic writes, and the renderings.

use hercules_results::{
    all_exporters, read_table, synthetic_table, write_json_atomic, CsvExporter, EfficiencyTable, Exporter,
    MarkdownExporter, SchemaError, SyntheticSpec, TABLE_SCHEMA_VERSION,
};
use serde_json::Value;
use std::path::Path;

fn sample() -> EfficiencyTable {
    synthetic_table(&SyntheticSpec {
        server_type: "skylake".into(),
        idle_watts: 100.0,
        peak_watts: 300.0,
        price: Some(5000.0),
        model: "dlrm-rmc1".into(),
        percentile: 95.0,
        target_ms: 100.0,
        qps: 1200.0,
        default_qps: 300.0,
        cores: 8,
    })
}

fn write_value(dir: &Path, name: &str, v: &Value) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

fn err_of(dir: &Path, v: &Value) -> String {
    let p = write_value(dir, "t.json", v);
    let e = read_table(&p).unwrap_err().to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(e.contains("t.json"), "names the file: {e}");
    e
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let t = sample();
    let p = dir.path().join("a.json");
    write_json_atomic(&p, &t).unwrap();
    assert_eq!(read_table(&p).unwrap(), t);
    // The exporter's JSON is the same document.
    std::fs::write(&p, hercules_results::JsonExporter.render(&t)).unwrap();
    assert_eq!(read_table(&p).unwrap(), t);
    let v: Value = serde_json::to_value(&t).unwrap();
    assert_eq!(v["kind"], "efficiency_table");
    assert_eq!(v["schema_version"], TABLE_SCHEMA_VERSION);
    assert_eq!(v["query_sizes"]["distribution"], "lognormal");
    assert_eq!(v["power"]["source"], "estimated");
    assert_eq!(v["counters"]["llc_misses"]["value"], Value::Null);
}

#[test]
fn refuses_other_versions_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let next = TABLE_SCHEMA_VERSION + 1;
    for (found, shown) in
        [(Value::from(next), &next.to_string()[..]), (Value::from(0), "0"), (Value::Null, "missing")]
    {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["schema_version"] = found;
        // A newer version likely adds fields: the version message must win over "unknown field".
        v["field_from_the_future"] = Value::from(1);
        let e = err_of(dir.path(), &v);
        assert!(e.contains(&format!("schema_version {shown}")), "{e}");
        assert!(e.contains(&format!("reads versions 1 to {TABLE_SCHEMA_VERSION}")), "{e}");
    }
}

#[test]
fn refuses_other_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = serde_json::to_value(sample()).unwrap();
    v["kind"] = "roofline".into();
    let e = err_of(dir.path(), &v);
    assert!(e.contains("kind is `roofline`"), "{e}");
}

#[test]
fn refuses_unknown_fields_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = serde_json::to_value(sample()).unwrap();
    v["best"]["qps_per_dollar"] = Value::from(3.0);
    let e = err_of(dir.path(), &v);
    assert!(e.contains("unknown field `qps_per_dollar`"), "{e}");
    assert!(e.contains("line "), "{e}");
    let mut v = serde_json::to_value(sample()).unwrap();
    v["host"]["colour"] = "blue".into();
    assert!(err_of(dir.path(), &v).contains("unknown field `colour`"));
}

#[test]
fn validation_failures() {
    let dir = tempfile::tempdir().unwrap();
    type Edit = fn(&mut Value);
    let cases: Vec<(Edit, &str)> = vec![
        (|v| v["best"]["latency_bounded_qps"] = Value::from(-1.0), "best.latency_bounded_qps"),
        (|v| v["curve"][2]["offered_qps"] = Value::from(1e9), "not sorted"),
        (|v| v["sla"]["percentile"] = Value::from(100.0), "sla.percentile"),
        (|v| v["sla"]["percentile"] = Value::from(0.0), "sla.percentile"),
        (|v| v["sla"]["target_ms"] = Value::from(0.0), "sla.target_ms"),
        (|v| v["curve"][0]["p95_ms"] = Value::from(-3.0), "curve[0].p95_ms"),
        (|v| v["server_type"]["idle_watts"] = Value::from(500.0), "exceeds peak_watts"),
        (|v| v["counters"]["llc_misses"]["reason"] = Value::Null, "without a reason"),
    ];
    for (edit, want) in cases {
        let mut v = serde_json::to_value(sample()).unwrap();
        edit(&mut v);
        let e = err_of(dir.path(), &v);
        assert!(e.contains("invalid table") && e.contains(want), "{want}: {e}");
    }
    // NaN is not JSON: serde_json writes it as null, which then fails to decode as a number.
    let mut t = sample();
    t.best.achieved_qps = f64::NAN;
    let p = dir.path().join("nan.json");
    write_json_atomic(&p, &t).unwrap();
    assert!(read_table(&p).is_err());
    assert!(matches!(t.validate(), Err(m) if m.contains("best.achieved_qps")));
}

#[test]
fn not_json_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.json");
    std::fs::write(&p, "{ not json").unwrap();
    assert!(matches!(read_table(&p), Err(SchemaError::Parse { .. })));
    let e = read_table(dir.path().join("absent.json")).unwrap_err();
    assert!(matches!(e, SchemaError::Io { .. }) && e.to_string().contains("absent.json"));
}

/// A value whose serialisation fails half-way, to prove a failed write leaves the old file alone.
struct Poison;
impl serde::Serialize for Poison {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("poisoned"))
    }
}

#[test]
fn atomic_write_leaves_old_or_new() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.json");
    let old = sample();
    write_json_atomic(&p, &old).unwrap();
    let before = std::fs::read(&p).unwrap();
    assert!(write_json_atomic(&p, &Poison).is_err());
    assert_eq!(std::fs::read(&p).unwrap(), before, "old content kept");
    // Writing into a missing directory fails without creating anything.
    assert!(write_json_atomic(dir.path().join("no/such/dir.json"), &old).is_err());
    let mut new = sample();
    new.notes.push("second".into());
    write_json_atomic(&p, &new).unwrap();
    assert_eq!(read_table(&p).unwrap(), new);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no temporaries left: {leftovers:?}");

    // Readers racing a writer see only whole documents.
    let writer = {
        let p = p.clone();
        std::thread::spawn(move || {
            for i in 0..200 {
                let mut t = sample();
                t.notes.push(format!("write {i}"));
                write_json_atomic(&p, &t).unwrap();
            }
        })
    };
    for _ in 0..200 {
        read_table(&p).expect("never a torn file");
    }
    writer.join().unwrap();
}

#[test]
fn renderings() {
    let t = sample();
    let csv = CsvExporter.render(&t);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + t.curve.len() + t.default_curve.len());
    let cols = lines[0].split(',').count();
    assert!(lines.iter().all(|l| l.split(',').count() == cols), "rectangular");
    assert!(lines[1].starts_with("skylake,dlrm-rmc1,95,100,true,,best,"));
    let md = MarkdownExporter.render(&t);
    assert!(md.contains("SYNTHETIC"));
    assert!(md.contains("| best |") && md.contains("Best over default: 4.00x"));
    assert!(md.contains("n/a (synthetic table"));
    let exts: Vec<&str> = all_exporters().iter().map(|e| e.extension()).collect();
    assert_eq!(exts, ["json", "csv", "md", "svg"]);
}

#[test]
fn tail_interpolation() {
    let t = sample();
    // The synthetic curve meets the target exactly at the latency-bounded QPS.
    assert!((t.tail_at(1200.0).unwrap() - 100.0).abs() < 1e-9);
    let mid = t.tail_at(0.5 * (t.curve[3].offered_qps + t.curve[4].offered_qps)).unwrap();
    assert!(mid > t.curve[3].p95_ms && mid < t.curve[4].p95_ms);
    assert_eq!(t.tail_at(0.0), Some(t.curve[0].p95_ms));
    assert_eq!(t.tail_at(1e9), None, "no extrapolation past the last point");
}
