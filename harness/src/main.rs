//! `hercules`: measures recommendation-model inference on this machine.

mod args;
mod ceilings;
mod cli;
mod cmd;
mod counters;
mod engine;
mod host;
mod latency;
mod load;
mod noise;
mod output;
mod power;
mod search;
mod serve;
mod topology;

use anyhow::Result;
use clap::Parser;

fn main() {
    if let Err(e) = run() {
        // One line: what went wrong and where (anyhow's chain joined with ": ").
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Roofline(args) => cmd::roofline::run(args),
        cli::Command::Kernels(args) => cmd::kernels::run(args),
        cli::Command::Models(args) => cmd::models::run(args),
        cli::Command::Infer(args) => cmd::infer::run(args),
        cli::Command::Run(args) => cmd::run::run(args),
        cli::Command::Capacity(args) => cmd::capacity::run(args),
        cli::Command::Profile(args) => cmd::profile::run(args),
    }
}
