//! The statistics behind a table's uncertainty: an interval for a latency-bounded throughput from
//! repeated independent trials, and a distribution-free interval for a tail percentile from the
//! number of queries behind it. Both are small enough to write out; no statistics crate is needed.

use serde::{Deserialize, Serialize};

/// How [`QpsInterval::from_trials`] computes its bounds (written into every interval).
pub const QPS_INTERVAL_METHOD: &str = "Student t on ln QPS over the accepted trials (multiplicative noise), \
     widened to at least the rate search's tolerance around the median";

/// How [`TailInterval::from_sorted`] computes its bounds.
pub const TAIL_INTERVAL_METHOD: &str = "binomial order statistics (distribution-free), the arithmetic \
     of MLPerf LoadGen's early-stopping estimate";

/// A latency-bounded throughput measured as several independent trials (each a whole rate search
/// with its own arrivals), with a confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QpsInterval {
    /// Median of the accepted trials' latency-bounded QPS.
    pub median: f64,
    /// Lower end of the interval (the conservative capacity).
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Two-sided confidence level, e.g. 0.90. With one trial there is no interval: `low` = `high` =
    /// `median` and `method` says so.
    pub confidence: f64,
    /// How the bounds were computed.
    pub method: String,
    /// Each accepted trial's latency-bounded QPS, in the order measured (nothing smoothed away).
    pub trials: Vec<f64>,
    /// Trials the host-noise guard rejected and repeated, each with why.
    #[serde(default)]
    pub rejected: Vec<String>,
}

impl QpsInterval {
    /// The interval from accepted trials (`None` when there are none). `tolerance` is the rate
    /// search's relative resolution: no interval is narrower than the search can tell apart.
    pub fn from_trials(
        trials: &[f64],
        confidence: f64,
        tolerance: f64,
        rejected: Vec<String>,
    ) -> Option<Self> {
        let med = median(trials)?;
        let (mut low, mut high, method) = match t_interval_ln(trials, confidence) {
            Some((l, h)) => (l, h, QPS_INTERVAL_METHOD.to_string()),
            None if trials.len() == 1 => {
                (med, med, "one trial: no interval (repeat with --repeats 2 or more)".to_string())
            }
            None => {
                let lo = trials.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = trials.iter().copied().fold(0.0, f64::max);
                (lo, hi, "range of the trials (a trial met the SLA at no rate: no t interval)".to_string())
            }
        };
        if trials.len() > 1 {
            low = low.min(med / (1.0 + tolerance / 2.0));
            high = high.max(med * (1.0 + tolerance / 2.0));
        }
        Some(QpsInterval { median: med, low, high, confidence, method, trials: trials.to_vec(), rejected })
    }

    /// Whether `x` lies inside [low, high].
    pub fn covers(&self, x: f64) -> bool {
        (self.low..=self.high).contains(&x)
    }

    /// Whether two intervals do not overlap (the difference is significant at this confidence).
    pub fn separated_from(&self, other: &QpsInterval) -> bool {
        self.low > other.high || other.low > self.high
    }
}

/// Where a tail percentile's true value lies, from the latencies of the queries that measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailInterval {
    /// The percentile, e.g. 95.0.
    pub percentile: f64,
    /// Queries measured (unfinished ones count as slower than every finished one).
    pub queries: u64,
    /// The measured percentile, ms.
    pub estimate_ms: f64,
    /// Lower bound, ms (`None`: too few queries to bound it).
    pub low_ms: Option<f64>,
    /// Upper bound, ms (`None`: too few queries to bound it).
    pub high_ms: Option<f64>,
    /// Two-sided confidence level.
    pub confidence: f64,
    /// How the bounds were computed.
    pub method: String,
}

/// Median of `xs` (`None` when empty or any is NaN).
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() || xs.iter().any(|x| x.is_nan()) {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) })
}

/// Two-sided Student-t interval at `confidence` for the geometric mean of positive `xs`, computed on
/// their logarithms. `None` with fewer than two values or a value that is not positive.
pub fn t_interval_ln(xs: &[f64], confidence: f64) -> Option<(f64, f64)> {
    if xs.len() < 2 || xs.iter().any(|&x| !(x > 0.0 && x.is_finite())) {
        return None;
    }
    let n = xs.len() as f64;
    let logs: Vec<f64> = xs.iter().map(|x| x.ln()).collect();
    let mean = logs.iter().sum::<f64>() / n;
    let var = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = t_quantile(0.5 + confidence / 2.0, xs.len() - 1) * (var / n).sqrt();
    Some(((mean - half).exp(), (mean + half).exp()))
}

/// P(|T| < t) for Student's t with `dof` degrees of freedom (Abramowitz & Stegun 26.7.3–4, exact
/// for integer degrees of freedom).
fn t_abs_cdf(t: f64, dof: usize) -> f64 {
    let nu = dof as f64;
    let theta = (t.abs() / nu.sqrt()).atan();
    let (s, c, c2) = (theta.sin(), theta.cos(), theta.cos().powi(2));
    if dof == 1 {
        return 2.0 * theta / std::f64::consts::PI;
    }
    if dof % 2 == 1 {
        return 2.0 / std::f64::consts::PI * (theta + s * c * odd_series(c2, dof));
    }
    // 1 + 1/2 c² + (1·3)/(2·4) c⁴ + ... up to the term with cos^(dof−2).
    let (mut term, mut sum, mut k) = (1.0, 1.0, 1.0);
    while k <= nu - 2.0 {
        term *= c2 * k / (k + 1.0);
        sum += term;
        k += 2.0;
    }
    s * sum
}

/// 1 + 2/3 c² + (2·4)/(3·5) c⁴ + ... up to the term with cos^(dof−3), for odd dof ≥ 3.
fn odd_series(c2: f64, dof: usize) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 2.0;
    while k <= dof as f64 - 3.0 {
        term *= c2 * k / (k + 1.0);
        sum += term;
        k += 2.0;
    }
    sum
}

/// The `q` quantile (q in (0.5, 1)) of Student's t with `dof` ≥ 1 degrees of freedom, by bisection.
pub fn t_quantile(q: f64, dof: usize) -> f64 {
    let want = 2.0 * q - 1.0; // P(|T| < t)
    let (mut lo, mut hi) = (0.0, 1.0);
    while t_abs_cdf(hi, dof.max(1)) < want && hi < 1e12 {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_abs_cdf(mid, dof.max(1)) < want {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// 1-based ranks (low, high) of the order statistics that bracket the `percentile` (0–100) of the
/// population with two-sided `confidence`, among `n` samples: P(X_(low) ≤ ξ ≤ X_(high)) ≥ confidence.
/// Either is `None` when `n` is too small to bound that side. X_(r) < ξ exactly when at least r of
/// the n samples fall below ξ, a Binomial(n, p) count.
pub fn percentile_rank_bounds(n: u64, percentile: f64, confidence: f64) -> (Option<u64>, Option<u64>) {
    let p = (percentile / 100.0).clamp(1e-12, 1.0 - 1e-12);
    let alpha = (1.0 - confidence) / 2.0;
    // Walk the binomial CDF in log space (no underflow at large n).
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut log_pmf = n as f64 * lq; // P(X = 0)
    let mut cdf = log_pmf.exp();
    let (mut low, mut high) = (None, None);
    for k in 0..=n {
        // cdf = P(X ≤ k). Lower rank r = k + 1 is valid while P(X ≥ r) = 1 − P(X ≤ k) ≥ 1 − α.
        if cdf <= alpha {
            low = Some(k + 1);
        }
        // Upper rank r = k + 1 is valid once P(X ≤ r − 1) = P(X ≤ k) ≥ 1 − α.
        if high.is_none() && cdf >= 1.0 - alpha {
            high = Some(k + 1);
            break;
        }
        if k == n {
            break;
        }
        log_pmf += ((n - k) as f64).ln() - ((k + 1) as f64).ln() + lp - lq;
        cdf += log_pmf.exp();
    }
    (low.filter(|&r| r >= 1 && r <= n), high.filter(|&r| r <= n))
}

impl TailInterval {
    /// The interval of the `percentile` from latencies (ms) sorted ascending.
    pub fn from_sorted(sorted_ms: &[f64], percentile: f64, confidence: f64) -> Option<Self> {
        let n = sorted_ms.len() as u64;
        if n == 0 {
            return None;
        }
        let (lo, hi) = percentile_rank_bounds(n, percentile, confidence);
        let at = |rank: u64| sorted_ms[(rank - 1) as usize];
        let est = ((percentile / 100.0 * n as f64).ceil() as u64).clamp(1, n);
        Some(Self::new(percentile, n, at(est), lo.map(at), hi.map(at), confidence))
    }

    /// An interval from already-located bounds.
    pub fn new(
        percentile: f64,
        queries: u64,
        estimate_ms: f64,
        low_ms: Option<f64>,
        high_ms: Option<f64>,
        confidence: f64,
    ) -> Self {
        TailInterval {
            percentile,
            queries,
            estimate_ms,
            low_ms,
            high_ms,
            confidence,
            method: TAIL_INTERVAL_METHOD.into(),
        }
    }
}

/// Checks a confidence level: a number strictly between 0 and 1.
pub fn check_confidence(c: f64) -> Result<f64, String> {
    if c.is_finite() && c > 0.0 && c < 1.0 {
        Ok(c)
    } else {
        Err(format!("confidence {c} must be a number strictly between 0 and 1 (e.g. 0.9)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_published_table() {
        // Two-sided 90% (one-sided 0.95) and 95% critical values.
        for (dof, t95, t975) in [
            (1, 6.314, 12.706),
            (2, 2.920, 4.303),
            (3, 2.353, 3.182),
            (4, 2.132, 2.776),
            (5, 2.015, 2.571),
            (10, 1.812, 2.228),
            (30, 1.697, 2.042),
        ] {
            assert!((t_quantile(0.95, dof) - t95).abs() < 2e-3, "dof {dof}: {}", t_quantile(0.95, dof));
            assert!((t_quantile(0.975, dof) - t975).abs() < 2e-3, "dof {dof}: {}", t_quantile(0.975, dof));
        }
    }

    #[test]
    fn interval_brackets_the_median_and_widens_with_spread() {
        let tight = QpsInterval::from_trials(&[100.0, 101.0, 99.0], 0.9, 0.02, vec![]).unwrap();
        let loose = QpsInterval::from_trials(&[80.0, 120.0, 100.0], 0.9, 0.02, vec![]).unwrap();
        assert_eq!(tight.median, 100.0);
        assert!(tight.low < 100.0 && tight.high > 100.0);
        assert!(loose.high - loose.low > 5.0 * (tight.high - tight.low));
        // Never narrower than the rate search's resolution.
        let same = QpsInterval::from_trials(&[100.0, 100.0], 0.9, 0.02, vec![]).unwrap();
        assert!((same.low - 100.0 / 1.01).abs() < 1e-9 && (same.high - 101.0).abs() < 1e-9);
        let one = QpsInterval::from_trials(&[50.0], 0.9, 0.02, vec![]).unwrap();
        assert_eq!((one.low, one.high), (50.0, 50.0));
        assert!(one.method.starts_with("one trial"));
        assert!(QpsInterval::from_trials(&[], 0.9, 0.02, vec![]).is_none());
        assert!(!tight.separated_from(&loose) && loose.covers(110.0) && !tight.covers(110.0));
        let unmet = QpsInterval::from_trials(&[0.0, 90.0, 100.0], 0.9, 0.02, vec![]).unwrap();
        assert_eq!((unmet.low, unmet.median), (0.0, 90.0));
        assert!(unmet.high >= 100.0 && unmet.method.starts_with("range"));
    }

    #[test]
    fn t_interval_covers_the_true_value_at_its_confidence() {
        // Lognormal draws (σ = 0.1) with a small LCG: over 2000 intervals of 3 trials the coverage
        // of the true geometric mean is 90% ± 2%.
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut unif = || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let mut covered = 0;
        for _ in 0..2000 {
            let xs: Vec<f64> = (0..3)
                .map(|_| {
                    let (u, v) = (unif(), unif());
                    let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
                    100.0 * (0.1 * z).exp()
                })
                .collect();
            let (lo, hi) = t_interval_ln(&xs, 0.9).unwrap();
            covered += usize::from(lo <= 100.0 && 100.0 <= hi);
        }
        assert!((1760..=1840).contains(&covered), "{covered} of 2000");
    }

    #[test]
    fn percentile_ranks_bracket_the_percentile_and_need_enough_queries() {
        // 1000 samples, p95 at rank 950: the 90% bounds straddle it.
        let (lo, hi) = percentile_rank_bounds(1000, 95.0, 0.9);
        let (lo, hi) = (lo.unwrap(), hi.unwrap());
        assert!(lo < 950 && hi > 950 && hi <= 1000, "{lo} {hi}");
        // Normal approximation: 950 ± 1.645 · √(1000 · 0.95 · 0.05) ≈ 950 ± 11.
        assert!((lo as i64 - 939).abs() <= 2 && (hi as i64 - 962).abs() <= 2, "{lo} {hi}");
        // With 20 queries nothing bounds the p99 from above (the 20th is below it with prob 0.82).
        assert_eq!(percentile_rank_bounds(20, 99.0, 0.9).1, None);
        assert_eq!(percentile_rank_bounds(0, 95.0, 0.9), (None, None));
    }

    #[test]
    fn tail_interval_reads_the_sorted_latencies() {
        let lat: Vec<f64> = (1..=1000).map(f64::from).collect();
        let t = TailInterval::from_sorted(&lat, 95.0, 0.9).unwrap();
        assert_eq!(t.estimate_ms, 950.0);
        assert!(t.low_ms.unwrap() < 950.0 && t.high_ms.unwrap() > 950.0);
        assert!(TailInterval::from_sorted(&[], 95.0, 0.9).is_none());
    }

    #[test]
    fn confidence_must_be_inside_zero_one() {
        for bad in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            assert!(check_confidence(bad).is_err(), "{bad}");
        }
        assert_eq!(check_confidence(0.9), Ok(0.9));
    }
}
