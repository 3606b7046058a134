//! `hercules capacity`: latency-bounded throughput of one schedule under an SLA, written after
//! every trial so Ctrl-C leaves the finished ones on disk.

use crate::args::parse_duration;
use crate::engine::schedule::Schedule;
use crate::latency::Sla;
use crate::output;
use crate::serve::capacity::{measure_capacity, CapacityParams, CapacityRun};
use crate::serve::fixture::{Fixture, ServeArgs};
use crate::serve::interrupt_flag;
use crate::serve::rate_search::{SearchSpec, SearchStatus};
use crate::serve::report::{power_line, trial_row, trial_table, warn_noise, CapacityReport, ServeHeader};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::time::Duration;

/// `hercules capacity` arguments.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub common: ServeArgs,
    /// The SLA: percentile and target, e.g. `p95:100ms`.
    #[arg(long)]
    pub sla: String,
    /// First offered rate (default: half the closed-loop saturation rate).
    #[arg(long)]
    pub start_qps: Option<f64>,
    /// Lowest rate tried before declaring the SLA unreachable.
    #[arg(long, default_value_t = 1.0)]
    pub min_qps: f64,
    /// Highest rate tried (default: 1.5 × the closed-loop saturation rate).
    #[arg(long)]
    pub max_qps: Option<f64>,
    /// Stop when the gap between the best passing and lowest failing rate is this fraction.
    #[arg(long, default_value_t = 0.02)]
    pub tolerance: f64,
    /// Most trials.
    #[arg(long, default_value_t = 20)]
    pub max_trials: usize,
    /// Longest measured time per trial (early stopping usually ends it sooner).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub trial_duration: Duration,
    /// A trial may stop early only after this much measured time...
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub min_duration: Duration,
    /// ...and this many measured queries.
    #[arg(long, default_value_t = 1000)]
    pub min_queries: usize,
    /// Closed-loop calibration time used to pick the start and top rates.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub calibrate: Duration,
}

impl CapacityArgs {
    /// The measurement settings these flags give.
    fn params(&self, sla: Sla) -> CapacityParams {
        CapacityParams {
            sla,
            seed: self.common.seed,
            warmup: self.common.warmup,
            start_qps: self.start_qps,
            min_qps: self.min_qps,
            max_qps: self.max_qps,
            tolerance: self.tolerance,
            max_trials: self.max_trials,
            trial_duration: self.trial_duration,
            min_duration: self.min_duration,
            min_queries: self.min_queries,
            calibrate: self.calibrate,
        }
    }
}

/// Runs `hercules capacity`.
pub fn run(a: CapacityArgs) -> Result<()> {
    let sla = Sla::parse(&a.sla)?;
    let params = a.params(sla);
    params.check()?;
    let schedule: Schedule =
        a.common.schedule.parse().with_context(|| format!("--schedule {}", a.common.schedule))?;
    let mut fixture = Fixture::new(&a.common, None)?;
    let placed = fixture.start(schedule).context("--schedule")?;
    let interrupt = interrupt_flag();
    let mut report = CapacityReport {
        header: ServeHeader::new("capacity", &fixture, &placed, Some(sla), a.common.seed),
        run: CapacityRun {
            calibration_qps: None,
            search: SearchSpec::default(),
            outcome: None,
            best_qps: None,
            best: None,
            trace: Vec::new(),
            curve: Vec::new(),
        },
    };
    let write = |r: &CapacityReport| -> Result<()> {
        let mut t = trial_table();
        for rec in &r.run.trace {
            trial_row(&mut t, rec);
        }
        a.common.out.write(r, &t)
    };
    eprintln!("capacity: {} on {} under {sla}", a.common.model, placed.schedule);
    if let Some(lane) = &placed.gpu_lane {
        eprintln!("gpu lane: {lane}");
    }
    let bar = output::progress::bar(a.max_trials as u64, "trials");
    let run = measure_capacity(
        &mut fixture,
        &placed,
        &params,
        interrupt,
        |run| {
            report.run = run.clone();
            write(&report)
        },
        Some(&bar),
    )?;
    bar.finish_and_clear();
    if let Some(c) = run.calibration_qps {
        eprintln!(
            "calibration: closed-loop saturation {c:.1} QPS, search started at {:.1} QPS",
            run.search.start_qps
        );
    }
    let outcome = run.outcome.expect("measure_capacity sets the outcome");
    report.run = run;
    report.header.status = output::serde_name(&outcome.status);
    write(&report)?;

    let mut table = trial_table();
    for rec in &report.run.trace {
        trial_row(&mut table, rec);
    }
    print!("{}", table.render());
    if let Some(b) = &report.run.best {
        println!("{}", power_line(&b.power, &b.counters));
    }
    warn_noise(&report.run.trace);
    match outcome.status {
        SearchStatus::Converged | SearchStatus::AtMaxQps | SearchStatus::OutOfTrials => {
            let best = outcome.best_qps.unwrap_or(0.0);
            println!(
                "latency-bounded throughput: {best:.1} QPS under {sla} ({} trials, {:?}{})",
                outcome.evaluations,
                outcome.status,
                outcome.lowest_failing_qps.map_or(String::new(), |f| format!("; {f:.1} QPS failed"))
            );
            Ok(())
        }
        SearchStatus::Unreachable => {
            let lowest = report.run.trace.last().map(|r| &r.trial);
            bail!(
                "SLA {sla} is unreachable for {} on {}: even {:.2} QPS gave p{} = {:.2} ms ({} trials)",
                a.common.model,
                placed.schedule,
                outcome.lowest_failing_qps.unwrap_or(a.min_qps),
                sla.percentile,
                lowest.map_or(f64::NAN, |t| t.histogram.percentile_ns(sla.percentile) as f64 * 1e-6),
                outcome.evaluations
            )
        }
        SearchStatus::Interrupted => bail!(
            "interrupted (Ctrl-C) after {} finished trials{}",
            report.run.trace.len(),
            a.common.out.json.as_ref().map_or(String::new(), |p| format!("; they are in {}", p.display()))
        ),
    }
}
