//! Synthetic efficiency tables: made, not measured, and marked `synthetic: true` so every report says
//! so. For tests, examples and scale runs of the analysis while real tables are missing.

use crate::host::HostFingerprint;
use crate::table::{
    Counter, CurvePoint, EfficiencyTable, ModelInfo, Power, PowerSource, QuerySizes, Schedule,
    ScheduleResult, Search, ServerType, Sla, TABLE_KIND, TABLE_SCHEMA_VERSION,
};
use std::collections::BTreeMap;

/// What a synthetic table is made from.
#[derive(Debug, Clone)]
pub struct SyntheticSpec {
    /// Server type name.
    pub server_type: String,
    /// Idle watts of the server type.
    pub idle_watts: f64,
    /// Peak watts of the server type.
    pub peak_watts: f64,
    /// Optional price of the server type.
    pub price: Option<f64>,
    /// Model name.
    pub model: String,
    /// SLA percentile (e.g. 95).
    pub percentile: f64,
    /// SLA target, ms.
    pub target_ms: f64,
    /// Latency-bounded QPS of the best schedule.
    pub qps: f64,
    /// Latency-bounded QPS of the default schedule (usually well below `qps`).
    pub default_qps: f64,
    /// Cores of the made-up host.
    pub cores: usize,
}

/// Tail latency (at the SLA percentile) at load `rho` = offered / latency-bounded QPS: a queueing-like
/// knee that meets the target exactly at rho = 1 and grows steeply past it.
fn tail_at_rho(target_ms: f64, rho: f64) -> f64 {
    let base = 0.3 * target_ms;
    let g = |r: f64| r / (1.1 - r);
    base + (target_ms - base) * g(rho) / g(1.0)
}

fn synthetic_curve(qps: f64, target_ms: f64) -> Vec<CurvePoint> {
    [0.1, 0.25, 0.4, 0.55, 0.7, 0.8, 0.9, 0.95, 1.0, 1.05]
        .iter()
        .map(|&rho| {
            let p95 = tail_at_rho(target_ms, rho);
            CurvePoint {
                offered_qps: rho * qps,
                // Past the knee the server falls a little behind.
                achieved_qps: rho.min(1.0) * qps + (rho - 1.0).max(0.0) * 0.5 * qps,
                p50_ms: 0.5 * p95,
                p95_ms: p95,
                p99_ms: 1.3 * p95,
            }
        })
        .collect()
}

/// A made-up host for synthetic tables.
pub fn synthetic_host(name: &str, cores: usize) -> HostFingerprint {
    HostFingerprint {
        hostname: format!("synthetic-{name}"),
        cpu_model: "synthetic".into(),
        cpu_vendor: "synthetic".into(),
        sockets: 1,
        physical_cores: cores,
        logical_cpus: cores,
        usable_cpus: (0..cores).collect(),
        numa_nodes: 1,
        caches: vec![],
        memory_bytes: 64 << 30,
        isa: vec!["scalar".into()],
        transparent_hugepages: "unknown".into(),
        hypervisor: None,
        gpus: vec![],
        kernel: "synthetic".into(),
        rustc: "synthetic".into(),
        git_revision: "synthetic".into(),
    }
}

/// Builds a synthetic table: plausible structure, made-up numbers, `synthetic: true`.
pub fn synthetic_table(spec: &SyntheticSpec) -> EfficiencyTable {
    let cores = spec.cores.max(1);
    let best_sched = Schedule {
        instances: (cores / 2).max(1),
        threads_per_instance: if cores >= 2 { 2 } else { 1 },
        inter_op: false,
        sub_batch: Some(64),
        gpu_threshold: None,
        gpu_streams: None,
        cores: (0..cores).collect(),
    };
    let default_sched = Schedule {
        instances: 1,
        threads_per_instance: cores,
        inter_op: false,
        sub_batch: None,
        gpu_threshold: None,
        gpu_streams: None,
        cores: (0..cores).collect(),
    };
    let at_bound = |s: &Schedule, qps: f64| {
        let p95 = tail_at_rho(spec.target_ms, 1.0);
        ScheduleResult {
            schedule: s.clone(),
            latency_bounded_qps: qps,
            p50_ms: 0.5 * p95,
            p95_ms: p95,
            p99_ms: 1.3 * p95,
            achieved_qps: qps,
            interval: None,
            tail: None,
        }
    };
    let mut counters = BTreeMap::new();
    counters.insert(
        "llc_misses".to_string(),
        Counter { value: None, reason: Some("synthetic table: nothing was measured".into()) },
    );
    EfficiencyTable {
        schema_version: TABLE_SCHEMA_VERSION,
        kind: TABLE_KIND.into(),
        host: synthetic_host(&spec.server_type, cores),
        server_type: ServerType {
            name: spec.server_type.clone(),
            idle_watts: spec.idle_watts,
            peak_watts: spec.peak_watts,
            price: spec.price,
            restricted_cores: None,
        },
        ceilings: None,
        model: ModelInfo {
            name: spec.model.clone(),
            rows_scale: 1.0,
            row_cap: None,
            table_bytes: 0,
            params: 0,
        },
        sla: Sla { percentile: spec.percentile, target_ms: spec.target_ms },
        query_sizes: QuerySizes::Lognormal { mu: 5.1, sigma: 0.2 },
        search: Search {
            algorithm: "none".into(),
            evaluations: 0,
            budget: 0,
            wall_seconds: 0.0,
            trace: vec![],
        },
        best: at_bound(&best_sched, spec.qps),
        default_schedule: at_bound(&default_sched, spec.default_qps),
        power: Power {
            // Serving at the bound keeps the server near its peak draw.
            watts: spec.idle_watts + 0.9 * (spec.peak_watts - spec.idle_watts),
            source: PowerSource::Estimated,
            detail: "synthetic: idle + 0.9 x (peak - idle)".into(),
        },
        counters,
        curve: synthetic_curve(spec.qps, spec.target_ms),
        default_curve: synthetic_curve(spec.default_qps, spec.target_ms),
        synthetic: true,
        measured_at: "1970-01-01T00:00:00Z".into(),
        notes: vec!["SYNTHETIC: made by hercules-analysis synth, not measured".into()],
        provenance: None,
        modelled: None,
    }
}
