//! The heterogeneous fleet's tools end to end: committed measured tables projected onto the committed
//! catalogue, marked `modelled` through to the provisioning report; merge and campaign refusing bad
//! input in one line, writing nothing half.

use hercules_e2e::workspace_bin;
use hercules_results::read_table;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn analysis(args: &[&str]) -> Output {
    Command::new(workspace_bin("hercules-analysis")).current_dir(repo()).args(args).output().unwrap()
}

/// `hercules-analysis project` of `tables` with `shares` onto `catalogue`, plus `extra`.
fn project(tables: &str, shares: &str, catalogue: &Path, extra: &[&str]) -> Output {
    let mut args =
        vec!["project", "--tables", tables, "--shares", shares, "--catalogue", catalogue.to_str().unwrap()];
    args.extend_from_slice(extra);
    analysis(&args)
}

fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let e = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(e.lines().count(), 1, "{e}");
    e
}

/// The measured server type whose tables and shares the committed fleet projects from.
fn basis() -> (String, String) {
    let shares = repo().join("results/fleet/shares");
    let ty = std::fs::read_dir(&shares)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .min()
        .expect("results/fleet/shares/<type>/ is committed");
    (format!("results/profile/{ty}"), format!("results/fleet/shares/{ty}"))
}

#[test]
fn committed_tables_project_onto_the_catalogue_and_stay_labelled() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("projected");
    let (tables, shares) = basis();
    let sku = "xeon-gold-6248-2s-40c-nmp";
    let run = project(
        &tables,
        &shares,
        Path::new("results/fleet/catalogue.toml"),
        &["--sku", sku, "--out", out.to_str().unwrap()],
    );
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.starts_with("MODELLED tables"), "{stdout}");
    let t = read_table(out.join(sku).join("dlrm-rmc1.json")).unwrap();
    let m = t.modelled.as_ref().expect("a projected table is marked modelled");
    assert_eq!((m.target.as_str(), t.server_type.name.as_str()), (sku, sku));
    assert!(m.sources.contains_key("embedding_multiplier") && m.sources.contains_key("shares"), "{m:?}");
    assert!(t.best.latency_bounded_qps > 0.0 && t.ceilings.is_none() && t.search.algorithm == "projected");
    let md = std::fs::read_to_string(out.join(sku).join("dlrm-rmc1.md")).unwrap();
    assert!(md.contains("> **MODELLED**"), "{md}");

    // Provisioned over, the report says which type is modelled.
    let cluster = dir.path().join("cluster.toml");
    std::fs::write(
        &cluster,
        format!("[[server]]\nname = \"{sku}\"\ncount = 50\nidle_watts = 130\npeak_watts = 460\n"),
    )
    .unwrap();
    let load = dir.path().join("load.toml");
    std::fs::write(
        &load,
        "slot_minutes = 60\nslots = 4\n[[model]]\nname = \"dlrm-rmc1\"\npeak_qps = 10000\n",
    )
    .unwrap();
    let report = dir.path().join("report");
    let run = analysis(&[
        "provision",
        "--tables",
        out.to_str().unwrap(),
        "--cluster",
        cluster.to_str().unwrap(),
        "--load",
        load.to_str().unwrap(),
        "--time-limit",
        "5",
        "--out",
        report.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("> **MODELLED** — server types xeon-gold-6248-2s-40c-nmp"), "{md}");
    assert!(md.contains("| MODELLED from "), "{md}");
}

#[test]
fn fleet_bad_input_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (tables, shares) = basis();
    // A catalogue SKU with zero cores, or a negative bandwidth.
    let good = std::fs::read_to_string(repo().join("results/fleet/catalogue.toml")).unwrap();
    for (from, to, want) in [
        ("cores = 28", "cores = 0", "cores must be 1 to"),
        ("gather_gbs = 90.0", "gather_gbs = -1.0", "gather_gbs must be a positive number"),
    ] {
        let bad = d.join("bad.toml");
        std::fs::write(&bad, good.replacen(from, to, 1)).unwrap();
        let e = one_line_error(&project(&tables, &shares, &bad, &["--out", d.join("p").to_str().unwrap()]));
        assert!(e.contains("sku `xeon-e5-2680v4-2s-28c`") && e.contains(want), "{e}");
        assert!(!d.join("p").exists());
    }
    // A target missing a figure the model needs: no gather bandwidth for a model with embeddings.
    let no_gather = d.join("nogather.toml");
    std::fs::write(
        &no_gather,
        "[[sku]]\nname = \"x\"\ndescription = \"d\"\ncores = 4\nfma_gflops_per_core = 10.0\nidle_watts = 1\npeak_watts = 2\n\
         [sku.sources]\ncores = \"a\"\nfma_gflops_per_core = \"b\"\nwatts = \"c\"\n",
    )
    .unwrap();
    let e = one_line_error(&project(&tables, &shares, &no_gather, &[]));
    assert!(e.contains("target `x` has no gather_gbs, which this model needs"), "{e}");

    // Merge of two tables claiming one type from different hosts.
    let t = read_table(repo().join(&tables).join("dlrm-rmc1.json")).unwrap();
    let mut other = t.clone();
    other.host.cpu_model = "another CPU".into();
    other.provenance.as_mut().unwrap().host_id = "fnv1a64:0000000000000001".into();
    other.model.name = "dlrm-rmc3".into();
    std::fs::create_dir_all(d.join("in")).unwrap();
    for (name, table) in [("a.json", &t), ("b.json", &other)] {
        hercules_results::write_json_atomic(d.join("in").join(name), table).unwrap();
    }
    let merged = d.join("merged");
    let e = one_line_error(&analysis(&[
        "merge",
        d.join("in").to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]));
    assert!(e.contains("is claimed by two kinds of host"), "{e}");
    assert!(!merged.exists());
    assert_eq!(
        std::fs::read_dir(d)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("partial"))
            .count(),
        0
    );

    // A campaign submitted where sbatch is not installed.
    let out = Command::new(workspace_bin("hercules"))
        .args(["campaign", "--model", "sleep:300", "--submit", "--out"])
        .arg(d.join("campaign"))
        .env("PATH", d.join("empty-path"))
        .output()
        .unwrap();
    let e = one_line_error(&out);
    assert!(e.contains("sbatch is not installed"), "{e}");
    assert!(!d.join("campaign/campaign.json").exists());
}
