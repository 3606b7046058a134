//! What `run`, `capacity` and `profile` write and print about serving: the document header,
//! the run and capacity documents, the trial table and the power and noise lines.

use super::capacity::{CapacityRun, Repeat, RepeatSummary};
use super::fixture::{Fixture, GeneratorInfo, ModelInfo, Placed, TrialRecord};
use super::trial::{Load, WindowStats};
use crate::counters::CounterMap;
use crate::engine::schedule::Schedule;
use crate::latency::Sla;
use crate::output::table::{num, Table};
use crate::output::{self, now_rfc3339};
use crate::power::Power;
use crate::topology;
use hercules_results::table::{CurvePoint, QuerySizes};
use hercules_results::HostFingerprint;
use serde::Serialize;

/// Version of the `serve-run` and `capacity` documents.
/// Version 2: a capacity document holds every repeated trial (`trials`) and their `summary`.
pub const SERVE_SCHEMA_VERSION: u32 = 2;

/// What every serve document opens with: what ran where, under which load.
#[derive(Debug, Serialize)]
pub struct ServeHeader {
    /// [`SERVE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `serve-run` or `capacity`.
    pub kind: &'static str,
    /// `complete`/`interrupted` (run); `running`, then the search status (capacity).
    pub status: String,
    /// The machine.
    pub host: HostFingerprint,
    /// When.
    pub measured_at: String,
    /// The model.
    pub model: ModelInfo,
    /// The schedule, placed.
    pub schedule: Schedule,
    /// What served offloaded queries (absent when the schedule does not offload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_lane: Option<String>,
    /// The machine's topology (and where it was read from).
    pub topology: topology::TopologySummary,
    /// The generator's placement.
    pub generator: GeneratorInfo,
    /// Query sizes.
    pub query_sizes: QuerySizes,
    /// SLA judged against, if any.
    pub sla: Option<Sla>,
    /// Seed.
    pub seed: u64,
}

impl ServeHeader {
    pub fn new(kind: &'static str, fixture: &Fixture, placed: &Placed, sla: Option<Sla>, seed: u64) -> Self {
        ServeHeader {
            schema_version: SERVE_SCHEMA_VERSION,
            kind,
            status: "running".into(),
            host: fixture.host.clone(),
            measured_at: now_rfc3339(),
            model: fixture.model_info.clone(),
            schedule: placed.schedule.clone(),
            gpu_lane: placed.gpu_lane.clone(),
            topology: fixture.topology.clone(),
            generator: placed.generator.clone(),
            query_sizes: fixture.sizes.clone(),
            sla,
            seed,
        }
    }
}

/// The `hercules run` document.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// What ran.
    #[serde(flatten)]
    pub header: ServeHeader,
    /// The measurement.
    pub result: TrialRecord,
    /// The single curve point (open loop).
    pub curve: Vec<CurvePoint>,
}

/// The `hercules capacity` document.
#[derive(Debug, Serialize)]
pub struct CapacityReport {
    /// What ran.
    #[serde(flatten)]
    pub header: ServeHeader,
    /// The median accepted trial's latency-bounded throughput (null until one finished, or when no
    /// rate met the SLA).
    pub best_qps: Option<f64>,
    /// Every trial (each a whole rate search with its own arrivals), rejected ones included.
    pub trials: Vec<Repeat>,
    /// Median, interval and the tail's interval over the accepted trials (null until one finished).
    pub summary: Option<RepeatSummary>,
    /// The rate search of the trial under way (absent between trials and at the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<CapacityRun>,
}

/// Appends one trial's row to a [`trial_table`].
pub fn trial_row(t: &mut Table, r: &TrialRecord) {
    let tr = &r.trial;
    let offered = match tr.load {
        Load::Open { qps } => format!("{qps:.1}"),
        Load::Closed { concurrency } => format!("closed:{concurrency}"),
    };
    t.push([
        offered,
        format!("{:.1}", tr.achieved_qps),
        format!("{:.3}", tr.latency_ms.p50),
        format!("{:.3}", tr.latency_ms.p95),
        format!("{:.3}", tr.latency_ms.p99),
        format!("{:.3}", tr.latency_ms.max),
        tr.measured_queries.to_string(),
        tr.incomplete_queries.to_string(),
        num(tr.schedule_error_us.map(|e| e.p99), 1),
        format!("{:.0}", tr.sub_batches_per_s),
        output::serde_name(&tr.stopped),
        tr.sla_met.map_or("-".into(), |m| if m { "pass".into() } else { "fail".into() }),
        num(r.machine.others_cpu_fraction, 2),
        num(r.machine.steal_fraction, 3),
    ]);
}

/// The table of trials `run` and `capacity` print and write as CSV.
pub fn trial_table() -> Table {
    Table::new([
        "offered_qps",
        "achieved_qps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "queries",
        "incomplete",
        "sched_err_p99_us",
        "sub_batches_per_s",
        "stopped",
        "sla",
        "others_cpu",
        "steal",
    ])
}

/// Latency, schedule error and memory per window of a soak run.
pub fn window_table(windows: &[WindowStats]) -> Table {
    let mut t = Table::new([
        "window_start_s",
        "queries",
        "finished",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "sched_err_p99_us",
        "rss_mib",
    ]);
    for w in windows {
        t.push([
            format!("{:.0}", w.start_s),
            w.queries.to_string(),
            w.finished.to_string(),
            format!("{:.3}", w.latency_ms.p50),
            format!("{:.3}", w.latency_ms.p95),
            format!("{:.3}", w.latency_ms.p99),
            num(w.schedule_error_us.map(|e| e.p99), 1),
            num(w.rss_mib, 1),
        ]);
    }
    t
}

/// One line: power and counters of a trial.
pub fn power_line(p: &Power, c: &CounterMap) -> String {
    let src = output::serde_name(&p.source);
    let counters: Vec<String> = c
        .iter()
        .map(|(k, v)| format!("{k}={}", v.value.map_or_else(|| "null".to_string(), |x| format!("{x:.0}"))))
        .collect();
    format!("power {:.1} W ({src}); counters: {}", p.watts, counters.join(" "))
}

/// Warns when other processes used a noticeable share of the machine during any trial.
pub fn warn_noise(trials: &[TrialRecord]) {
    let worst = trials.iter().filter_map(|t| t.machine.others_cpu_fraction).fold(0.0f64, f64::max);
    if worst > 0.10 {
        eprintln!(
            "warning: other processes used up to {:.0}% of the machine's CPU time during a trial \
             (column others_cpu): the results reflect that contention and may not reproduce",
            worst * 100.0
        );
    }
    let steal = trials.iter().filter_map(|t| t.machine.steal_fraction).fold(0.0f64, f64::max);
    if steal > 0.01 {
        eprintln!(
            "warning: the hypervisor stole up to {:.1}% of the CPU time during a trial (column steal): \
             stalls of that kind land in the latency and schedule-error tails",
            steal * 100.0
        );
    }
}
