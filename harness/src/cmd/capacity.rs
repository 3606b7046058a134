//! `hercules capacity`: latency-bounded throughput of one schedule under an SLA, written after
//! every trial so Ctrl-C leaves the finished ones on disk.

use crate::args::parse_duration;
use crate::engine::schedule::Schedule;
use crate::latency::Sla;
use crate::output;
use crate::output::table::{num, Table};
use crate::serve::capacity::{all_rejected, measure_guarded, CapacityParams, RepeatArgs, RepeatSummary};
use crate::serve::fixture::{Fixture, ServeArgs};
use crate::serve::interrupt_flag;
use crate::serve::rate_search::SearchStatus;
use crate::serve::report::{power_line, trial_row, trial_table, warn_noise, CapacityReport, ServeHeader};
use anyhow::{bail, Context, Result};
use clap::Args;
use hercules_results::stats::TailInterval;
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
    #[command(flatten)]
    pub repeat: RepeatArgs,
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
    let rp = a.repeat.params(1)?;
    let schedule: Schedule =
        a.common.schedule.parse().with_context(|| format!("--schedule {}", a.common.schedule))?;
    let mut fixture = Fixture::new(&a.common, None)?;
    let placed = fixture.start(schedule).context("--schedule")?;
    let interrupt = interrupt_flag();
    let mut report = CapacityReport {
        header: ServeHeader::new("capacity", &fixture, &placed, Some(sla), a.common.seed),
        best_qps: None,
        trials: Vec::new(),
        summary: None,
        in_progress: None,
    };
    let table = |r: &CapacityReport| if rp.repeats == 1 { rate_trials(r) } else { repeats_table(r) };
    let write = |r: &CapacityReport| a.common.out.write(r, &table(r));
    eprintln!(
        "capacity: {} on {} under {sla}{}",
        a.common.model,
        placed.schedule,
        if rp.repeats > 1 { format!(", {} trials", rp.repeats) } else { String::new() }
    );
    if let Some(lane) = &placed.gpu_lane {
        eprintln!("gpu lane: {lane}");
    }
    let bar = output::progress::bar((a.max_trials * rp.repeats) as u64, "trials");
    for attempt in 0..rp.max_attempts() {
        let accepted = report.trials.iter().filter(|t| t.rejected.is_none() && !t.interrupted()).count();
        if accepted == rp.repeats {
            break;
        }
        let p = CapacityParams { seed: params.seed.wrapping_add(attempt as u64), ..params.clone() };
        let rep = measure_guarded(
            &mut fixture,
            &placed,
            &p,
            rp.guard.as_ref(),
            interrupt,
            |run| {
                report.in_progress = Some(run.clone());
                write(&report)
            },
            Some(&bar),
        )?;
        report.in_progress = None;
        if let Some(why) = &rep.rejected {
            bar.suspend(|| {
                eprintln!("trial {} (seed {}) rejected: {why}; repeating it", attempt + 1, rep.seed)
            });
        } else if rp.repeats > 1 && !rep.interrupted() {
            bar.suspend(|| eprintln!("trial {} (seed {}): {:.1} QPS", attempt + 1, rep.seed, rep.qps()));
        }
        let stop = rep.interrupted();
        report.trials.push(rep);
        let summary = RepeatSummary::new(&report.trials, &sla, rp.confidence, params.tolerance);
        report.best_qps = summary.interval.as_ref().map(|i| i.median).filter(|&q| q > 0.0);
        report.summary = Some(summary);
        write(&report)?;
        if stop {
            break;
        }
    }
    bar.finish_and_clear();
    let last = report.trials.last().context("no trial ran")?;
    let median = report.summary.as_ref().and_then(|s| s.median_trial).map(|i| &report.trials[i]);
    let shown = if last.interrupted() { last } else { median.unwrap_or(last) };
    let outcome = shown.run.outcome.context("a trial ended without an outcome")?;
    report.header.status = output::serde_name(&outcome.status);
    write(&report)?;

    if let Some(c) = shown.run.calibration_qps {
        eprintln!(
            "calibration: closed-loop saturation {c:.1} QPS, search started at {:.1} QPS",
            shown.run.search.start_qps
        );
    }
    print!("{}", table(&report).render());
    if let Some(b) = &shown.run.best {
        println!("{}", power_line(&b.power, &b.counters));
    }
    let all: Vec<_> = report.trials.iter().flat_map(|t| t.run.trace.iter().cloned()).collect();
    warn_noise(&all);
    let summary = report.summary.as_ref();
    if let Some(t) = summary.and_then(|s| s.tail.as_ref()) {
        println!("{}", tail_line(t, &sla));
    }
    match outcome.status {
        SearchStatus::Converged | SearchStatus::AtMaxQps | SearchStatus::OutOfTrials => {
            let best = outcome.best_qps.unwrap_or(0.0);
            match summary.and_then(|s| s.interval.as_ref()).filter(|i| i.trials.len() > 1) {
                Some(iv) => {
                    // When the guard rejected every trial, the interval is over the rejected ones.
                    let over = if all_rejected(iv) {
                        format!("over {} trials, every one rejected by the host-noise guard", iv.trials.len())
                    } else {
                        format!(
                            "over {} accepted trials ({} rejected by the host-noise guard)",
                            iv.trials.len(),
                            iv.rejected.len()
                        )
                    };
                    println!(
                        "latency-bounded throughput: median {:.1} QPS under {sla}, {:.0}% interval {:.1}–{:.1} QPS \
                         {over}; {}",
                        iv.median,
                        iv.confidence * 100.0,
                        iv.low,
                        iv.high,
                        iv.method
                    )
                }
                None => println!(
                    "latency-bounded throughput: {best:.1} QPS under {sla} ({} trials, {:?}{})",
                    outcome.evaluations,
                    outcome.status,
                    outcome.lowest_failing_qps.map_or(String::new(), |f| format!("; {f:.1} QPS failed"))
                ),
            }
            Ok(())
        }
        SearchStatus::Unreachable => {
            let lowest = shown.run.trace.last().map(|r| &r.trial);
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
            report.trials.iter().map(|t| t.run.trace.len()).sum::<usize>(),
            a.common.out.json.as_ref().map_or(String::new(), |p| format!("; they are in {}", p.display()))
        ),
    }
}

/// The rate search's trials of every repeat (the table of a single measurement).
fn rate_trials(r: &CapacityReport) -> Table {
    let mut t = trial_table();
    for rec in r.trials.iter().map(|t| &t.run).chain(&r.in_progress).flat_map(|run| &run.trace) {
        trial_row(&mut t, rec);
    }
    t
}

/// One row per repeated trial.
fn repeats_table(r: &CapacityReport) -> Table {
    let mut t = Table::new([
        "trial",
        "seed",
        "latency_bounded_qps",
        "lowest_failing_qps",
        "rate_trials",
        "status",
        "probe_drift",
        "steal",
        "verdict",
    ]);
    for (i, rep) in r.trials.iter().enumerate() {
        let o = rep.run.outcome;
        t.push([
            (i + 1).to_string(),
            rep.seed.to_string(),
            num(rep.run.best_qps, 1),
            num(o.and_then(|o| o.lowest_failing_qps), 1),
            rep.run.trace.len().to_string(),
            o.map_or("running".into(), |o| output::serde_name(&o.status)),
            format!("{:.3}", rep.probe_before.drift(&rep.probe_after)),
            num(rep.machine.steal_fraction, 3),
            match (&rep.rejected, rep.interrupted()) {
                (_, true) => "interrupted".into(),
                (Some(w), _) => format!("rejected: {w}"),
                (None, _) => "accepted".into(),
            },
        ]);
    }
    t
}

/// The SLA percentile at the median trial's rate, with its interval from the query count.
fn tail_line(t: &TailInterval, sla: &Sla) -> String {
    let bound =
        |b: Option<f64>| b.map_or("unbounded (too few queries)".to_string(), |x| format!("{x:.2} ms"));
    format!(
        "p{} at that rate: {:.2} ms, {:.0}% interval {} – {} from {} queries{}",
        t.percentile,
        t.estimate_ms,
        t.confidence * 100.0,
        bound(t.low_ms),
        bound(t.high_ms),
        t.queries,
        match t.high_ms {
            Some(h) if h <= sla.target.as_secs_f64() * 1e3 => "; the SLA is met with that confidence",
            Some(_) => "; the SLA is not met with that confidence (the upper bound is over the target)",
            None => "",
        }
    )
}
