//! The efficiency table (SPEC §6): one document per (server, model, SLA), the contract between the
//! harness that writes it and the analysis that reads it.

use crate::ceilings::Ceilings;
use crate::host::HostFingerprint;
pub use crate::schedule::Schedule;
pub use crate::sizes::QuerySizes;
pub use crate::stats::{QpsInterval, TailInterval};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the efficiency-table document. Bump it on any change a reader of the old version would
/// misread; readers refuse every version outside [`OLDEST_TABLE_SCHEMA_VERSION`]..= this one rather
/// than guess. Version 2 added the intervals (`interval`, `tail`) and `provenance`; a version-1 table
/// reads with them absent.
pub const TABLE_SCHEMA_VERSION: u32 = 2;

/// The oldest efficiency-table version this build still reads.
pub const OLDEST_TABLE_SCHEMA_VERSION: u32 = 1;

/// The `kind` tag every efficiency table carries, so a roofline or kernel report is never read as one.
pub const TABLE_KIND: &str = "efficiency_table";

/// The one document per (server, model, SLA).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EfficiencyTable {
    /// [`TABLE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Always [`TABLE_KIND`].
    pub kind: String,
    /// Where it was measured.
    pub host: HostFingerprint,
    /// The server type this host stands for in a cluster inventory.
    pub server_type: ServerType,
    /// The machine's measured ceilings, when the harness measured them in the same run.
    pub ceilings: Option<Ceilings>,
    /// The model and the scale it ran at.
    pub model: ModelInfo,
    /// The latency target the QPS figures are bounded by.
    pub sla: Sla,
    /// The distribution of candidate items per query.
    pub query_sizes: QuerySizes,
    /// How the best schedule was found.
    pub search: Search,
    /// The best schedule found and its latency-bounded throughput.
    pub best: ScheduleResult,
    /// The default schedule (one instance on all cores), the baseline the search is judged against.
    pub default_schedule: ScheduleResult,
    /// Power drawn while serving at the best schedule's latency-bounded QPS.
    pub power: Power,
    /// Hardware and software counters by name; null values carry the reason.
    pub counters: BTreeMap<String, Counter>,
    /// Offered load vs latency for the best schedule, ascending offered QPS.
    pub curve: Vec<CurvePoint>,
    /// Offered load vs latency for the default schedule, ascending offered QPS.
    pub default_curve: Vec<CurvePoint>,
    /// True for tables made by `hercules-analysis synth`, not measured: every report shows it.
    pub synthetic: bool,
    /// When (RFC 3339, UTC).
    pub measured_at: String,
    /// Free-form remarks (e.g. why a counter or a power source is missing).
    pub notes: Vec<String>,
    /// Which build measured it, how it was asked for, on which host (absent in version-1 tables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Set on a table a projection made from a measured one (`hercules-analysis project`): a model of a
    /// server type nobody measured here, never a measurement. Every report shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modelled: Option<Modelled>,
}

/// How a modelled table was made: which catalogue entry it stands for, from which measured table, by
/// what rule, and where each figure of the target came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Modelled {
    /// The catalogue SKU (or measured type) it stands for.
    pub target: String,
    /// The measured table it was projected from: `<server type>/<model>` at `<commit>`.
    pub basis: String,
    /// The scaling rule, with the ratios it applied.
    pub method: String,
    /// The target's figures the projection used, each with its source (datasheet, published
    /// benchmark, measured ceiling).
    pub sources: BTreeMap<String, String>,
}

impl EfficiencyTable {
    /// `MODELLED from <basis>` or `SYNTHETIC` for a table that is not a measurement, else `None`:
    /// the label every report and plot of it carries.
    pub fn not_measured_label(&self) -> Option<String> {
        if self.synthetic {
            Some("SYNTHETIC".into())
        } else {
            self.modelled.as_ref().map(|m| format!("MODELLED from {}", m.basis))
        }
    }
}

/// Where a table came from: enough to tell whether two tables are comparable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Git commit of the source that built the harness (`unknown` outside a checkout).
    pub commit: String,
    /// Whether that source had uncommitted changes (its numbers are not reproducible from `commit`).
    pub dirty: bool,
    /// The command line that made the table.
    pub command: String,
    /// [`HostFingerprint::id`] of the machine.
    pub host_id: String,
}

impl Provenance {
    /// The provenance of a table measured on `host` by `command`, from the host's `git_revision`
    /// (`<commit>` or `<commit>-dirty`).
    pub fn new(host: &HostFingerprint, command: String) -> Self {
        let rev = host.git_revision.as_str();
        let (commit, dirty) = match rev.strip_suffix("-dirty") {
            Some(c) => (c.to_string(), true),
            None => (rev.to_string(), false),
        };
        Provenance { commit, dirty, command, host_id: host.id() }
    }
}

/// A server type as the cluster inventory knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerType {
    /// Name the cluster inventory matches on (e.g. `skylake-2s`).
    pub name: String,
    /// Power at idle, watts.
    pub idle_watts: f64,
    /// Power at full load, watts.
    pub peak_watts: f64,
    /// Optional price of one server, in whatever unit the fleet uses.
    pub price: Option<f64>,
    /// The cores the measurement was restricted to, when it did not use the whole machine.
    pub restricted_cores: Option<Vec<usize>>,
}

/// The model and its scale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// Model zoo name (`dlrm-rmc1`, `wnd`, ...) or a user model's name.
    pub name: String,
    /// Factor the embedding rows were scaled by (1.0 = full size).
    pub rows_scale: f64,
    /// Cap on rows per table, when one was set (`--max-rows`).
    pub row_cap: Option<u64>,
    /// Bytes of all embedding tables as run.
    pub table_bytes: u64,
    /// Parameters (weights and embedding entries) as run.
    pub params: u64,
}

/// The latency target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sla {
    /// Tail percentile in (0, 100), e.g. 95.0.
    pub percentile: f64,
    /// That percentile's latency target, milliseconds.
    pub target_ms: f64,
}

/// The schedule search that produced `best`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// `grid`, `deeprecsched`, `gradient`, or `none`.
    pub algorithm: String,
    /// Latency-bounded-throughput measurements made.
    pub evaluations: usize,
    /// The evaluation budget it was given.
    pub budget: usize,
    /// Wall time of the whole search, seconds.
    pub wall_seconds: f64,
    /// Every point evaluated, in order.
    pub trace: Vec<SearchPoint>,
}

/// One evaluated point of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchPoint {
    /// The schedule tried.
    pub schedule: Schedule,
    /// Its latency-bounded QPS.
    pub qps: f64,
    /// Median latency at that QPS, ms.
    pub p50_ms: f64,
    /// p95 latency at that QPS, ms.
    pub p95_ms: f64,
    /// p99 latency at that QPS, ms.
    pub p99_ms: f64,
    /// Whether any tested rate met the SLA (false: `qps` is the lowest rate tried, over the target).
    pub met_sla: bool,
}

/// A schedule and what it achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleResult {
    /// The schedule.
    pub schedule: Schedule,
    /// Highest arrival rate whose tail latency met the SLA.
    pub latency_bounded_qps: f64,
    /// Median latency at that rate, ms.
    pub p50_ms: f64,
    /// p95 latency at that rate, ms.
    pub p95_ms: f64,
    /// p99 latency at that rate, ms.
    pub p99_ms: f64,
    /// Completed queries per second at that rate (below the offered rate when the server fell behind).
    pub achieved_qps: f64,
    /// The latency-bounded QPS over repeated trials, with its confidence interval (`latency_bounded_qps`
    /// is then the median); absent when measured once or in version-1 tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<QpsInterval>,
    /// The SLA percentile's confidence interval from the query count at that rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<TailInterval>,
}

impl ScheduleResult {
    /// The capacity to plan on: the interval's lower end when `conservative` and an interval exists,
    /// else the measured (median) value.
    pub fn planning_qps(&self, conservative: bool) -> f64 {
        match (&self.interval, conservative) {
            (Some(i), true) => i.low,
            _ => self.latency_bounded_qps,
        }
    }
}

/// Where a power figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerSource {
    /// Intel/AMD RAPL energy counters.
    Rapl,
    /// NVIDIA NVML.
    Nvml,
    /// A model from the server spec, not a measurement.
    Estimated,
}

/// Power while serving.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Power {
    /// Average watts.
    pub watts: f64,
    /// Measured or estimated.
    pub source: PowerSource,
    /// What exactly was read or assumed (domains, formula).
    pub detail: String,
}

/// One counter: a value, or null with the reason the machine has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counter {
    /// The value, when available.
    pub value: Option<f64>,
    /// Why `value` is null.
    pub reason: Option<String>,
}

impl Counter {
    /// A reading.
    pub fn value(v: f64) -> Self {
        Self { value: Some(v), reason: None }
    }

    /// No reading, and why.
    pub fn null(reason: impl Into<String>) -> Self {
        Self { value: None, reason: Some(reason.into()) }
    }
}

/// One point of the QPS-vs-latency curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurvePoint {
    /// Arrival rate offered.
    pub offered_qps: f64,
    /// Completion rate observed.
    pub achieved_qps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// p95 latency, ms.
    pub p95_ms: f64,
    /// p99 latency, ms.
    pub p99_ms: f64,
}

impl CurvePoint {
    /// The latency (ms) this point holds for an SLA at `percentile`: the curve holds p50/p95/p99, so
    /// the nearest one at or above it, erring on the pessimistic side ([`tail_name`] names it).
    pub fn tail_ms(&self, percentile: f64) -> f64 {
        if percentile <= 50.0 {
            self.p50_ms
        } else if percentile <= 95.0 {
            self.p95_ms
        } else {
            self.p99_ms
        }
    }
}

/// Which stored percentile (`p50`, `p95`, `p99`) [`CurvePoint::tail_ms`] reads for `percentile`.
pub fn tail_name(percentile: f64) -> &'static str {
    if percentile <= 50.0 {
        "p50"
    } else if percentile <= 95.0 {
        "p95"
    } else {
        "p99"
    }
}

impl EfficiencyTable {
    /// Checks what serde cannot: finite non-negative rates and latencies, sorted curves, a sane SLA.
    /// Returns the first problem found, as a short phrase.
    pub fn validate(&self) -> Result<(), String> {
        if self.kind != TABLE_KIND {
            return Err(format!("kind is `{}`, expected `{TABLE_KIND}`", self.kind));
        }
        let p = self.sla.percentile;
        if !(p.is_finite() && p > 0.0 && p < 100.0) {
            return Err(format!("sla.percentile {p} is not in (0, 100)"));
        }
        if !(self.sla.target_ms.is_finite() && self.sla.target_ms > 0.0) {
            return Err(format!("sla.target_ms {} is not a positive number", self.sla.target_ms));
        }
        let st = &self.server_type;
        if st.name.trim().is_empty() {
            return Err("server_type.name is empty".into());
        }
        if self.model.name.trim().is_empty() {
            return Err("model.name is empty".into());
        }
        nonneg("server_type.idle_watts", st.idle_watts)?;
        nonneg("server_type.peak_watts", st.peak_watts)?;
        if st.idle_watts > st.peak_watts {
            return Err(format!(
                "server_type.idle_watts {} exceeds peak_watts {}",
                st.idle_watts, st.peak_watts
            ));
        }
        if let Some(price) = st.price {
            nonneg("server_type.price", price)?;
        }
        if !(self.model.rows_scale.is_finite() && self.model.rows_scale > 0.0) {
            return Err(format!("model.rows_scale {} is not a positive number", self.model.rows_scale));
        }
        nonneg("power.watts", self.power.watts)?;
        result("best", &self.best)?;
        result("default_schedule", &self.default_schedule)?;
        nonneg("search.wall_seconds", self.search.wall_seconds)?;
        for (i, pt) in self.search.trace.iter().enumerate() {
            let w = format!("search.trace[{i}]");
            schedule(&w, &pt.schedule)?;
            nonneg(&format!("{w}.qps"), pt.qps)?;
            latencies(&w, pt.p50_ms, pt.p95_ms, pt.p99_ms)?;
        }
        curve("curve", &self.curve)?;
        curve("default_curve", &self.default_curve)?;
        for (name, c) in &self.counters {
            match (c.value, &c.reason) {
                (Some(v), _) if !v.is_finite() => return Err(format!("counter `{name}` is not finite")),
                (None, None) => return Err(format!("counter `{name}` is null without a reason")),
                _ => {}
            }
        }
        Ok(())
    }

    /// The curve's tail latency (ms) at the SLA's percentile for an offered rate, interpolated linearly
    /// between measured points. `None` past the last point (no measurement says what happens there) or
    /// for an empty curve. Below the first point the first point's latency is returned (latency does not
    /// fall as load drops below the lightest rate measured, within measurement noise).
    pub fn tail_at(&self, offered_qps: f64) -> Option<f64> {
        interpolate_tail(&self.curve, self.sla.percentile, offered_qps)
    }
}

/// Tail latency at `percentile` for `offered_qps` on `curve` (see [`EfficiencyTable::tail_at`]).
pub fn interpolate_tail(curve: &[CurvePoint], percentile: f64, offered_qps: f64) -> Option<f64> {
    let pick = |c: &CurvePoint| c.tail_ms(percentile);
    let first = curve.first()?;
    if offered_qps <= first.offered_qps {
        return Some(pick(first));
    }
    for w in curve.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if offered_qps <= b.offered_qps {
            let span = b.offered_qps - a.offered_qps;
            let f = if span > 0.0 { (offered_qps - a.offered_qps) / span } else { 1.0 };
            return Some(pick(a) + f * (pick(b) - pick(a)));
        }
    }
    None
}

fn nonneg(what: &str, x: f64) -> Result<(), String> {
    if x.is_finite() && x >= 0.0 {
        Ok(())
    } else {
        Err(format!("{what} is {x}, expected a finite non-negative number"))
    }
}

fn latencies(w: &str, p50: f64, p95: f64, p99: f64) -> Result<(), String> {
    nonneg(&format!("{w}.p50_ms"), p50)?;
    nonneg(&format!("{w}.p95_ms"), p95)?;
    nonneg(&format!("{w}.p99_ms"), p99)
}

fn schedule(w: &str, s: &Schedule) -> Result<(), String> {
    if s.instances == 0 || s.threads_per_instance == 0 {
        return Err(format!("{w}.schedule has zero instances or threads"));
    }
    Ok(())
}

fn result(w: &str, r: &ScheduleResult) -> Result<(), String> {
    schedule(w, &r.schedule)?;
    nonneg(&format!("{w}.latency_bounded_qps"), r.latency_bounded_qps)?;
    nonneg(&format!("{w}.achieved_qps"), r.achieved_qps)?;
    latencies(w, r.p50_ms, r.p95_ms, r.p99_ms)?;
    if let Some(i) = &r.interval {
        let at = format!("{w}.interval");
        for (name, x) in [("low", i.low), ("median", i.median), ("high", i.high)] {
            nonneg(&format!("{at}.{name}"), x)?;
        }
        if !(i.low <= i.median && i.median <= i.high) {
            return Err(format!("{at} is not ordered: low {} median {} high {}", i.low, i.median, i.high));
        }
        crate::stats::check_confidence(i.confidence).map_err(|e| format!("{at}: {e}"))?;
        if i.trials.is_empty() {
            return Err(format!("{at} has no trials"));
        }
        for (k, x) in i.trials.iter().enumerate() {
            nonneg(&format!("{at}.trials[{k}]"), *x)?;
        }
    }
    if let Some(t) = &r.tail {
        let at = format!("{w}.tail");
        nonneg(&format!("{at}.estimate_ms"), t.estimate_ms)?;
        for x in [t.low_ms, t.high_ms].into_iter().flatten() {
            nonneg(&format!("{at} bound"), x)?;
        }
        crate::stats::check_confidence(t.confidence).map_err(|e| format!("{at}: {e}"))?;
    }
    Ok(())
}

fn curve(w: &str, c: &[CurvePoint]) -> Result<(), String> {
    for (i, p) in c.iter().enumerate() {
        let at = format!("{w}[{i}]");
        nonneg(&format!("{at}.offered_qps"), p.offered_qps)?;
        nonneg(&format!("{at}.achieved_qps"), p.achieved_qps)?;
        latencies(&at, p.p50_ms, p.p95_ms, p.p99_ms)?;
    }
    if let Some(i) = c.windows(2).position(|w| w[1].offered_qps < w[0].offered_qps) {
        return Err(format!("{w} is not sorted by offered_qps at point {}", i + 1));
    }
    Ok(())
}
