//! `hercules`: measures recommendation-model inference on this machine.

mod args;
mod ceilings;
mod cli;
mod cmd;
mod counters;
mod engine;
mod host;
mod latency;
mod limits;
mod load;
mod noise;
mod output;
mod power;
mod search;
mod serve;
mod topology;

use anyhow::Result;
use clap::{CommandFactory, FromArgMatches};

fn main() {
    if let Err(e) = run() {
        // One line: what went wrong and where (anyhow's chain joined with ": ", control characters
        // from user text escaped).
        eprintln!("error: {}", hercules_results::one_line(&format!("{e:#}")));
        std::process::exit(1);
    }
}

/// Help and version print as clap prints them; a usage error becomes one line, like every other error.
fn exit_on_usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or("error: invalid arguments").trim_end();
    eprintln!("{first} (see --help)");
    std::process::exit(2)
}

fn run() -> Result<()> {
    // Negative numbers parse as values in every subcommand, so `--qps -1` meets the range check
    // instead of clap's "unexpected argument".
    let command = cli::Cli::command().mut_subcommands(|s| s.allow_negative_numbers(true));
    let cli = match command.try_get_matches().and_then(|m| cli::Cli::from_arg_matches(&m)) {
        Ok(c) => c,
        Err(e) => exit_on_usage_error(e),
    };
    match cli.command {
        cli::Command::Roofline(args) => cmd::roofline::run(args),
        cli::Command::Kernels(args) => cmd::kernels::run(args),
        cli::Command::Models(args) => cmd::models::run(args),
        cli::Command::Infer(args) => cmd::infer::run(args),
        cli::Command::Run(args) => cmd::run::run(args),
        cli::Command::Capacity(args) => cmd::capacity::run(args),
        cli::Command::Profile(args) => cmd::profile::run(args),
        cli::Command::Campaign(args) => cmd::campaign::run(args),
    }
}
