//! Performance counters over a measurement window: hardware events in one perf_event group
//! (cycles, instructions, LLC loads and misses, branch misses) scaled for multiplexing, plus
//! software events. Where an event cannot be opened (no PMU in a VM, perf_event_paranoid) its value
//! is null with the reason, never a made-up number.

pub mod perf;

use std::collections::BTreeMap;

/// One counter's reading over a window: a value, or null with why (the results schema's type).
pub use hercules_results::table::Counter as CounterValue;

/// Counter name → reading, as written to the results.
pub type CounterMap = BTreeMap<String, CounterValue>;
