//! Latency accounting: an HDR histogram of nanoseconds (3 significant digits, 1 ns to 1 hour) and
//! the SLA it is judged against (`p95:100ms`).

use hercules_results::stats::{percentile_rank_bounds, TailInterval};
use serde::Serialize;
use std::fmt;
use std::time::Duration;
use thiserror::Error;

/// Longest latency the histogram holds; longer values are clamped to it (and show as 1 hour).
pub const MAX_NS: u64 = 3_600_000_000_000;

/// An HDR histogram of nanosecond values.
#[derive(Debug, Clone)]
pub struct Histogram(hdrhistogram::Histogram<u64>);

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self(hdrhistogram::Histogram::new_with_bounds(1, MAX_NS, 3).expect("static bounds are valid"))
    }

    /// Records one value (clamped to [1 ns, 1 h]).
    pub fn record(&mut self, ns: u64) {
        self.0.saturating_record(ns.clamp(1, MAX_NS));
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at percentile `p` (0–100), nanoseconds; 0 when empty.
    pub fn percentile_ns(&self, p: f64) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.value_at_percentile(p)
        }
    }

    /// Where the true `percentile` lies given the values recorded, at two-sided `confidence`
    /// (binomial order statistics over the recorded count); `None` when empty.
    pub fn tail_interval(&self, percentile: f64, confidence: f64) -> Option<TailInterval> {
        let n = self.0.len();
        if n == 0 {
            return None;
        }
        let (lo, hi) = percentile_rank_bounds(n, percentile, confidence);
        // The value of the r-th smallest of n recorded values.
        let at = |r: u64| self.0.value_at_quantile((r as f64 - 0.5) / n as f64) as f64 * 1e-6;
        Some(TailInterval::new(
            percentile,
            n,
            self.percentile_ns(percentile) as f64 * 1e-6,
            lo.map(at),
            hi.map(at),
            confidence,
        ))
    }

    /// p50/p95/p99/max/mean in milliseconds.
    pub fn summary_ms(&self) -> Percentiles {
        let ms = |ns: u64| ns as f64 * 1e-6;
        Percentiles {
            count: self.0.len(),
            p50: ms(self.percentile_ns(50.0)),
            p95: ms(self.percentile_ns(95.0)),
            p99: ms(self.percentile_ns(99.0)),
            max: ms(if self.0.is_empty() { 0 } else { self.0.max() }),
            mean: if self.0.is_empty() { 0.0 } else { self.0.mean() * 1e-6 },
        }
    }

    /// The same figures in microseconds (for the generator's schedule error).
    pub fn summary_us(&self) -> Percentiles {
        let s = self.summary_ms();
        Percentiles {
            count: s.count,
            p50: s.p50 * 1e3,
            p95: s.p95 * 1e3,
            p99: s.p99 * 1e3,
            max: s.max * 1e3,
            mean: s.mean * 1e3,
        }
    }
}

/// Summary of a histogram, in the unit its producer names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Why an SLA string was refused.
#[derive(Debug, Error, PartialEq, Eq)]
// User text is escaped so the error stays on one line whatever was typed.
#[error("SLA `{}`: {why} (expected e.g. p95:100ms)", .spec.escape_debug())]
pub struct SlaError {
    spec: String,
    why: String,
}

/// A tail-latency target: `percentile` of query latencies at most `target`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sla {
    /// Percentile, 0 < p < 100 (95 for p95).
    pub percentile: f64,
    /// The latency bound.
    #[serde(serialize_with = "ser_ms", rename = "target_ms")]
    pub target: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

impl Sla {
    /// Parses `pNN[.N]:DURATION`, e.g. `p95:100ms`, `p99.9:5ms`, `p99:0.06s`.
    pub fn parse(spec: &str) -> Result<Self, SlaError> {
        let err = |why: &str| SlaError { spec: spec.into(), why: why.into() };
        let (p, t) = spec.split_once(':').ok_or_else(|| err("missing `:` between percentile and target"))?;
        let p = p
            .trim()
            .strip_prefix(['p', 'P'])
            .and_then(|p| p.parse::<f64>().ok())
            .filter(|p| *p > 0.0 && *p < 100.0)
            .ok_or_else(|| err("percentile must look like p95 (between 0 and 100)"))?;
        let t = t.trim();
        let target = humantime::parse_duration(t)
            .ok()
            .or_else(|| {
                // humantime wants integers; accept decimals such as 0.5ms too.
                let split = t.find(|c: char| c.is_ascii_alphabetic())?;
                let (num, unit) = t.split_at(split);
                let v: f64 = num.parse().ok()?;
                let scale = match unit {
                    "ns" => 1e-9,
                    "us" | "µs" => 1e-6,
                    "ms" => 1e-3,
                    "s" => 1.0,
                    _ => return None,
                };
                Duration::try_from_secs_f64(v * scale).ok()
            })
            .ok_or_else(|| err("target must be a duration such as 100ms"))?;
        // Far above any real SLA; keeps every later multiple of the target finite.
        if target > Duration::from_secs(3600) {
            return Err(err("target must be at most an hour"));
        }
        if target.is_zero() {
            return Err(err("target must be above zero"));
        }
        Ok(Self { percentile: p, target })
    }

    /// Whether a histogram meets this SLA.
    pub fn met_by(&self, h: &Histogram) -> bool {
        !h.is_empty() && h.percentile_ns(self.percentile) <= self.target.as_nanos() as u64
    }

    /// The fraction of queries allowed over the target (0.05 for p95).
    pub fn allowed_over(&self) -> f64 {
        1.0 - self.percentile / 100.0
    }
}

impl fmt::Display for Sla {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}:{}ms", self.percentile, self.target.as_secs_f64() * 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_interval_brackets_the_percentile_of_a_uniform_spread() {
        let mut h = Histogram::new();
        for ms in 1..=1000u64 {
            h.record(ms * 1_000_000);
        }
        let t = h.tail_interval(95.0, 0.9).unwrap();
        assert_eq!(t.queries, 1000);
        let (lo, hi) = (t.low_ms.unwrap(), t.high_ms.unwrap());
        // Ranks ~939 and ~962 of 1..=1000 ms, within the histogram's 3 significant digits.
        assert!((lo - 939.0).abs() <= 3.0 && (hi - 962.0).abs() <= 3.0, "{lo} {hi}");
        assert!(lo < t.estimate_ms && t.estimate_ms < hi);
        assert!(Histogram::new().tail_interval(95.0, 0.9).is_none());
    }

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut h = Histogram::new();
        for i in 1..=10_000u64 {
            h.record(i * 1000);
        }
        let s = h.summary_ms();
        assert!(
            (s.p50 - 5.0).abs() < 0.01 && (s.p95 - 9.5).abs() < 0.01 && (s.p99 - 9.9).abs() < 0.01,
            "{s:?}"
        );
        assert_eq!(s.count, 10_000);
    }

    #[test]
    fn sla_parses_and_judges() {
        let s = Sla::parse("p95:100ms").unwrap();
        assert_eq!(s.percentile, 95.0);
        assert_eq!(s.target, Duration::from_millis(100));
        assert_eq!(Sla::parse("p99.9:0.5ms").unwrap().target, Duration::from_micros(500));
        assert!((Sla::parse("P99:1s").unwrap().allowed_over() - 0.01).abs() < 1e-12);
        for bad in ["95:100ms", "p95", "p100:1ms", "p95:fast", "p95:0ms"] {
            assert!(Sla::parse(bad).unwrap_err().to_string().contains(bad));
        }
        // Found by fuzz/: a decimal target past Duration's range panicked; user text kept newlines.
        for bad in ["p95:100000000000000000000s", "p9:66666666666666666666s", "p95:2h", "\n:", "p95:\nx"] {
            let e = Sla::parse(bad).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e}");
        }
        let mut h = Histogram::new();
        for _ in 0..96 {
            h.record(1_000_000);
        }
        for _ in 0..4 {
            h.record(1_000_000_000);
        }
        assert!(Sla::parse("p95:2ms").unwrap().met_by(&h));
        assert!(!Sla::parse("p99:2ms").unwrap().met_by(&h));
    }
}
