//! `hercules-analysis`: efficiency tables in, provisioning decisions out.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use hercules_analysis::cluster::{build_fleet, load_tables, read_cluster, Capacity, TableLoad};
use hercules_analysis::limits;
use hercules_analysis::load::{read_load_toml, read_trace};
use hercules_analysis::policy::Backend;
use hercules_analysis::provision::{provision, Objective, PolicyKind, ProvisionOptions};
use hercules_analysis::report::{all_reports, pct_or_na, summary_table, totals_csv, REPORT_STEM};
use hercules_analysis::roofline::{roofline_svg, RooflineInputs, ZooModel};
use hercules_analysis::synth::{synth, SynthOptions};
use hercules_results::{
    parse_document, read_document, read_table, read_text_bounded, write_bytes_atomic, CsvExporter, Exporter,
    JsonExporter, KernelReport, MarkdownExporter, RooflineReport, SvgExporter, BENCH_SCHEMA_VERSION,
    MAX_DOCUMENT_BYTES,
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
    }
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
    if a.json {
        let summary = serde_json::json!({
            "synthetic": report.synthetic,
            "totals": report.policies.iter().map(|p| serde_json::json!({"policy": p.policy.name(), "totals": p.totals})).collect::<Vec<_>>(),
            "savings": report.savings,
        });
        print!("{}", JsonExporter.render(&summary));
    } else if a.csv {
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
