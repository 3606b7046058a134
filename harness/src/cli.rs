//! Command-line interface: one subcommand per job (each in `cmd/`), each printing a table and
//! optionally writing JSON / CSV.

use crate::cmd;
use clap::{Parser, Subcommand};

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
    Roofline(cmd::roofline::RooflineArgs),
    /// Benchmark the kernels (embedding bag, fused MLP) against the ceilings and peers.
    Kernels(cmd::kernels::KernelsArgs),
    /// List the model zoo: table memory, gathered bytes and MACs per sample.
    Models(cmd::models::ModelsArgs),
    /// Run forward passes of a model: latency percentiles, samples/s, time per operator class.
    Infer(cmd::infer::InferArgs),
    /// Serve a model at one offered load (or a closed loop): latency, power, counters.
    Run(cmd::run::RunArgs),
    /// Find a model's latency-bounded throughput under an SLA (ramp, then bisect).
    Capacity(cmd::capacity::CapacityArgs),
    /// Search the schedule space for each model's best latency-bounded throughput; write efficiency tables.
    Profile(cmd::profile::ProfileArgs),
    /// Write (and submit) a Slurm job array profiling each model on each node type into a shared
    /// folder; optionally the same as Kubernetes Indexed Jobs.
    Campaign(cmd::campaign::CampaignArgs),
}
