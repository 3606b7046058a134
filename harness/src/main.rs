//! `hercules`: measures recommendation-model inference on this machine.

mod bench;
mod cli;
mod host;
mod output;
mod roofline;

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
    }
}
