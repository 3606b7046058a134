//! `hercules`: measures recommendation-model inference on this machine.

mod bench;
mod capacity;
mod cli;
mod counters;
mod engine;
mod host;
mod infer;
mod latency;
mod load;
mod models_cmd;
mod noise;
mod output;
mod power;
mod profile;
mod roofline;
mod serve_cmd;
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
        cli::Command::Roofline(args) => cli::roofline(args),
        cli::Command::Kernels(args) => bench::run(args),
        cli::Command::Models(args) => models_cmd::run(args),
        cli::Command::Infer(args) => infer::run(args),
        cli::Command::Run(args) => serve_cmd::run(args),
        cli::Command::Capacity(args) => serve_cmd::capacity(args),
        cli::Command::Profile(args) => profile::run(args),
    }
}
