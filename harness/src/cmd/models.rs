//! `hercules models`: the model zoo with table memory, bytes gathered and MACs per sample.

use crate::output::{table::Table, OutputArgs};
use anyhow::Result;
use clap::Args;
use hercules_models::stats::{stats, ModelStats};
use hercules_models::{zoo, Scale};
use serde::Serialize;
use std::path::PathBuf;

/// `hercules models` arguments.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Show the figures with every table's rows scaled by this factor.
    #[arg(long, default_value_t = 1.0)]
    pub rows_scale: f64,
    /// Cap every table at this many rows (default: none; MLPerf models list their default cap).
    #[arg(long)]
    pub max_rows: Option<u64>,
    /// Also list a user spec file (.json or .toml); repeatable.
    #[arg(long, value_name = "PATH")]
    pub spec: Vec<PathBuf>,
    /// `--json` (the list) and `--csv` (the table).
    #[command(flatten)]
    pub out: OutputArgs,
}

/// One listed model.
#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    description: String,
    rows_scale: f64,
    max_rows: Option<u64>,
    default_max_rows: Option<u64>,
    #[serde(flatten)]
    stats: ModelStats,
}

/// Runs `hercules models`.
pub fn run(args: ModelsArgs) -> Result<()> {
    args.out.check()?;
    let mut specs = zoo::all()?;
    for p in &args.spec {
        specs.push(hercules_models::ModelSpec::from_file(p)?);
    }
    let scale = Scale { rows_scale: args.rows_scale, max_rows: args.max_rows };
    let mut table = Table::new([
        "model",
        "tables",
        "table GiB",
        "gathered KiB/sample",
        "MMACs/sample",
        "dense weights MiB",
        "default max rows",
        "description",
    ]);
    let mut listed = Vec::new();
    for spec in specs {
        let s = stats(&spec.scaled(scale)?);
        table.push([
            spec.name.clone(),
            s.tables.to_string(),
            format!("{:.2}", s.table_bytes as f64 / (1u64 << 30) as f64),
            format!("{:.1}", s.gathered_bytes_per_sample as f64 / 1024.0),
            format!("{:.3}", s.macs_per_sample as f64 / 1e6),
            format!("{:.1}", s.dense_weight_bytes as f64 / (1u64 << 20) as f64),
            spec.default_max_rows.map_or("-".into(), |r| r.to_string()),
            spec.description.clone(),
        ]);
        listed.push(Listed {
            name: spec.name.clone(),
            description: spec.description.clone(),
            rows_scale: args.rows_scale,
            max_rows: args.max_rows,
            default_max_rows: spec.default_max_rows,
            stats: s,
        });
    }
    let cap = args.max_rows.map_or(String::new(), |r| format!(", max rows {r}"));
    println!("model zoo (rows scale {}{cap})", args.rows_scale);
    print!("{}", table.render());
    args.out.write(&listed, &table)
}
