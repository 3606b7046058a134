//! Every resource bound and numeric range of the analysis, in one place, and the one helper that checks
//! a number against its range.
//!
//! The bounds keep memory and solve time proportional to inputs a real fleet has; they are checked when
//! a flag or a file is parsed, so a bad input fails at once with one line naming the bound, instead of
//! allocating without limit or running for hours.

/// Most time slots in a load (a week of one-minute slots).
pub const MAX_SLOTS: usize = 7 * 24 * 60;

/// Most models in a load or a synthetic fleet.
pub const MAX_MODELS: usize = 1000;

/// Most server types in an inventory or a synthetic fleet.
pub const MAX_TYPES: usize = 100;

/// Most servers of one type in an inventory (keeps every sum of servers well inside `u32`).
pub const MAX_SERVERS_PER_TYPE: u32 = 1_000_000;

/// Most load of one model in one slot, QPS.
pub const MAX_LOAD_QPS: f64 = 1e12;

/// Most latency-bounded QPS one server's table may claim. Far above any real server; it keeps the
/// solver's coefficients (server QPS / load) in a range floating point handles.
pub const MAX_SERVER_QPS: f64 = 1e9;

/// Most seconds `--time-limit` may give the optimal policy (a day).
pub const MAX_TIME_LIMIT_S: f64 = 86_400.0;

/// Longest slot, minutes (a week).
pub const MAX_SLOT_MINUTES: f64 = 7.0 * 24.0 * 60.0;

/// Largest capacity margin over the load (100 = 10 000 %).
pub const MAX_HEADROOM: f64 = 100.0;

/// Largest spare fraction of a synthetic inventory.
pub const MAX_SPARE: f64 = 100.0;

/// Most worker threads of the optimal policy.
pub const MAX_THREADS: usize = 1024;

/// A closed or half-open range a number must lie in, named for messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Smallest value.
    pub min: f64,
    /// Whether `min` itself is excluded (a value must be above it).
    pub min_exclusive: bool,
    /// Largest value (included).
    pub max: f64,
    /// Name of the constant `max` comes from, quoted when a value exceeds it (empty: none).
    pub max_name: &'static str,
    /// Unit quoted in messages (empty: none).
    pub unit: &'static str,
}

/// Why a number is out of its range. One line: what, the range and its unit, the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what} must be in {range}, got {}", num(*value))]
pub struct RangeError {
    /// The flag or field (`--time-limit`, `line 3: slot`).
    pub what: String,
    /// The range, written out with its unit and bound.
    pub range: String,
    /// The value given.
    pub value: f64,
}

impl Range {
    /// `[min, max]`.
    pub const fn closed(min: f64, max: f64, max_name: &'static str, unit: &'static str) -> Self {
        Self { min, min_exclusive: false, max, max_name, unit }
    }

    /// `(min, max]`.
    pub const fn above(min: f64, max: f64, max_name: &'static str, unit: &'static str) -> Self {
        Self { min, min_exclusive: true, max, max_name, unit }
    }

    /// An integer count in `[min, max]`.
    pub const fn count(min: usize, max: usize, max_name: &'static str) -> Self {
        Self::closed(min as f64, max as f64, max_name, "")
    }

    /// Whether `x` is finite and in range.
    pub fn contains(&self, x: f64) -> bool {
        let low = if self.min_exclusive { x > self.min } else { x >= self.min };
        x.is_finite() && low && x <= self.max
    }

    /// `x` if it is finite and in range; otherwise an error naming `what`, the range, its unit and the
    /// bound it exceeds.
    pub fn check(&self, what: &str, x: f64) -> Result<f64, RangeError> {
        if self.contains(x) {
            return Ok(x);
        }
        let open = if self.min_exclusive { "(" } else { "[" };
        let mut range = format!("{open}{}, {}]", num(self.min), num(self.max));
        if !self.unit.is_empty() {
            range = format!("{range} {}", self.unit);
        }
        if !self.max_name.is_empty() {
            range = format!("{range} ({})", self.max_name);
        }
        Err(RangeError { what: what.into(), range, value: x })
    }

    /// [`Range::check`] for a count; `usize` values beyond `f64`'s exact integers still compare right
    /// against any bound here.
    pub fn check_count(&self, what: &str, n: usize) -> Result<usize, RangeError> {
        self.check(what, n as f64).map(|_| n)
    }
}

/// A number for a one-line message: exponent form when plain digits would run long.
pub fn num(x: f64) -> String {
    if x.is_finite() && x != 0.0 && !(1e-4..1e9).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// `--time-limit`, seconds.
pub const TIME_LIMIT: Range = Range::above(0.0, MAX_TIME_LIMIT_S, "MAX_TIME_LIMIT_S", "s");
/// `--slot-minutes` and `slot_minutes` of a load file.
pub const SLOT_MINUTES: Range = Range::above(0.0, MAX_SLOT_MINUTES, "MAX_SLOT_MINUTES", "min");
/// `--headroom`, a fraction of the load.
pub const HEADROOM: Range = Range::closed(0.0, MAX_HEADROOM, "MAX_HEADROOM", "as a fraction of the load");
/// `synth --spare`, a fraction of the need.
pub const SPARE: Range = Range::closed(0.0, MAX_SPARE, "MAX_SPARE", "as a fraction of the need");
/// `--threads`.
pub const THREADS: Range = Range::count(1, MAX_THREADS, "MAX_THREADS");
/// Slots of a load (`synth --slots`, `slots` of a load file).
pub const SLOTS: Range = Range::count(1, MAX_SLOTS, "MAX_SLOTS");
/// Models (`synth --models`, models of a load).
pub const MODELS: Range = Range::count(1, MAX_MODELS, "MAX_MODELS");
/// Server types (`synth --types`, entries of an inventory).
pub const TYPES: Range = Range::count(1, MAX_TYPES, "MAX_TYPES");
/// Load of one model in one slot, QPS.
pub const LOAD_QPS: Range = Range::closed(0.0, MAX_LOAD_QPS, "MAX_LOAD_QPS", "QPS");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_nan_infinities_and_out_of_range_with_the_bound_named() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, 1e300] {
            let e = TIME_LIMIT.check("--time-limit", bad).unwrap_err().to_string();
            assert!(e.starts_with("--time-limit must be in (0, 86400] s"), "{e}");
            assert!(e.contains("MAX_TIME_LIMIT_S") && !e.contains('\n'), "{e}");
        }
        assert_eq!(TIME_LIMIT.check("--time-limit", 3.0), Ok(3.0));
        assert_eq!(TIME_LIMIT.check("--time-limit", MAX_TIME_LIMIT_S), Ok(MAX_TIME_LIMIT_S));
        assert_eq!(HEADROOM.check("--headroom", 0.0), Ok(0.0));
        let e = MODELS.check_count("--models", 100_000_000).unwrap_err().to_string();
        assert_eq!(e, "--models must be in [1, 1000] (MAX_MODELS), got 100000000");
        assert!(SLOTS.check_count("--slots", 0).is_err() && SLOTS.check_count("--slots", MAX_SLOTS).is_ok());
    }

    #[test]
    fn bounds_keep_sums_of_servers_inside_u32() {
        assert!(u64::from(MAX_SERVERS_PER_TYPE) * MAX_TYPES as u64 <= u64::from(u32::MAX));
    }
}
