//! Latency-bounded throughput of one placed schedule: closed-loop calibration, then the rate
//! search over open-loop trials.

use super::fixture::{Fixture, Placed, TrialRecord};
use super::rate_search::{self, SearchResult, SearchSpec};
use super::trial::{self, Load, StopReason, TrialSpec};
use crate::latency::Sla;
use crate::{args, limits};
use anyhow::{anyhow, bail, Result};
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
