//! Latency-bounded throughput: the highest offered rate whose tail latency meets the SLA (SPEC §4).
//!
//! A ramp finds a passing and a failing rate (up by `ramp` from the start while trials pass, down
//! by it while they fail), then a bisection narrows the gap to `tolerance`. Every probe is a full
//! trial (warm-up, minimum queries and duration, early stopping), supplied by the caller so the
//! search can be tested against a synthetic engine.

use serde::Serialize;
use thiserror::Error;

/// Search settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SearchSpec {
    /// First rate tried, QPS.
    pub start_qps: f64,
    /// Give up (SLA unreachable) when a rate below this fails.
    pub min_qps: f64,
    /// Never offer more than this.
    pub max_qps: f64,
    /// Ramp factor (> 1).
    pub ramp: f64,
    /// Stop bisecting when (fail − pass) / pass is at most this.
    pub tolerance: f64,
    /// Most trials in all.
    pub max_trials: usize,
}

impl Default for SearchSpec {
    fn default() -> Self {
        Self { start_qps: 100.0, min_qps: 1.0, max_qps: 1e7, ramp: 2.0, tolerance: 0.02, max_trials: 24 }
    }
}

/// Why a search was refused before it started.
#[derive(Debug, Error, PartialEq)]
#[error("capacity search: {0}")]
pub struct SearchError(String);

/// How the search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SearchStatus {
    /// The pass/fail gap is within tolerance.
    Converged,
    /// Even `min_qps` missed the SLA.
    Unreachable,
    /// `max_qps` passed: the true capacity may be higher.
    AtMaxQps,
    /// `max_trials` ran out before convergence (the best passing rate is still reported).
    OutOfTrials,
    /// Ctrl-C.
    Interrupted,
}

/// The search's answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SearchResult {
    /// Highest rate that met the SLA.
    pub best_qps: Option<f64>,
    /// Lowest rate that missed it.
    pub lowest_failing_qps: Option<f64>,
    /// Trials run.
    pub evaluations: usize,
    /// How it ended.
    pub status: SearchStatus,
}

/// Runs the search. `probe(qps)` runs one trial and says whether it met the SLA (`None`: it was
/// interrupted).
pub fn search<E>(
    spec: &SearchSpec,
    mut probe: impl FnMut(f64) -> Result<Option<bool>, E>,
) -> Result<Result<SearchResult, SearchError>, E> {
    if !(spec.min_qps > 0.0 && spec.min_qps <= spec.start_qps && spec.start_qps <= spec.max_qps) {
        return Ok(Err(SearchError(format!(
            "need 0 < min-qps ({}) <= start-qps ({}) <= max-qps ({})",
            spec.min_qps, spec.start_qps, spec.max_qps
        ))));
    }
    if spec.ramp.is_nan()
        || spec.ramp <= 1.0
        || spec.tolerance.is_nan()
        || spec.tolerance <= 0.0
        || spec.max_trials == 0
    {
        return Ok(Err(SearchError("need ramp > 1, tolerance > 0 and at least one trial".into())));
    }
    let (mut lo, mut hi): (Option<f64>, Option<f64>) = (None, None);
    let mut n = 0;
    let done = |lo, hi, n, status| {
        Ok(Ok(SearchResult { best_qps: lo, lowest_failing_qps: hi, evaluations: n, status }))
    };
    let mut q = spec.start_qps;
    // Ramp until one rate passes and one fails.
    while lo.is_none() || hi.is_none() {
        if n == spec.max_trials {
            return done(lo, hi, n, SearchStatus::OutOfTrials);
        }
        n += 1;
        match probe(q)? {
            None => return done(lo, hi, n, SearchStatus::Interrupted),
            Some(true) => {
                lo = Some(q);
                if hi.is_none() {
                    if q >= spec.max_qps {
                        return done(lo, hi, n, SearchStatus::AtMaxQps);
                    }
                    q = (q * spec.ramp).min(spec.max_qps);
                }
            }
            Some(false) => {
                hi = Some(q);
                if lo.is_none() {
                    if q <= spec.min_qps {
                        return done(lo, hi, n, SearchStatus::Unreachable);
                    }
                    q = (q / spec.ramp).max(spec.min_qps);
                }
            }
        }
    }
    // Bisect.
    while let (Some(l), Some(h)) = (lo, hi) {
        if (h - l) / l <= spec.tolerance {
            return done(lo, hi, n, SearchStatus::Converged);
        }
        if n == spec.max_trials {
            return done(lo, hi, n, SearchStatus::OutOfTrials);
        }
        let mid = 0.5 * (l + h);
        n += 1;
        match probe(mid)? {
            None => return done(lo, hi, n, SearchStatus::Interrupted),
            Some(true) => lo = Some(mid),
            Some(false) => hi = Some(mid),
        }
    }
    unreachable!("both bounds are set after the ramp")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// An M/M/1-like engine: p95 latency = 1 ms / (1 − rate / 1000), so p95 ≤ 10 ms up to 900 QPS.
    fn synthetic(q: f64) -> bool {
        q < 1000.0 && 1.0 / (1.0 - q / 1000.0) <= 10.0
    }

    #[test]
    fn converges_to_the_known_capacity() {
        for start in [10.0, 100.0, 850.0, 5000.0] {
            let spec = SearchSpec { start_qps: start, min_qps: 1.0, ..SearchSpec::default() };
            let mut tried = Vec::new();
            let r = search(&spec, |q| {
                tried.push(q);
                Ok::<_, Infallible>(Some(synthetic(q)))
            })
            .unwrap()
            .unwrap();
            assert_eq!(r.status, SearchStatus::Converged, "{r:?}");
            let best = r.best_qps.unwrap();
            assert!((900.0 * 0.98..=900.0).contains(&best), "start {start}: best {best} after {tried:?}");
            assert!(r.evaluations <= 16, "{r:?}");
        }
    }

    #[test]
    fn unreachable_stops() {
        let spec = SearchSpec { start_qps: 1000.0, min_qps: 1.0, ..SearchSpec::default() };
        let r = search(&spec, |_| Ok::<_, Infallible>(Some(false))).unwrap().unwrap();
        assert_eq!(r.status, SearchStatus::Unreachable);
        assert_eq!(r.best_qps, None);
        assert!(r.evaluations <= 11, "{r:?}");
    }

    #[test]
    fn at_max_and_out_of_trials_and_interrupt() {
        let spec = SearchSpec { start_qps: 10.0, max_qps: 100.0, ..SearchSpec::default() };
        let r = search(&spec, |_| Ok::<_, Infallible>(Some(true))).unwrap().unwrap();
        assert_eq!((r.status, r.best_qps), (SearchStatus::AtMaxQps, Some(100.0)));
        let spec = SearchSpec { start_qps: 10.0, max_trials: 3, ..SearchSpec::default() };
        let r = search(&spec, |q| Ok::<_, Infallible>(Some(synthetic(q)))).unwrap().unwrap();
        assert_eq!(r.status, SearchStatus::OutOfTrials);
        let r = search(&spec, |_| Ok::<_, Infallible>(None)).unwrap().unwrap();
        assert_eq!(r.status, SearchStatus::Interrupted);
        let bad = SearchSpec { start_qps: 0.5, min_qps: 1.0, ..SearchSpec::default() };
        assert!(search(&bad, |_| Ok::<_, Infallible>(Some(true))).unwrap().is_err());
    }
}
