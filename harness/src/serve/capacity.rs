//! Latency-bounded throughput of one placed schedule: closed-loop calibration, then the rate
//! search over open-loop trials.

use super::fixture::{Fixture, Placed, TrialRecord};
use super::rate_search::{self, SearchResult, SearchSpec};
use super::trial::{self, Load, StopReason, TrialSpec};
use crate::latency::Sla;
use crate::noise::{self, Guard, Noise, Probe};
use crate::{args, limits};
use anyhow::{anyhow, bail, Result};
use hercules_results::stats::{QpsInterval, TailInterval};
use hercules_results::table::CurvePoint;
use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// How a latency-bounded-throughput measurement runs.
#[derive(Debug, Clone)]
pub struct CapacityParams {
    /// The SLA.
    pub sla: Sla,
    /// Seed for arrivals and sizes.
    pub seed: u64,
    /// Warm-up per trial.
    pub warmup: Duration,
    /// First offered rate (default: half the closed-loop saturation rate).
    pub start_qps: Option<f64>,
    /// Lowest rate tried before declaring the SLA unreachable.
    pub min_qps: f64,
    /// Highest rate tried (default: 1.5 × the closed-loop saturation rate).
    pub max_qps: Option<f64>,
    /// Bisection stops at this relative gap.
    pub tolerance: f64,
    /// Most trials.
    pub max_trials: usize,
    /// Longest measured time per trial.
    pub trial_duration: Duration,
    /// Early stopping waits for this much measured time...
    pub min_duration: Duration,
    /// ...and this many measured queries.
    pub min_queries: usize,
    /// Closed-loop calibration time.
    pub calibrate: Duration,
}

impl CapacityParams {
    /// Checks the settings that do not depend on the model.
    pub fn check(&self) -> Result<()> {
        if self.trial_duration.is_zero() || self.min_duration > self.trial_duration {
            bail!("need 0 < --min-duration <= --trial-duration");
        }
        let rate =
            |flag: &str, q: f64| args::in_range(flag, q, limits::MIN_QPS, limits::MAX_QPS, "queries/s");
        let min = rate("--min-qps", self.min_qps)?;
        let start = self.start_qps.map(|q| rate("--start-qps", q)).transpose()?;
        let max = self.max_qps.map(|q| rate("--max-qps", q)).transpose()?;
        if let Some(m) = max.filter(|&m| m < min) {
            bail!("--max-qps {m} is below --min-qps {min}");
        }
        // The search never offers more than the larger of its start and top rates.
        if let Some(top) = max.or(start) {
            let top = top.max(start.unwrap_or(0.0));
            limits::check_arrivals(top, self.warmup + self.trial_duration)
                .map_err(|e| anyhow!("--max-qps: {e}"))?;
        }
        args::in_range("--tolerance", self.tolerance, 1e-6, 1.0, "")?;
        args::at_least_one("--max-trials", self.max_trials)?;
        args::at_least_one("--min-queries", self.min_queries)?;
        Ok(())
    }
}

/// One latency-bounded-throughput measurement: the search over offered rates and every trial.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityRun {
    /// Closed-loop saturation rate used to seed the search (QPS).
    pub calibration_qps: Option<f64>,
    /// Search settings.
    pub search: SearchSpec,
    /// Search outcome (absent while running).
    pub outcome: Option<SearchResult>,
    /// Latency-bounded throughput: the best passing rate.
    pub best_qps: Option<f64>,
    /// The best passing trial.
    pub best: Option<TrialRecord>,
    /// Every trial in order.
    pub trace: Vec<TrialRecord>,
    /// The curve: every open-loop trial, by offered rate.
    pub curve: Vec<CurvePoint>,
}

/// Finds the latency-bounded throughput of `placed`: closed-loop calibration, then a ramp and a
/// bisection over open-loop trials. `on_trial` sees the run after every trial (to write it out).
/// An interrupted run returns with outcome status `Interrupted`.
pub fn measure_capacity(
    fixture: &mut Fixture,
    placed: &Placed,
    p: &CapacityParams,
    interrupt: &AtomicBool,
    mut on_trial: impl FnMut(&CapacityRun) -> Result<()>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<CapacityRun> {
    let sla = p.sla;
    let base = TrialSpec {
        warmup: p.warmup,
        duration: p.trial_duration,
        min_duration: p.min_duration,
        min_queries: p.min_queries,
        sla: Some(sla),
        early_stop: true,
        // Long enough for queries that finish just past the SLA to be seen, bounded for a stuck model.
        drain: (sla.target * 4).clamp(Duration::from_millis(200), Duration::from_secs(10)),
        ..fixture.trial_spec(placed, p.seed)
    };
    // Calibrate: closed-loop saturation throughput bounds what an open loop can sustain.
    let calibration_qps = if p.start_qps.is_some() && p.max_qps.is_some() {
        None
    } else {
        let spec = TrialSpec {
            load: Load::Closed { concurrency: 2 * placed.schedule.instances },
            warmup: Duration::from_millis(200).min(p.calibrate / 2),
            duration: p.calibrate,
            sla: None,
            ..base.clone()
        };
        let t = trial::run(&placed.engine, &spec, interrupt)?;
        if t.stopped == StopReason::Interrupted {
            bail!("interrupted (Ctrl-C) during calibration: nothing measured yet");
        }
        Some(t.achieved_qps.max(p.min_qps))
    };
    let search = SearchSpec {
        start_qps: p.start_qps.or(calibration_qps.map(|x| x * 0.5)).unwrap_or(100.0).max(p.min_qps),
        min_qps: p.min_qps,
        max_qps: p.max_qps.or(calibration_qps.map(|x| x * 1.5)).unwrap_or(1e7),
        ramp: 1.5,
        tolerance: p.tolerance,
        max_trials: p.max_trials,
    };
    let mut run = CapacityRun {
        calibration_qps,
        search,
        outcome: None,
        best_qps: None,
        best: None,
        trace: Vec::new(),
        curve: Vec::new(),
    };
    let outcome = rate_search::search(&search, |qps| -> Result<Option<bool>> {
        let spec = TrialSpec { load: Load::Open { qps }, ..base.clone() };
        let rec = fixture.measured(placed, &spec, interrupt)?;
        if rec.trial.stopped == StopReason::Interrupted {
            return Ok(None);
        }
        let pass = rec.trial.sla_met == Some(true);
        if let Some(bar) = bar {
            bar.inc(1);
            bar.set_message(format!(
                "{qps:.1} QPS p{} {:.2} ms {}",
                sla.percentile,
                rec.trial.histogram.percentile_ns(sla.percentile) as f64 * 1e-6,
                if pass { "pass" } else { "fail" }
            ));
        }
        if pass && run.best_qps.is_none_or(|b| qps > b) {
            run.best_qps = Some(qps);
            run.best = Some(rec.clone());
        }
        run.trace.push(rec);
        run.curve = run.trace.iter().filter_map(|r| r.trial.curve_point()).collect();
        run.curve.sort_by(|x, y| x.offered_qps.total_cmp(&y.offered_qps));
        on_trial(&run)?;
        Ok(Some(pass))
    })?;
    run.outcome = Some(outcome?);
    Ok(run)
}

/// The flags of a repeated measurement, shared by `capacity` and `profile`.
#[derive(Debug, Clone, clap::Args)]
pub struct RepeatArgs {
    /// Independent trials of the measurement, each a whole rate search with its own arrivals; the
    /// result is their median with a confidence interval [default: capacity 1, profile 3].
    #[arg(long)]
    pub repeats: Option<usize>,
    /// Two-sided confidence of the intervals, in (0, 1).
    #[arg(long, default_value_t = 0.9)]
    pub confidence: f64,
    /// Reject and repeat a trial when the host probe (an FMA loop and forward passes of the model,
    /// ~30 ms before and after it) changed speed by more than this fraction...
    #[arg(long, default_value_t = 0.15)]
    pub max_drift: f64,
    /// ...or when other processes used more than this fraction of the machine's CPU time during it
    /// (quiet hosts measured at most 0.03; results/trust/neighbour-*)...
    #[arg(long, default_value_t = 0.05)]
    pub max_others: f64,
    /// ...or when the hypervisor stole more than this fraction of the CPU time during it.
    #[arg(long, default_value_t = 0.05)]
    pub max_steal: f64,
    /// Accept every trial whatever the host did (the probes are still recorded).
    #[arg(long)]
    pub no_guard: bool,
}

impl RepeatArgs {
    /// The settings, with `default_repeats` when `--repeats` is not given; checked.
    pub fn params(&self, default_repeats: usize) -> Result<RepeatParams> {
        let p = RepeatParams {
            repeats: self.repeats.unwrap_or(default_repeats),
            confidence: self.confidence,
            guard: (!self.no_guard).then_some(Guard {
                max_drift: self.max_drift,
                max_others: self.max_others,
                max_steal: self.max_steal,
            }),
        };
        p.check()?;
        Ok(p)
    }
}

/// How a latency-bounded throughput is repeated and judged.
#[derive(Debug, Clone, Copy)]
pub struct RepeatParams {
    /// Accepted trials wanted.
    pub repeats: usize,
    /// Two-sided confidence of the intervals.
    pub confidence: f64,
    /// The host-noise guard (`None`: every trial is accepted).
    pub guard: Option<Guard>,
}

impl RepeatParams {
    /// Checks the flags these came from.
    pub fn check(&self) -> Result<()> {
        args::at_least_one("--repeats", self.repeats)?;
        if self.repeats > limits::MAX_REPEATS {
            bail!("--repeats {} is above the harness's bound of {}", self.repeats, limits::MAX_REPEATS);
        }
        hercules_results::stats::check_confidence(self.confidence).map_err(|e| anyhow!("--{e}"))?;
        if let Some(g) = self.guard {
            args::in_range("--max-drift", g.max_drift, 0.0, 10.0, "")?;
            args::in_range("--max-others", g.max_others, 0.0, 1.0, "")?;
            args::in_range("--max-steal", g.max_steal, 0.0, 1.0, "")?;
        }
        Ok(())
    }

    /// Most trials run to get `repeats` accepted ones: as many again for rejections.
    pub fn max_attempts(&self) -> usize {
        if self.guard.is_some() {
            2 * self.repeats
        } else {
            self.repeats
        }
    }
}

/// One trial of a repeated measurement: a whole rate search with its own arrivals (`seed`), and the
/// host's state around it.
#[derive(Debug, Clone, Serialize)]
pub struct Repeat {
    /// Seed of this trial's arrivals and sizes.
    pub seed: u64,
    /// The host probe before the trial.
    pub probe_before: Probe,
    /// The host probe after it.
    pub probe_after: Probe,
    /// Other processes' and the hypervisor's share of the machine over the trial.
    pub machine: Noise,
    /// Why the guard rejected it (`None`: accepted).
    pub rejected: Option<String>,
    /// The rate search.
    pub run: CapacityRun,
}

impl Repeat {
    /// Its latency-bounded QPS (0 when no rate met the SLA).
    pub fn qps(&self) -> f64 {
        self.run.best_qps.unwrap_or(0.0)
    }

    /// Whether Ctrl-C cut it short.
    pub fn interrupted(&self) -> bool {
        self.run.outcome.is_none_or(|o| o.status == rate_search::SearchStatus::Interrupted)
    }
}

/// [`measure_capacity`] between two host probes, judged by `guard`.
pub fn measure_guarded(
    fixture: &mut Fixture,
    placed: &Placed,
    p: &CapacityParams,
    guard: Option<&Guard>,
    interrupt: &AtomicBool,
    on_trial: impl FnMut(&CapacityRun) -> Result<()>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<Repeat> {
    // The model's own work on the schedule's first core; a probe that fails leaves the read probe
    // to judge (the trial itself reports the model's errors).
    let core = placed.schedule.cores.first().copied().unwrap_or(0);
    let mut work = noise::WorkProbe::new(fixture.model.clone(), core);
    let probe_before = Probe::take().with_work(work.time().ok());
    let snap = noise::Snapshot::take();
    let run = measure_capacity(fixture, placed, p, interrupt, on_trial, bar)?;
    let machine = snap.since();
    let probe_after = Probe::take().with_work(work.time().ok());
    let mut r = Repeat { seed: p.seed, probe_before, probe_after, machine, rejected: None, run };
    if !r.interrupted() {
        r.rejected = guard.and_then(|g| g.verdict(&r.probe_before, &r.probe_after, &r.machine));
    }
    Ok(r)
}

/// How an interval made of rejected trials (the guard rejected every one) begins its method.
const HOST_NOISY: &str = "HOST NOISY: the guard rejected every trial, so these are the rejected ones";

/// Marks `iv` as made of the rejected trials, because the guard rejected every one.
pub fn mark_all_rejected(iv: &mut QpsInterval) {
    iv.method = format!("{HOST_NOISY}; {}", iv.method);
}

/// Whether `iv` is made of rejected trials only ([`mark_all_rejected`]).
pub fn all_rejected(iv: &QpsInterval) -> bool {
    iv.method.starts_with(HOST_NOISY)
}

/// Summary of repeated trials: the interval of the latency-bounded QPS over the accepted ones, and
/// the SLA percentile's interval at the median trial's best rate.
#[derive(Debug, Clone, Serialize)]
pub struct RepeatSummary {
    /// Median and interval over the accepted trials, with every trial's value and each rejection.
    pub interval: Option<QpsInterval>,
    /// The SLA percentile at the median trial's best rate, with its interval from the query count.
    pub tail: Option<TailInterval>,
    /// Index (into the trials) of the accepted trial whose QPS is the median (the lower middle one
    /// for an even count).
    pub median_trial: Option<usize>,
}

impl RepeatSummary {
    /// Summarises `repeats` (interrupted ones are left out). When the guard rejected every trial the
    /// interval is made of the rejected ones and says so.
    pub fn new(repeats: &[Repeat], sla: &Sla, confidence: f64, tolerance: f64) -> Self {
        let done: Vec<usize> = (0..repeats.len()).filter(|&i| !repeats[i].interrupted()).collect();
        let mut used: Vec<usize> = done.iter().copied().filter(|&i| repeats[i].rejected.is_none()).collect();
        let all_rejected = used.is_empty() && !done.is_empty();
        if all_rejected {
            used = done.clone();
        }
        let rejected: Vec<String> = done
            .iter()
            .filter_map(|&i| repeats[i].rejected.as_ref().map(|w| format!("seed {}: {w}", repeats[i].seed)))
            .collect();
        let qps: Vec<f64> = used.iter().map(|&i| repeats[i].qps()).collect();
        let mut interval = QpsInterval::from_trials(&qps, confidence, tolerance, rejected);
        if let (Some(iv), true) = (interval.as_mut(), all_rejected) {
            mark_all_rejected(iv);
        }
        let mut order = used.clone();
        order.sort_by(|&a, &b| repeats[a].qps().total_cmp(&repeats[b].qps()));
        let median_trial = order.get(order.len().saturating_sub(1) / 2).copied();
        let tail = median_trial
            .and_then(|i| repeats[i].run.best.as_ref())
            .and_then(|b| b.trial.histogram.tail_interval(sla.percentile, confidence));
        RepeatSummary { interval, tail, median_trial }
    }
}
