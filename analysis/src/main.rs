//! `hercules-analysis`: efficiency tables in, provisioning decisions out.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use hercules_analysis::catalogue::read_catalogue;
use hercules_analysis::cluster::{build_fleet, load_tables, read_cluster, Capacity, TableLoad};
use hercules_analysis::load::{read_load_toml, read_trace};
use hercules_analysis::policy::Backend;
use hercules_analysis::project::{project, ProjectError, Shares, Target};
use hercules_analysis::provision::{provision, Objective, PolicyKind, ProvisionOptions};
use hercules_analysis::report::{all_reports, pct_or_na, summary_table, totals_csv, REPORT_STEM};
use hercules_analysis::roofline::{mean_query_size, roofline_svg, RooflineInputs, ZooModel};
use hercules_analysis::synth::{synth, SynthOptions};
use hercules_analysis::{limits, merge};
use hercules_results::export::csv_field;
use hercules_results::{
    all_exporters, parse_document, read_document, read_table, read_text_bounded, write_bytes_atomic,
    CsvExporter, Exporter, JsonExporter, KernelReport, MarkdownExporter, RooflineReport, SvgExporter,
    BENCH_SCHEMA_VERSION, MAX_DOCUMENT_BYTES,
};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "hercules-analysis", version, about = "Efficiency tables in, provisioning decisions out")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Plan servers per model, type and slot under each policy, and report.
    Provision(ProvisionArgs),
    /// Make a synthetic fleet (tables, cluster.toml, load.toml), marked synthetic, for scale tests.
    Synth(SynthArgs),
    /// Render one efficiency table as Markdown (default), CSV, JSON or an SVG latency-vs-load picture.
    Show(ShowArgs),
    /// Project measured tables onto catalogue SKUs (or onto a measured type, to validate): tables marked
    /// `modelled`.
    Project(ProjectArgs),
    /// Merge many hosts' tables (e.g. a campaign's shared folder) into one folder per server type,
    /// refusing two kinds of host under one type, duplicate tables and mixed schema versions.
    Merge(MergeArgs),
    /// Draw a picture from result documents.
    #[command(subcommand)]
    Plot(PlotCommand),
}

#[derive(Subcommand)]
enum PlotCommand {
    /// A host's roofline: its ceilings, kernel records and zoo models by arithmetic intensity.
    Roofline(RooflineArgs),
}

#[derive(clap::Args)]
struct RooflineArgs {
    /// The roof: a `hercules roofline --json` report.
    #[arg(long)]
    roofline: PathBuf,
    /// `hercules kernels --json` reports of the same host; repeatable.
    #[arg(long)]
    kernels: Vec<PathBuf>,
    /// The zoo as `hercules models --json` lists it, to place every model's forward pass.
    #[arg(long)]
    zoo: Option<PathBuf>,
    /// Efficiency tables of the same host (files or directories), for the models' served throughput.
    #[arg(long, num_args = 1.., requires = "zoo")]
    tables: Vec<PathBuf>,
    /// The SVG to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum PolicyArg {
    GreedyQps,
    GreedyEff,
    Optimal,
    All,
}

#[derive(Clone, Copy, ValueEnum)]
enum ObjectiveArg {
    Servers,
    Power,
}

#[derive(Clone, Copy, ValueEnum)]
enum SolverArg {
    Microlp,
    Highs,
}

#[derive(Clone, Copy, ValueEnum)]
enum CapacityArg {
    Low,
    Median,
}

#[derive(clap::Args)]
struct ProvisionArgs {
    /// Efficiency tables: directories (searched recursively) or files.
    #[arg(long, num_args = 1.., required = true)]
    tables: Vec<PathBuf>,
    /// Cluster inventory (TOML, [[server]] entries).
    #[arg(long)]
    cluster: PathBuf,
    /// Load: a diurnal generator (.toml) or a trace (.csv with slot,model,qps).
    #[arg(long)]
    load: PathBuf,
    /// Policy to run.
    #[arg(long, value_enum, default_value = "all")]
    policy: PolicyArg,
    /// What the optimum minimises.
    #[arg(long, value_enum, default_value = "servers")]
    objective: ObjectiveArg,
    /// A server's capacity: the lower end of its table's confidence interval (`low`, conservative) or
    /// the median over trials (`median`). Tables without an interval give their one measurement.
    #[arg(long, value_enum, default_value = "low")]
    capacity: CapacityArg,
    /// Capacity margin over the load (fraction, 0 to 100).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    headroom: f64,
    /// Time budget of the optimal policy over all slots, seconds (at most a day). Slots it leaves
    /// unsolved get the best greedy plan, marked as such.
    #[arg(long, default_value_t = 50.0, allow_negative_numbers = true)]
    time_limit: f64,
    /// MILP solver (HiGHS needs a build with `--features highs`).
    #[arg(long, value_enum, default_value = "microlp")]
    solver: SolverArg,
    /// Slot length of a CSV trace, minutes.
    #[arg(long, default_value_t = 60.0, allow_negative_numbers = true)]
    slot_minutes: f64,
    /// Worker threads for the optimal policy (default: all CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Skip unreadable or invalid tables found in --tables directories, with one warning line each on
    /// stderr (default: such a table is an error).
    #[arg(long)]
    skip_invalid: bool,
    /// Write provision.json, plan/totals/savings CSV, report.md and SVG plots here.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    print: SummaryFormat,
}

/// How `provision` and `project` print their summary.
#[derive(clap::Args)]
struct SummaryFormat {
    /// Print the summary as JSON instead of a table.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print the summary as CSV instead of a table.
    #[arg(long)]
    csv: bool,
}

#[derive(clap::Args)]
struct SynthArgs {
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Models.
    #[arg(long, default_value_t = 8)]
    models: usize,
    /// Server types.
    #[arg(long, default_value_t = 6)]
    types: usize,
    /// Slots per day in the load.
    #[arg(long, default_value_t = 24)]
    slots: usize,
    /// Spare capacity over the peak need (fraction).
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    spare: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(clap::Args)]
struct ProjectArgs {
    /// Measured efficiency tables of one server type (directories searched recursively, or files).
    #[arg(long, num_args = 1.., required = true)]
    tables: Vec<PathBuf>,
    /// `hercules infer --json` documents measured on the same host: each model's time share per
    /// operator class (files, or directories of `*.json`).
    #[arg(long, num_args = 1.., required = true)]
    shares: Vec<PathBuf>,
    /// The zoo as `hercules models --json` lists it: each model's bytes gathered per sample, which caps a
    /// target at its all-core gather bandwidth (without it, no such cap).
    #[arg(long)]
    zoo: Option<PathBuf>,
    /// Server catalogue (TOML, [[sku]] entries).
    #[arg(long, required_unless_present = "against")]
    catalogue: Option<PathBuf>,
    /// SKUs of the catalogue to project onto; repeatable (default: all).
    #[arg(long, requires = "catalogue")]
    sku: Vec<String>,
    /// Validate instead: project onto the measured server type whose tables are here (its ceilings are
    /// the target's figures) and compare with its measured latency-bounded QPS.
    #[arg(long, conflicts_with = "catalogue")]
    against: Option<PathBuf>,
    /// Write `<out>/<target>/<model>.{json,csv,md,svg}` here.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    print: SummaryFormat,
}

#[derive(clap::Args)]
struct MergeArgs {
    /// Tables: directories (searched recursively) or files.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The merged folder, `<out>/<server type>/<model>.{json,csv,md,svg}`; must not exist yet.
    #[arg(long)]
    out: PathBuf,
}

#[derive(clap::Args)]
struct ShowArgs {
    /// The table.
    table: PathBuf,
    /// As JSON.
    #[arg(long, conflicts_with_all = ["csv", "svg"])]
    json: bool,
    /// As CSV.
    #[arg(long, conflicts_with = "svg")]
    csv: bool,
    /// As an SVG picture: tail latency against offered load, best and default schedule, SLA line.
    #[arg(long)]
    svg: bool,
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // clap's errors end with usage and a hint over several lines; keep the first, which says
            // what is wrong, so every error of this binary is one line.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
            eprintln!("error: {first} (see --help)");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(cli) {
        // One line: the chain of causes joined by ": ".
        eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Provision(a) => provision_cmd(a),
        Command::Synth(a) => {
            limits::MODELS.check_count("--models", a.models)?;
            limits::TYPES.check_count("--types", a.types)?;
            limits::SLOTS.check_count("--slots", a.slots)?;
            limits::SPARE.check("--spare", a.spare)?;
            let n = synth(
                &a.out,
                &SynthOptions {
                    models: a.models,
                    types: a.types,
                    slots: a.slots,
                    seed: a.seed,
                    spare: a.spare,
                },
            )?;
            println!(
                "SYNTHETIC fleet: {n} tables, {} models × {} types, {} slots -> {}/{{tables/,cluster.toml,load.toml}}",
                a.models,
                a.types,
                a.slots,
                a.out.display()
            );
            Ok(())
        }
        Command::Show(a) => {
            let t = read_table(&a.table)?;
            let text = if a.json {
                JsonExporter.render(&t)
            } else if a.csv {
                CsvExporter.render(&t)
            } else if a.svg {
                SvgExporter.render(&t)
            } else {
                MarkdownExporter.render(&t)
            };
            print!("{text}");
            Ok(())
        }
        Command::Plot(PlotCommand::Roofline(a)) => roofline_cmd(a),
        Command::Project(a) => project_cmd(a),
        Command::Merge(a) => {
            let (tables, _) = load_tables(&a.inputs, TableLoad::Strict)?;
            let placed = merge::plan(&tables)?;
            merge::write(&a.out, &tables, &placed)?;
            let types: std::collections::BTreeSet<&str> =
                tables.iter().map(|(_, t)| t.server_type.name.as_str()).collect();
            println!(
                "merged {} tables of {} server types ({}) into {}",
                tables.len(),
                types.len(),
                types.into_iter().collect::<Vec<_>>().join(", "),
                a.out.display()
            );
            Ok(())
        }
    }
}

/// One projected table in the summary.
#[derive(serde::Serialize)]
struct Projected {
    target: String,
    model: String,
    basis: String,
    embedding_share: f64,
    time_ratio: f64,
    /// `cores` or `memory`: what bounds the projected throughput.
    bound: &'static str,
    source_qps: f64,
    projected_qps: f64,
    /// With `--against`: the target's measured QPS and the relative error of the projection.
    measured_qps: Option<f64>,
    error: Option<f64>,
}

fn project_cmd(a: ProjectArgs) -> Result<()> {
    let (sources, _) = load_tables(&a.tables, TableLoad::Strict)?;
    let mut shares_docs = Vec::new();
    for p in &a.shares {
        let files: Vec<PathBuf> = if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| p.display().to_string())?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json"))
                .collect();
            v.sort();
            v
        } else {
            vec![p.clone()]
        };
        for f in files {
            let text = read_text_bounded(&f, MAX_DOCUMENT_BYTES).with_context(|| f.display().to_string())?;
            let doc: serde_json::Value = parse_document(&text, &f)?;
            shares_docs.push((f.display().to_string(), doc));
        }
    }
    let shares_of = |model: &str| -> Result<Shares> {
        let mut found = None;
        for (name, doc) in &shares_docs {
            if let Some(s) = Shares::from_infer(doc, model, name).map_err(anyhow::Error::msg)? {
                if found.is_some() {
                    bail!("two --shares documents for model `{model}` (the second is {name}); keep one");
                }
                found = Some(s);
            }
        }
        found.with_context(|| format!("no --shares document for model `{model}`: run `hercules infer --model {model} --json FILE` on the source host"))
    };
    // Targets, and the measured tables to compare with (validation).
    let (targets, measured): (Vec<Target>, Vec<(PathBuf, hercules_results::EfficiencyTable)>) = match &a
        .against
    {
        Some(dir) => {
            let (m, _) = load_tables(std::slice::from_ref(dir), TableLoad::Strict)?;
            let first = m
                .first()
                .with_context(|| format!("--against {}: no efficiency tables there", dir.display()))?;
            (vec![Target::from_measured(&first.1)?], m)
        }
        None => {
            let path = a.catalogue.as_ref().expect("clap requires --catalogue without --against");
            let cat = read_catalogue(path)?;
            let names: Vec<String> = if a.sku.is_empty() {
                cat.sku.iter().map(|s| s.name.clone()).collect()
            } else {
                a.sku.clone()
            };
            let skus = names.iter().map(|n| cat.get(n).map(Target::from_sku)).collect::<Result<Vec<_>, _>>();
            (skus.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?, vec![])
        }
    };
    let zoo: Vec<ZooModel> = match &a.zoo {
        Some(p) => {
            let text = read_text_bounded(p, MAX_DOCUMENT_BYTES).with_context(|| p.display().to_string())?;
            parse_document(&text, p)?
        }
        None => vec![],
    };
    let bytes_per_query = |t: &hercules_results::EfficiencyTable| {
        let z = zoo.iter().find(|z| z.name == t.model.name)?;
        Some(z.gathered_bytes_per_sample as f64 * mean_query_size(&t.query_sizes)?)
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut rows = Vec::new();
    for target in &targets {
        for (path, src) in sources.iter().filter(|(_, t)| t.server_type.name != target.name) {
            let shares = shares_of(&src.model.name)?;
            let (p, f) = match project(src, &shares, target, bytes_per_query(src), &command) {
                Ok(x) => x,
                // A model out of reach on one target leaves that target without its table.
                Err(e @ ProjectError::Unreachable(_)) => {
                    eprintln!("warning: {e}; no table for it there");
                    continue;
                }
                Err(e) => return Err(anyhow::Error::new(e).context(path.display().to_string())),
            };
            let truth = measured.iter().find(|(_, m)| m.model.name == src.model.name && m.sla == src.sla);
            let measured_qps = truth.map(|(_, m)| m.best.latency_bounded_qps);
            rows.push(Projected {
                target: target.name.clone(),
                model: src.model.name.clone(),
                basis: p.modelled.as_ref().map(|m| m.basis.clone()).unwrap_or_default(),
                embedding_share: shares.embedding,
                time_ratio: f.time_ratio,
                bound: if f.bandwidth_bound { "memory" } else { "cores" },
                source_qps: src.best.latency_bounded_qps,
                projected_qps: p.best.latency_bounded_qps,
                measured_qps,
                error: measured_qps.map(|m| p.best.latency_bounded_qps / m - 1.0),
            });
            if let Some(out) = &a.out {
                let dir = out.join(&target.name);
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                for e in all_exporters() {
                    let file = dir.join(format!("{}.{}", p.model.name, e.extension()));
                    write_bytes_atomic(&file, e.render(&p).as_bytes())?;
                }
            }
        }
    }
    if rows.is_empty() {
        bail!("nothing to project: every table in --tables is of the target's own server type");
    }
    if a.print.json {
        print!("{}", JsonExporter.render(&rows));
    } else if a.print.csv {
        println!(
            "target,model,basis,embedding_share,time_ratio,bound,source_qps,projected_qps,measured_qps,error"
        );
        for r in &rows {
            let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
            println!(
                "{},{},{},{},{},{},{},{},{},{}",
                r.target,
                r.model,
                csv_field(&r.basis),
                r.embedding_share,
                r.time_ratio,
                r.bound,
                r.source_qps,
                r.projected_qps,
                opt(r.measured_qps),
                opt(r.error)
            );
        }
    } else {
        println!("MODELLED tables (projections, not measurements):");
        println!(
            "{:<34} {:<10} {:>6} {:>7} {:>7} {:>10} {:>10} {:>10} {:>7}",
            "target", "model", "emb", "time x", "bound", "source", "projected", "measured", "error"
        );
        for r in &rows {
            println!(
                "{:<34} {:<10} {:>5.0}% {:>7.3} {:>7} {:>10.1} {:>10.1} {:>10} {:>7}",
                r.target,
                r.model,
                100.0 * r.embedding_share,
                r.time_ratio,
                r.bound,
                r.source_qps,
                r.projected_qps,
                r.measured_qps.map_or("-".into(), |m| format!("{m:.1}")),
                r.error.map_or("-".into(), |e| format!("{:+.1}%", 100.0 * e))
            );
        }
    }
    Ok(())
}

fn roofline_cmd(a: RooflineArgs) -> Result<()> {
    let roof: RooflineReport = read_document(&a.roofline, "roofline", BENCH_SCHEMA_VERSION)?;
    let mut kernels = Vec::new();
    for p in &a.kernels {
        kernels.push((
            p.display().to_string(),
            read_document::<KernelReport>(p, "kernels", BENCH_SCHEMA_VERSION)?,
        ));
    }
    let zoo: Vec<ZooModel> = match &a.zoo {
        Some(p) => {
            let text = read_text_bounded(p, MAX_DOCUMENT_BYTES).with_context(|| p.display().to_string())?;
            parse_document(&text, p)?
        }
        None => vec![],
    };
    let tables = if a.tables.is_empty() {
        vec![]
    } else {
        let (pool, _) = load_tables(&a.tables, TableLoad::Strict)?;
        pool.into_iter().map(|(p, t)| (p.display().to_string(), t)).collect()
    };
    let name = a.roofline.display().to_string();
    let svg = roofline_svg(&RooflineInputs {
        roofline: (&name, &roof),
        kernels: &kernels,
        zoo: &zoo,
        tables: &tables,
    })?;
    write_bytes_atomic(&a.out, svg.as_bytes())?;
    println!("roofline: {}", a.out.display());
    Ok(())
}

fn provision_cmd(a: ProvisionArgs) -> Result<()> {
    limits::HEADROOM.check("--headroom", a.headroom)?;
    limits::TIME_LIMIT.check("--time-limit", a.time_limit)?;
    limits::SLOT_MINUTES.check("--slot-minutes", a.slot_minutes)?;
    let threads = match a.threads {
        Some(n) => limits::THREADS.check_count("--threads", n)?,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()).min(limits::MAX_THREADS),
    };
    let cluster = read_cluster(&a.cluster)?;
    let load = if a.load.extension().is_some_and(|e| e == "csv") {
        read_trace(&a.load, a.slot_minutes)?
    } else {
        read_load_toml(&a.load)?
    };
    let policy = if a.skip_invalid { TableLoad::SkipInvalid } else { TableLoad::Strict };
    let (pool, skipped) = load_tables(&a.tables, policy)?;
    for s in &skipped {
        eprintln!("warning: skipped {s}");
    }
    let capacity = match a.capacity {
        CapacityArg::Low => Capacity::Low,
        CapacityArg::Median => Capacity::Median,
    };
    let fleet = build_fleet(&cluster, &a.cluster, &pool, &load.models, capacity)?;
    for w in &fleet.warnings {
        eprintln!("warning: {w}");
    }
    let policies = match a.policy {
        PolicyArg::GreedyQps => vec![PolicyKind::GreedyQps],
        PolicyArg::GreedyEff => vec![PolicyKind::GreedyEff],
        PolicyArg::Optimal => vec![PolicyKind::Optimal],
        PolicyArg::All => vec![PolicyKind::GreedyQps, PolicyKind::GreedyEff, PolicyKind::Optimal],
    };
    let backend = match a.solver {
        SolverArg::Microlp => Backend::Microlp,
        SolverArg::Highs => {
            if !cfg!(feature = "highs") {
                bail!("this build has no HiGHS: rebuild with `--features highs` (needs cmake and a C++ compiler)");
            }
            Backend::Highs
        }
    };
    let opts = ProvisionOptions {
        policies,
        objective: match a.objective {
            ObjectiveArg::Servers => Objective::Servers,
            ObjectiveArg::Power => Objective::Power,
        },
        headroom: a.headroom,
        time_limit: Duration::from_secs_f64(a.time_limit),
        backend,
        threads,
    };
    let slots = load.qps.len() as u64;
    // The bar hides itself when stderr is not a terminal; it matters on runs of many slots.
    let bar = indicatif::ProgressBar::new(slots).with_message("optimal policy: slots solved");
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} [{elapsed_precise}]")
            .expect("valid template"),
    );
    let report = provision(&fleet, &load, &opts, &|done| bar.set_position(done as u64));
    bar.finish_and_clear();
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        for exporter in all_reports() {
            for (name, text) in exporter.files(&report, REPORT_STEM) {
                write_bytes_atomic(&out.join(&name), text.as_bytes())?;
            }
        }
    }
    if a.print.json {
        let summary = serde_json::json!({
            "synthetic": report.synthetic,
            "totals": report.policies.iter().map(|p| serde_json::json!({"policy": p.policy.name(), "totals": p.totals})).collect::<Vec<_>>(),
            "savings": report.savings,
        });
        print!("{}", JsonExporter.render(&summary));
    } else if a.print.csv {
        print!("{}", totals_csv(&report));
    } else {
        if report.synthetic {
            println!("SYNTHETIC tables: these numbers describe no real hardware.\n");
        }
        print!("{}", summary_table(&report));
        for s in &report.savings {
            if s.policy == PolicyKind::Optimal {
                match &s.not_comparable {
                    Some(why) => println!("optimal vs {}: n/a ({why})", s.baseline.name()),
                    None => println!(
                        "optimal vs {}: {} fewer peak servers, {} less peak provisioned power",
                        s.baseline.name(),
                        pct_or_na(s.peak_servers),
                        pct_or_na(s.peak_provisioned_power)
                    ),
                }
            }
        }
        if let Some(out) = &a.out {
            println!("report: {}", out.join("report.md").display());
        }
    }
    Ok(())
}
