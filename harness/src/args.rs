//! Parsers and checks for command-line values shared by every command: a value that is not a
//! finite number in its range is a one-line error naming the flag, the range and the unit.

use crate::limits::MAX_DURATION;
use anyhow::{bail, Result};
use std::time::Duration;

/// Parses a duration such as `10s`, `500ms` or `2m` (clap value parser), at most
/// [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("`{}` is not a duration such as 10s or 500ms: {e}", s.escape_debug()))?;
    if d > MAX_DURATION {
        return Err(format!(
            "`{}` is longer than the {} the harness allows",
            s.escape_debug(),
            humantime::format_duration(MAX_DURATION)
        ));
    }
    Ok(d)
}

/// `v` as a person would write it: plain in the everyday range, in exponent form outside it.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || !a.is_finite() || (1e-3..1e9).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

fn unit_suffix(unit: &str) -> String {
    if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    }
}

/// `v` if it is finite and within `lo..=hi`, else an error naming `flag` and the range in `unit`.
pub fn in_range(flag: &str, v: f64, lo: f64, hi: f64, unit: &str) -> Result<f64> {
    if !(v.is_finite() && v >= lo && v <= hi) {
        bail!("{flag} {} must be a number from {} to {}{}", num(v), num(lo), num(hi), unit_suffix(unit));
    }
    Ok(v)
}

/// `v` if it is finite and above zero and at most `hi`, else an error naming `flag`.
pub fn positive(flag: &str, v: f64, hi: f64, unit: &str) -> Result<f64> {
    if !(v.is_finite() && v > 0.0 && v <= hi) {
        bail!("{flag} {} must be above 0 and at most {}{}", num(v), num(hi), unit_suffix(unit));
    }
    Ok(v)
}

/// A number of seconds given as a float, as a [`Duration`] of at most [`MAX_DURATION`].
pub fn seconds(flag: &str, v: f64) -> Result<Duration> {
    let s = in_range(flag, v, 0.0, MAX_DURATION.as_secs_f64(), "seconds")?;
    Ok(Duration::from_secs_f64(s))
}

/// A count that must be at least 1.
pub fn at_least_one(flag: &str, v: usize) -> Result<usize> {
    if v == 0 {
        bail!("{flag} must be at least 1");
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_refuse_non_finite_and_out_of_range_values() {
        assert_eq!(in_range("--x", 0.5, 0.0, 1.0, "").unwrap(), 0.5);
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e300] {
            let e = in_range("--x", bad, 0.0, 1.0, "W").unwrap_err().to_string();
            assert!(e.starts_with("--x ") && e.ends_with("from 0 to 1 W") && !e.contains('\n'), "{e}");
        }
        assert!(positive("--qps", 0.0, 10.0, "QPS").is_err());
        assert!(positive("--qps", 1e-300, 10.0, "QPS").is_ok());
        assert!(in_range("--qps", 1e-300, 1e-3, 1e7, "").unwrap_err().to_string().contains("1e-300 must"));
        assert!(at_least_one("--n", 0).unwrap_err().to_string().contains("--n"));
    }

    #[test]
    fn seconds_and_durations_are_bounded_and_never_panic() {
        for bad in [f64::INFINITY, 1e300, f64::NAN, -1.0] {
            assert!(seconds("--seconds", bad).unwrap_err().to_string().contains("--seconds"));
        }
        assert_eq!(seconds("--seconds", 1.5).unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("100000000h").unwrap_err().contains("longer than"));
        assert!(parse_duration("ten").unwrap_err().contains("not a duration"));
        assert!(!parse_duration("\n").unwrap_err().contains('\n'));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
    }
}
