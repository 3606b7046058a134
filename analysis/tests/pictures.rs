//! The pictures, parsed as XML, on the committed results: every series the reader needs is drawn
//! and has points. Roofline of each CPU host, provisioning over `results/profile` as `main.sh` runs it,
//! and the one-line errors of `plot roofline`.

use hercules_analysis::cluster::{build_fleet, load_tables, read_cluster, Capacity, TableLoad};
use hercules_analysis::load::read_load_toml;
use hercules_analysis::policy::Backend;
use hercules_analysis::provision::{provision, Objective, PolicyKind, ProvisionOptions};
use hercules_analysis::report::{Exporter, SvgReport, REPORT_STEM};
use hercules_analysis::roofline::{roofline_svg, RooflineInputs, ZooModel};
use hercules_results::plot::{tick_label, Axis};
use hercules_results::{read_document, KernelReport, RooflineReport, BENCH_SCHEMA_VERSION};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Points drawn per series id (without the `series-` prefix); panics on malformed SVG or coordinates.
fn series(svg: &str) -> BTreeMap<String, usize> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let mut out = BTreeMap::new();
    for g in doc.descendants().filter(|n| n.has_tag_name("g") && n.attribute("class") == Some("series")) {
        let id = g.attribute("id").and_then(|i| i.strip_prefix("series-")).expect("series id").to_string();
        assert!(!g.attribute("data-name").unwrap_or("").is_empty(), "{id} has a name");
        let mut points = 0;
        for e in g.descendants().filter(|n| n.is_element() && *n != g) {
            let finite =
                |a: &str| e.attribute(a).and_then(|v| v.parse::<f64>().ok()).is_some_and(f64::is_finite);
            match e.tag_name().name() {
                "polyline" | "polygon" => {
                    let pts: Vec<f64> = e
                        .attribute("points")
                        .unwrap()
                        .split([' ', ','])
                        .map(|v| v.parse().unwrap())
                        .collect();
                    assert!(
                        pts.len() >= 4 && pts.len().is_multiple_of(2) && pts.iter().all(|v| v.is_finite()),
                        "{id}"
                    );
                    points += pts.len() / 2;
                }
                "circle" => {
                    assert!(finite("cx") && finite("cy"), "{id}");
                    points += 1;
                }
                "path" => {
                    assert!(
                        e.attribute("d").is_some_and(|d| d.starts_with('M') && !d.contains("NaN")),
                        "{id}"
                    );
                    points += 1;
                }
                _ => {}
            }
        }
        assert!(out.insert(id.clone(), points).is_none(), "duplicate series {id}");
    }
    out
}

fn has(s: &BTreeMap<String, usize>, id: &str, at_least: usize) {
    let n =
        s.get(id).copied().unwrap_or_else(|| panic!("no series {id} in {:?}", s.keys().collect::<Vec<_>>()));
    assert!(n >= at_least, "{id}: {n} points, want {at_least}");
}

fn zoo() -> Vec<ZooModel> {
    let text = std::fs::read_to_string(root().join("results/models/zoo.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn roof(name: &str) -> RooflineReport {
    read_document(root().join("results/kernels").join(name), "roofline", BENCH_SCHEMA_VERSION).unwrap()
}

#[test]
fn roofline_with_kernels_and_the_zoo() {
    for (roofline, kernels) in [
        ("roofline-xeon-2c-bounds.json", "embedding-dtypes-xeon-2c.json"),
        ("roofline-epyc-2c.json", "embedding-dtypes-epyc-2c.json"),
    ] {
        let r = roof(roofline);
        let k: KernelReport =
            read_document(root().join("results/kernels").join(kernels), "kernels", BENCH_SCHEMA_VERSION)
                .unwrap();
        let zoo = zoo();
        let kernels = vec![(kernels.to_string(), k)];
        let svg = roofline_svg(&RooflineInputs {
            roofline: (roofline, &r),
            kernels: &kernels,
            zoo: &zoo,
            tables: &[],
        })
        .unwrap();
        let s = series(&svg);
        for t in [1, 2] {
            for roof in ["fma", "copy", "triad", "seq-read", "gather"] {
                has(&s, &format!("roof-{roof}-{t}t"), 2);
            }
            for dtype in ["fp32", "fp16", "int8"] {
                // Three row widths per format and thread count.
                has(&s, &format!("kernel-embedding-{dtype}-{t}t"), 3);
            }
        }
        has(&s, "models-roof", zoo.len());
        assert!(!s.contains_key("models-served"));
    }
}

#[test]
fn roofline_with_served_models() {
    // The host the committed tables were measured on, and its ceilings from the same day.
    let r = roof("roofline-xeon-2c-2026-12-05.json");
    let (pool, _) = load_tables(&[root().join("results/profile/intel-xeon-2c")], TableLoad::Strict).unwrap();
    let tables: Vec<_> = pool.into_iter().map(|(p, t)| (p.display().to_string(), t)).collect();
    let zoo = zoo();
    let svg = roofline_svg(&RooflineInputs {
        roofline: ("roofline-xeon-2c-2026-12-05.json", &r),
        kernels: &[],
        zoo: &zoo,
        tables: &tables,
    })
    .unwrap();
    let s = series(&svg);
    // Every profiled model is served; the MLPerf models have no table on this host.
    has(&s, "models-served", tables.len());
    has(&s, "models-roof", zoo.len() - tables.len());
    for m in &zoo {
        assert!(svg.contains(&format!(">{}</text>", m.name)), "{} labelled", m.name);
    }
}

#[test]
fn provisioning_pictures_as_main_sh_runs_them() {
    let cluster_path = root().join("results/provisioning/cluster.toml");
    let cluster = read_cluster(&cluster_path).unwrap();
    let load = read_load_toml(&root().join("results/provisioning/load.toml")).unwrap();
    let (pool, _) = load_tables(&[root().join("results/profile")], TableLoad::Strict).unwrap();
    let fleet = build_fleet(&cluster, &cluster_path, &pool, &load.models, Capacity::Low).unwrap();
    let policies = vec![PolicyKind::GreedyQps, PolicyKind::GreedyEff, PolicyKind::Optimal];
    let opts = ProvisionOptions {
        policies: policies.clone(),
        objective: Objective::Servers,
        headroom: 0.1,
        time_limit: Duration::from_secs(50),
        backend: Backend::Microlp,
        threads: 1,
    };
    let report = provision(&fleet, &load, &opts, &|_| {});
    let files: BTreeMap<String, String> = SvgReport.files(&report, REPORT_STEM).into_iter().collect();
    assert_eq!(files.keys().collect::<Vec<_>>(), ["load_vs_capacity.svg", "power.svg", "servers.svg"]);
    let slots = load.qps.len();
    let lvc = series(&files["load_vs_capacity.svg"]);
    for m in &report.models {
        has(&lvc, &format!("load-{m}"), 2 * slots);
        has(&lvc, &format!("demand-{m}"), 2 * slots);
        for p in &policies {
            has(&lvc, &format!("capacity-{}-{m}", p.name()), 2 * slots);
        }
    }
    let servers = series(&files["servers.svg"]);
    let power = series(&files["power.svg"]);
    for p in &policies {
        has(&lvc, &format!("tightest-{}", p.name()), 2 * slots);
        has(&power, &format!("provisioned-{}", p.name()), 2 * slots);
        has(&power, &format!("estimated-{}", p.name()), 2 * slots);
        // Both types serve some slot under every policy on this inventory.
        for t in &report.types {
            has(&servers, &format!("servers-{}-{}", p.name(), t.name), 4 * slots);
        }
    }
    // One scale: every servers panel tops out at the tick above the busiest policy's peak.
    let peak = report.policies.iter().map(|p| p.totals.peak_servers).max().unwrap() as f64;
    let top = tick_label(Axis::linear("", 0.0, peak * 1.05).max);
    let ticks = files["servers.svg"].matches(&format!("text-anchor=\"end\">{top}</text>")).count();
    assert_eq!(ticks, policies.len(), "the same axis in each panel, up to {top}");
}

fn plot(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hercules-analysis"))
        .current_dir(root())
        .arg("plot")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn roofline_bad_inputs_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.svg");
    let o = out.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["roofline", "--roofline", "results/gpu/h200-2026-12-04-run2/roofline.json", "--out", o],
            "kind is `roofline-cuda`",
        ),
        (
            &["roofline", "--roofline", "results/kernels/peers-xeon-2c.json", "--out", o],
            "schema_version missing",
        ),
        (
            &[
                "roofline",
                "--roofline",
                "results/kernels/roofline-epyc-2c.json",
                "--kernels",
                "results/kernels/embedding-dtypes-xeon-2c.json",
                "--out",
                o,
            ],
            "measured on Intel(R) Xeon(R) Processor (2 cores), the roofline on AMD EPYC",
        ),
        (
            &[
                "roofline",
                "--roofline",
                "results/kernels/roofline-epyc-2c.json",
                "--zoo",
                "results/kernels/roofline-epyc-2c.json",
                "--out",
                o,
            ],
            "expected a sequence",
        ),
    ];
    for (args, want) in cases {
        let r = plot(args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.lines().count() == 1 && err.contains(want), "{want}: {err}");
    }
    assert!(!out.exists());
    let ok = plot(&["roofline", "--roofline", "results/kernels/roofline-epyc-2c.json", "--out", o]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let s = series(&std::fs::read_to_string(&out).unwrap());
    has(&s, "roof-fma-2t", 2);
}
