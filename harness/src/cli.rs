//! Command-line interface: one subcommand per job, each printing a table and optionally writing
//! JSON / CSV.

use crate::{host, output, roofline};
use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use hercules_kernels::pool;
use hercules_results::{RooflineReport, BENCH_SCHEMA_VERSION};
use std::path::PathBuf;

/// Measures how fast recommendation-model inference runs on this machine.
#[derive(Debug, Parser)]
#[command(name = "hercules", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The jobs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measure the machine's ceilings: FMA peak, stream copy/triad, sequential read, random gather.
    Roofline(RooflineArgs),
    /// Benchmark the kernels (embedding bag, fused MLP) against the ceilings and peers.
    Kernels(crate::bench::KernelsArgs),
    /// List the model zoo: table memory, gathered bytes and MACs per sample.
    Models(crate::models_cmd::ModelsArgs),
    /// Run forward passes of a model: latency percentiles, samples/s, time per operator class.
    Infer(crate::infer::InferArgs),
    /// Serve a model at one offered load (or a closed loop): latency, power, counters.
    Run(crate::serve_cmd::RunArgs),
    /// Find a model's latency-bounded throughput under an SLA (ramp, then bisect).
    Capacity(crate::serve_cmd::CapacityArgs),
    /// Search the schedule space for each model's best latency-bounded throughput; write efficiency tables.
    Profile(crate::profile::ProfileArgs),
}

/// Where results go besides the terminal.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Write the full JSON document here (atomically).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the table as CSV here (atomically).
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
}

impl OutputArgs {
    /// Checks both paths before any long measurement starts.
    pub fn check(&self) -> Result<()> {
        for p in self.json.iter().chain(&self.csv) {
            output::check_writable(p)?;
        }
        Ok(())
    }
}

/// Which processor a measurement runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum DeviceKind {
    /// This host's CPU cores.
    #[default]
    Cpu,
    /// CUDA device 0 (the command fails with "no CUDA device: ..." where there is none).
    Cuda,
}

/// `hercules roofline` arguments.
#[derive(Debug, Args)]
pub struct RooflineArgs {
    /// Measure the CPU's ceilings, or CUDA device 0's (copy and random-gather bandwidth, cuBLAS
    /// FP32/TF32/BF16 GEMM peaks).
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
    /// Largest thread count (measured at 1, 2, 4, ... and this); default: every usable core.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Repeats per figure (median reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Small arrays, short runs: a smoke test, not a ceiling.
    #[arg(long)]
    pub quick: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Validates a thread count against the cores this process may use.
pub fn max_threads(asked: Option<usize>) -> Result<usize> {
    let usable = pool::allowed_cores().len();
    match asked {
        None => Ok(usable),
        Some(0) => bail!("--threads must be at least 1"),
        Some(t) if t > usable => bail!("--threads {t} exceeds the {usable} cores this process may use"),
        Some(t) => Ok(t),
    }
}

/// Now as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Runs `hercules roofline`.
pub fn roofline(args: RooflineArgs) -> Result<()> {
    if args.device == DeviceKind::Cuda {
        return roofline::run_cuda(&args);
    }
    let max = max_threads(args.threads)?;
    if args.repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    args.out.check()?;
    let host = host::fingerprint();
    let opts = roofline::RooflineOpts {
        threads: roofline::thread_counts(max),
        repeats: args.repeats,
        quick: args.quick,
    };
    let ceilings = roofline::measure(&opts, &host, &roofline::pools(&opts)?)?;
    let table = roofline::table(&ceilings);
    println!(
        "roofline on {} ({} usable cores){}",
        host.cpu_model,
        host.usable_cpus.len(),
        if args.quick { " [quick: not a ceiling]" } else { "" }
    );
    print!("{}", table.render());
    if let Some(p) = &args.out.csv {
        output::write_atomic(p, table.to_csv().as_bytes())?;
    }
    if let Some(p) = &args.out.json {
        let report = RooflineReport {
            schema_version: BENCH_SCHEMA_VERSION,
            kind: "roofline".into(),
            host,
            measured_at: now_rfc3339(),
            ceilings,
        };
        output::write_json(p, &report)?;
    }
    Ok(())
}
