//! Performance counters over a measurement window: hardware events in one perf_event group
//! (cycles, instructions, LLC loads and misses, branch misses) scaled for multiplexing, plus
//! software events. Where an event cannot be opened (no PMU in a VM, perf_event_paranoid) its value
//! is null with the reason, never a made-up number.

pub mod perf;

use serde::Serialize;
use std::collections::BTreeMap;

/// One counter's reading over a window: a value, or null with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CounterValue {
    /// The count, scaled by time enabled / time running when the PMU was multiplexed.
    pub value: Option<f64>,
    /// Why `value` is null.
    pub reason: Option<String>,
}

impl CounterValue {
    /// A reading.
    pub fn value(v: f64) -> Self {
        Self { value: Some(v), reason: None }
    }

    /// No reading, and why.
    pub fn null(reason: impl Into<String>) -> Self {
        Self { value: None, reason: Some(reason.into()) }
    }
}

/// Counter name → reading, as written to the results.
pub type CounterMap = BTreeMap<String, CounterValue>;
