//! `hercules run`: one load point (open or closed loop) with latency, power and counters.

use crate::args::{self, parse_duration};
use crate::engine::schedule::Schedule;
use crate::latency::Sla;
use crate::limits;
use crate::serve::fixture::{Fixture, ServeArgs};
use crate::serve::interrupt_flag;
use crate::serve::report::{
    power_line, trial_row, trial_table, warn_noise, window_table, RunReport, ServeHeader,
};
use crate::serve::trial::{Load, StopReason, TrialSpec};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use std::time::Duration;

/// `hercules run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: ServeArgs,
    /// Offered load, queries per second (open loop, Poisson arrivals).
    #[arg(long, required_unless_present = "closed", conflicts_with = "closed")]
    pub qps: Option<f64>,
    /// Closed loop with this many queries in flight instead (saturation throughput).
    #[arg(long)]
    pub closed: Option<usize>,
    /// Measured time after the warm-up.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Judge the run against this SLA, e.g. `p95:100ms` (no early stopping in `run`).
    #[arg(long)]
    pub sla: Option<String>,
    /// Also report latency, generator schedule error and memory per window of this length (open
    /// loop; a soak run), e.g. `60s`.
    #[arg(long, value_parser = parse_duration)]
    pub window: Option<Duration>,
}

/// Runs `hercules run`.
pub fn run(a: RunArgs) -> Result<()> {
    let sla = a.sla.as_deref().map(Sla::parse).transpose()?;
    let load = match (a.qps, a.closed) {
        (Some(q), None) => {
            let qps = args::in_range("--qps", q, limits::MIN_QPS, limits::MAX_QPS, "queries/s")?;
            limits::check_arrivals(qps, a.common.warmup + a.duration).map_err(|e| anyhow!("--qps: {e}"))?;
            Load::Open { qps }
        }
        (None, Some(c)) => {
            if c > limits::MAX_CONCURRENCY {
                bail!(
                    "--closed {c} is above the harness's bound of {} queries in flight",
                    limits::MAX_CONCURRENCY
                );
            }
            Load::Closed { concurrency: args::at_least_one("--closed", c)? }
        }
        _ => bail!("give exactly one of --qps and --closed"),
    };
    if a.duration.is_zero() {
        bail!("--duration must be above zero");
    }
    if let Some(w) = a.window {
        if a.closed.is_some() {
            bail!("--window applies to an open loop (--qps)");
        }
        if w < limits::MIN_WINDOW || a.duration.as_secs_f64() / w.as_secs_f64() > limits::MAX_WINDOWS as f64 {
            bail!(
                "--window {}: need at least {} s and at most {} windows in --duration",
                humantime::format_duration(w),
                limits::MIN_WINDOW.as_secs(),
                limits::MAX_WINDOWS
            );
        }
    }
    let schedule: Schedule =
        a.common.schedule.parse().with_context(|| format!("--schedule {}", a.common.schedule))?;
    let mut fixture = Fixture::new(&a.common, None)?;
    let placed = fixture.start(schedule).context("--schedule")?;
    let interrupt = interrupt_flag();
    let spec = TrialSpec {
        load,
        warmup: a.common.warmup,
        duration: a.duration,
        sla,
        early_stop: false,
        window: a.window,
        ..fixture.trial_spec(&placed, a.common.seed)
    };
    eprintln!(
        "run: {} on {} ({}), {:?} for {:.1} s after {:.1} s warm-up",
        a.common.model,
        placed.schedule,
        if placed.generator.shares_core_with_instances {
            "generator shares a core"
        } else {
            "generator on its own core"
        },
        load,
        a.duration.as_secs_f64(),
        a.common.warmup.as_secs_f64()
    );
    if let Some(lane) = &placed.gpu_lane {
        eprintln!("gpu lane: {lane}");
    }
    let rec = fixture.measured(&placed, &spec, interrupt)?;
    if placed.gpu_lane.is_some() {
        eprintln!(
            "{} of {} queries went to the GPU lane",
            rec.trial.gpu_queries,
            rec.trial.measured_queries + rec.trial.warmup_queries
        );
    }
    let interrupted = rec.trial.stopped == StopReason::Interrupted;
    let mut table = trial_table();
    trial_row(&mut table, &rec);
    print!("{}", table.render());
    if !rec.trial.windows.is_empty() {
        print!("{}", window_table(&rec.trial.windows).render());
    }
    println!("{}", power_line(&rec.power, &rec.counters));
    warn_noise(std::slice::from_ref(&rec));
    let mut header = ServeHeader::new("serve-run", &fixture, &placed, sla, a.common.seed);
    header.status = if interrupted { "interrupted" } else { "complete" }.into();
    let report = RunReport { header, curve: rec.trial.curve_point().into_iter().collect(), result: rec };
    a.common.out.write(&report, &table)?;
    if interrupted {
        bail!(
            "interrupted (Ctrl-C): the partial trial was {}",
            if a.common.out.json.is_some() { "written" } else { "printed" }
        );
    }
    Ok(())
}
