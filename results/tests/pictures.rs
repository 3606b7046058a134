//! The latency-vs-load picture of every committed efficiency table parses as XML and draws each of its
//! series with points, and the Markdown names a shared counter reason once.

use hercules_results::{
    read_table, synthetic_table, Counter, EfficiencyTable, Exporter, MarkdownExporter, SvgExporter,
    SyntheticSpec,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Points drawn per series id (without the `series-` prefix); panics on malformed SVG or coordinates.
fn series(svg: &str) -> BTreeMap<String, usize> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let num = |n: roxmltree::Node, a: &str| {
        let v: f64 = n.attribute(a).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{a} of {n:?}"));
        assert!(v.is_finite());
    };
    let mut out = BTreeMap::new();
    for g in doc.descendants().filter(|n| n.has_tag_name("g") && n.attribute("class") == Some("series")) {
        let id = g.attribute("id").and_then(|i| i.strip_prefix("series-")).expect("series id").to_string();
        assert!(!g.attribute("data-name").unwrap_or("").is_empty(), "{id} has a name");
        let mut points = 0;
        for e in g.descendants().filter(|n| n.is_element() && *n != g) {
            match e.tag_name().name() {
                "polyline" | "polygon" => {
                    let pts: Vec<f64> = e
                        .attribute("points")
                        .unwrap()
                        .split([' ', ','])
                        .map(|v| v.parse::<f64>().expect("number"))
                        .collect();
                    assert!(
                        pts.len() >= 4 && pts.len().is_multiple_of(2) && pts.iter().all(|v| v.is_finite()),
                        "{id}"
                    );
                    points += pts.len() / 2;
                }
                "circle" => {
                    num(e, "cx");
                    num(e, "cy");
                    points += 1;
                }
                "rect" => {
                    num(e, "x");
                    num(e, "y");
                    points += 1;
                }
                "path" => {
                    assert!(e.attribute("d").is_some_and(|d| d.starts_with('M') && !d.contains("NaN")));
                    points += 1;
                }
                _ => {}
            }
        }
        assert!(out.insert(id.clone(), points).is_none(), "duplicate series {id}");
    }
    out
}

fn tables_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".json")
                && !name.ends_with(".searches.json")
                && !name.ends_with(".checkpoint.json")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn committed_tables_draw_every_series() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("gpu/h200-2026-12-04-run2/profile/intel-xeon-16c-h200")];
    for e in std::fs::read_dir(root.join("profile")).unwrap() {
        dirs.push(e.unwrap().path());
    }
    let mut n = 0;
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        for p in tables_in(dir) {
            let t = read_table(&p).unwrap();
            let s = series(&SvgExporter.render(&t));
            for id in ["sla", "best", "default", "best-capacity", "default-capacity"] {
                let want = match id {
                    "best" => t.curve.len(),
                    "default" => t.default_curve.len(),
                    _ => 1,
                };
                assert!(s.get(id).is_some_and(|&k| k >= want.min(2)), "{}: {id} in {s:?}", p.display());
            }
            n += 1;
        }
    }
    assert!(n >= 16, "the committed tables: {n}");
}

fn sample() -> EfficiencyTable {
    synthetic_table(&SyntheticSpec {
        server_type: "vm".into(),
        idle_watts: 100.0,
        peak_watts: 300.0,
        price: None,
        model: "wnd".into(),
        percentile: 95.0,
        target_ms: 25.0,
        qps: 300.0,
        default_qps: 100.0,
        cores: 2,
    })
}

#[test]
fn synthetic_and_degenerate_tables_still_parse() {
    let t = sample();
    let s = series(&SvgExporter.render(&t));
    assert_eq!(s.len(), 5, "{s:?}");
    let mut flat = t.clone();
    for p in flat.curve.iter_mut().chain(flat.default_curve.iter_mut()) {
        (p.offered_qps, p.p50_ms, p.p95_ms, p.p99_ms) = (0.0, 0.0, 0.0, 0.0);
    }
    flat.best.latency_bounded_qps = 0.0;
    flat.default_schedule.latency_bounded_qps = 0.0;
    flat.model.name = "<&\"odd\">".into();
    let svg = SvgExporter.render(&flat);
    let s = series(&svg);
    assert!(s.contains_key("sla"), "{s:?}");
}

#[test]
fn one_reason_is_written_once() {
    let mut t = sample();
    t.counters.clear();
    let why = "no hardware PMU exposed to this OS";
    for k in ["cycles", "instructions", "llc_loads", "llc_load_misses", "branch_misses"] {
        t.counters.insert(k.into(), Counter::null(why));
    }
    t.counters.insert("page_faults".into(), Counter::value(1.0));
    t.counters.insert("task_clock_ns".into(), Counter::null("not read"));
    let md = MarkdownExporter.render(&t);
    assert_eq!(md.matches(why).count(), 1, "{md}");
    assert!(md.contains(&format!(
        "| branch_misses, cycles, instructions, llc_load_misses, llc_loads | n/a ({why}) |"
    )));
    assert!(
        md.contains("| page_faults | 1.00 |") && md.contains("| task_clock_ns | n/a (not read) |"),
        "{md}"
    );
}
