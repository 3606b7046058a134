//! Projection: a measured efficiency table, its host's ceilings and the model's time share per
//! operator class turned into a table for a server type nobody measured here (a catalogue SKU, or
//! another measured type when validating). The result is marked `modelled` with its basis.
//!
//! The rule: one query's core-time splits into an embedding part (scales with one loaded core's random
//! gather bandwidth) and a compute part (MLP, attention/RNN, interaction: scales with one core's FMA
//! peak); the server's throughput scales with its cores over that per-query time, plus any fixed
//! per-query overhead of an accelerator. Latencies scale with the per-query time; the curve's shape,
//! the SLA and the query sizes are the measured ones.

use crate::catalogue::Sku;
use hercules_results::{
    Ceilings, CurvePoint, EfficiencyTable, HostFingerprint, Modelled, Power, PowerSource, Provenance,
    QpsInterval, Schedule, ScheduleResult, Search, ServerType,
};
use std::collections::BTreeMap;

/// Why a projection cannot be made. One line each.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProjectError {
    /// The source table lacks a figure the projection scales by.
    #[error("{0}")]
    Source(String),
    /// The target lacks a figure the model needs.
    #[error("{0}")]
    Target(String),
    /// The target cannot meet the model's SLA at any load (the model gets no table there).
    #[error("{0}")]
    Unreachable(String),
}

/// A model's time per operator class on the source host, as shares of one forward pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Shares {
    /// Embedding bags.
    pub embedding: f64,
    /// MLPs, attention/RNN and interaction together.
    pub compute: f64,
    /// Where the shares were measured (file, batch, threads).
    pub source: String,
}

impl Shares {
    /// The shares of `model` from a `hercules infer --json` document (`None` when it is another
    /// model's), checked to be finite, non-negative and to sum to about one.
    pub fn from_infer(doc: &serde_json::Value, model: &str, source: &str) -> Result<Option<Shares>, String> {
        if doc.get("model").and_then(|m| m.as_str()) != Some(model) {
            return Ok(None);
        }
        let Some(map) = doc.get("shares").and_then(|s| s.as_object()) else {
            return Err(format!("{source}: no `shares` (run `hercules infer` on the CPU with --json)"));
        };
        let get = |k: &str| map.get(k).and_then(|v| v.as_f64()).unwrap_or(0.0);
        let (e, c) = (get("embedding"), get("mlp") + get("attention/rnn") + get("interaction"));
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        if !ok(e) || !ok(c) || ((e + c) - 1.0).abs() > 0.01 {
            return Err(format!(
                "{source}: shares of {model} must be non-negative and sum to 1 (embedding {e}, rest {c})"
            ));
        }
        let (batch, threads) = (doc.get("batch"), doc.get("threads"));
        let at = format!("{source} (batch {}, {} thread(s))", fmt_opt(batch), fmt_opt(threads));
        Ok(Some(Shares { embedding: e, compute: c, source: at }))
    }
}

fn fmt_opt(v: Option<&serde_json::Value>) -> String {
    v.map_or_else(|| "?".into(), |v| v.to_string())
}

/// What a projection scales to: a catalogue SKU or a measured server type's ceilings.
#[derive(Debug, Clone)]
pub struct Target {
    /// Server-type name of the projected tables.
    pub name: String,
    /// One line on what it is.
    pub description: String,
    /// Cores (or accelerator streams) that serve.
    pub cores: usize,
    /// FP32 FMA peak of one core, GFLOP/s.
    pub fma_per_core: f64,
    /// Random-row gather bandwidth of one core alone, GB/s (near-memory multiplier included): what
    /// one core's embedding bags scale with while the memory keeps up.
    pub gather_one: Option<f64>,
    /// The same with every core gathering, GB/s: the cap on all cores' embedding traffic together.
    pub gather_all: Option<f64>,
    /// Fixed per-query time, ms.
    pub overhead_ms: f64,
    /// Idle and peak watts, price.
    pub idle_watts: f64,
    /// Peak watts.
    pub peak_watts: f64,
    /// Price of one server.
    pub price: Option<f64>,
    /// Source of each figure.
    pub sources: BTreeMap<String, String>,
}

impl Target {
    /// A catalogue SKU.
    pub fn from_sku(s: &Sku) -> Target {
        Target {
            name: s.name.clone(),
            description: s.description.clone(),
            cores: s.cores as usize,
            fma_per_core: s.fma_gflops_per_core,
            gather_one: s.gather_one_core(),
            gather_all: s.gather_gbs.map(|g| g * s.embedding_multiplier),
            overhead_ms: s.per_query_overhead_ms,
            idle_watts: s.idle_watts,
            peak_watts: s.peak_watts,
            price: s.price,
            sources: s.sources.clone(),
        }
    }

    /// A measured server type, from one of its tables' ceilings (to validate the projection against
    /// that type's measured tables).
    pub fn from_measured(t: &EfficiencyTable) -> Result<Target, ProjectError> {
        let h = HostFigures::of(t).map_err(ProjectError::Target)?;
        let what = format!("measured by `hercules roofline` on {} at {}", t.host.cpu_model, commit(t));
        let sources =
            ["cores", "fma_gflops_per_core", "gather_gbs"].iter().map(|k| (k.to_string(), what.clone()));
        Ok(Target {
            name: t.server_type.name.clone(),
            description: format!("{} ({} cores), measured", t.host.cpu_model, h.cores),
            cores: h.cores,
            fma_per_core: h.fma_per_core,
            gather_one: Some(h.gather_one),
            gather_all: Some(h.gather_all),
            overhead_ms: 0.0,
            idle_watts: t.server_type.idle_watts,
            peak_watts: t.server_type.peak_watts,
            price: t.server_type.price,
            sources: sources.collect(),
        })
    }
}

/// The figures of a measured table's host the projection scales by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostFigures {
    /// Cores the table's server type has.
    pub cores: usize,
    /// One core's FMA peak, GFLOP/s.
    pub fma_per_core: f64,
    /// One core's random-row gather bandwidth alone, GB/s.
    pub gather_one: f64,
    /// All `cores` gathering together, GB/s.
    pub gather_all: f64,
}

impl HostFigures {
    /// From the table's ceilings; an error names what is missing.
    pub fn of(t: &EfficiencyTable) -> Result<HostFigures, String> {
        let who = format!("{}/{}", t.server_type.name, t.model.name);
        let c: &Ceilings = t.ceilings.as_ref().ok_or_else(|| {
            format!("{who}: the table has no ceilings (profiled with --no-ceilings?); re-profile with them")
        })?;
        let cores =
            t.server_type.restricted_cores.as_ref().map_or(t.host.usable_cpus.len(), |c| c.len()).max(1);
        let fig = |name: &str, s: &[hercules_results::Measured], threads: usize| {
            Ceilings::at(s, threads)
                .map(|m| m.median)
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| format!("{who}: the ceilings have no {name} at {threads} thread(s)"))
        };
        let fma = fig("fma_gflops", &c.fma_gflops, 1)?;
        let one = fig("gather_gbs", &c.gather_gbs, 1)?;
        // The ceilings were measured up to the host's own cores: a type restricted to fewer uses that
        // many threads' figure.
        let all = fig("gather_gbs", &c.gather_gbs, cores)?;
        Ok(HostFigures { cores, fma_per_core: fma, gather_one: one, gather_all: all })
    }
}

/// A modelled table's basis: `<server type>/<model> at <commit>` of the measured table.
fn basis(src: &EfficiencyTable) -> String {
    format!("{}/{} at {}", src.server_type.name, src.model.name, commit(src))
}

/// What a server type of modelled tables is labelled in reports: `MODELLED from <server type> at
/// <commit>`, read from a table's [`basis`] (the model left out).
pub fn type_label(m: &Modelled) -> String {
    match m.basis.split_once('/') {
        Some((ty, rest)) => format!("MODELLED from {ty}{}", rest.find(" at ").map_or("", |i| &rest[i..])),
        None => format!("MODELLED from {}", m.basis),
    }
}

fn commit(t: &EfficiencyTable) -> String {
    match &t.provenance {
        Some(p) if p.dirty => format!("{}-dirty", p.commit),
        Some(p) => p.commit.clone(),
        None => t.host.git_revision.clone(),
    }
}

/// The scale factors of one projection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Factors {
    /// Per-query core time on the target over the source (compute and gather parts, no overhead).
    pub time_ratio: f64,
    /// Whether the target's all-core gather bandwidth, not its cores, bounds the throughput.
    pub bandwidth_bound: bool,
    /// Latency-bounded QPS on the target over the source.
    pub qps: f64,
    /// Latencies on the target over the source.
    pub latency: f64,
}

/// The factors for a source table whose best schedule serves `source_qps`; `bytes_per_query` (embedding
/// row bytes one query gathers) caps the target at its all-core gather bandwidth when given.
pub fn factors(
    src: &HostFigures,
    shares: &Shares,
    target: &Target,
    source_qps: f64,
    bytes_per_query: Option<f64>,
) -> Result<Factors, ProjectError> {
    if shares.embedding > 0.0 && target.gather_one.is_none() {
        return Err(ProjectError::Target(format!(
            "target `{}` has no gather_gbs, which this model needs (embedding share {:.0}%)",
            target.name,
            100.0 * shares.embedding
        )));
    }
    if !(source_qps.is_finite() && source_qps > 0.0) {
        return Err(ProjectError::Source(format!("source latency-bounded QPS is {source_qps}")));
    }
    // One core's embedding bags scale with one core's gather rate (they are bound by the misses a core
    // keeps in flight, not by the memory, until all cores together reach its bandwidth).
    let gather = target.gather_one.map_or(1.0, |g| src.gather_one / g);
    let time_ratio = shares.compute * src.fma_per_core / target.fma_per_core + shares.embedding * gather;
    // Core-seconds per query at the source's latency bound, then on the target.
    let t_src = src.cores as f64 / source_qps;
    let t_dst = t_src * time_ratio + target.overhead_ms * 1e-3;
    let by_cores = target.cores as f64 / t_dst;
    let by_memory = match (bytes_per_query, target.gather_all) {
        (Some(b), Some(g)) if b > 0.0 => g * 1e9 / b,
        _ => f64::INFINITY,
    };
    Ok(Factors {
        time_ratio,
        bandwidth_bound: by_memory < by_cores,
        qps: by_cores.min(by_memory) / source_qps,
        latency: t_dst / t_src,
    })
}

/// The projected table for `target` from the measured table `src` and the model's `shares`, with the
/// factors it applied.
pub fn project(
    src: &EfficiencyTable,
    shares: &Shares,
    target: &Target,
    bytes_per_query: Option<f64>,
    command: &str,
) -> Result<(EfficiencyTable, Factors), ProjectError> {
    if src.modelled.is_some() || src.synthetic {
        return Err(ProjectError::Source(format!(
            "{}/{}: only a measured table can be projected (this one is {})",
            src.server_type.name,
            src.model.name,
            src.not_measured_label().unwrap_or_default()
        )));
    }
    let from = HostFigures::of(src).map_err(ProjectError::Source)?;
    let f = factors(&from, shares, target, src.best.latency_bounded_qps, bytes_per_query)?;
    let basis = basis(src);
    let overhead = if target.overhead_ms > 0.0 {
        format!(" + {} ms per query", target.overhead_ms)
    } else {
        String::new()
    };
    let cap = match (bytes_per_query, target.gather_all) {
        (Some(b), Some(g)) if f.bandwidth_bound => {
            format!("; capped by all-core gather {g:.1} GB/s / {:.2} MB per query", b / 1e6)
        }
        (Some(_), Some(g)) => format!("; under the all-core gather cap ({g:.1} GB/s)"),
        _ => "; no all-core gather cap (no zoo figure for the model's bytes per query)".into(),
    };
    let method = format!(
        "per-query core time x {:.3} = compute share {:.2} x FMA {:.1}/{:.1} GFLOP/s per core + embedding share {:.2} \
         x one-core gather {:.2}/{} GB/s{overhead}; QPS x {} cores / {} cores / that{cap} = x {:.3}; latencies x {:.3}",
        f.time_ratio,
        shares.compute,
        from.fma_per_core,
        target.fma_per_core,
        shares.embedding,
        from.gather_one,
        target.gather_one.map_or_else(|| "-".into(), |g| format!("{g:.2}")),
        target.cores,
        from.cores,
        f.qps,
        f.latency
    );
    let mut sources = target.sources.clone();
    sources.insert("shares".into(), shares.source.clone());
    let curve = |c: &[CurvePoint]| -> Vec<CurvePoint> {
        c.iter()
            .map(|p| CurvePoint {
                offered_qps: p.offered_qps * f.qps,
                achieved_qps: p.achieved_qps * f.qps,
                p50_ms: p.p50_ms * f.latency,
                p95_ms: p.p95_ms * f.latency,
                p99_ms: p.p99_ms * f.latency,
            })
            .collect()
    };
    let (best_curve, default_curve) = (curve(&src.curve), curve(&src.default_curve));
    let sla = &src.sla;
    let scale_result = |r: &ScheduleResult,
                        sched: Schedule,
                        src_curve: &[CurvePoint],
                        scaled: &[CurvePoint]| {
        let frac = tail_fraction(src_curve, sla.percentile, sla.target_ms, f.latency).ok_or_else(|| {
            ProjectError::Unreachable(format!(
                "{}: the SLA p{} <= {} ms is out of reach on `{}`: with latencies x {:.2} even the lightest measured load is over it",
                src.model.name, sla.percentile, sla.target_ms, target.name, f.latency
            ))
        })?;
        let k = f.qps * frac;
        let qps = r.latency_bounded_qps * k;
        // Where the bound moved down the curve, its latencies are read off the scaled curve there.
        let (p50, p95, p99) = if frac < 1.0 {
            point_at(scaled, qps).unwrap_or((
                r.p50_ms * f.latency,
                r.p95_ms * f.latency,
                r.p99_ms * f.latency,
            ))
        } else {
            (r.p50_ms * f.latency, r.p95_ms * f.latency, r.p99_ms * f.latency)
        };
        Ok::<_, ProjectError>((
            ScheduleResult {
                schedule: sched,
                latency_bounded_qps: qps,
                p50_ms: p50,
                p95_ms: p95,
                p99_ms: p99,
                achieved_qps: r.achieved_qps * k,
                interval: r.interval.as_ref().map(|i| QpsInterval {
                    median: i.median * k,
                    low: i.low * k,
                    high: i.high * k,
                    confidence: i.confidence,
                    method: format!("{} (scaled by the projection)", i.method),
                    trials: i.trials.iter().map(|q| q * k).collect(),
                    rejected: i.rejected.clone(),
                }),
                // The tail's interval came from the queries at the measured bound; a bound moved down
                // the curve has no such count behind it.
                tail: r.tail.clone().filter(|_| frac >= 1.0).map(|mut t| {
                    t.estimate_ms *= f.latency;
                    t.low_ms = t.low_ms.map(|x| x * f.latency);
                    t.high_ms = t.high_ms.map(|x| x * f.latency);
                    t
                }),
            },
            frac,
        ))
    };
    let (best, best_frac) = scale_result(
        &src.best,
        scaled_schedule(&src.best.schedule, from.cores, target.cores),
        &src.curve,
        &best_curve,
    )?;
    let (default_schedule, _) = scale_result(
        &src.default_schedule,
        scaled_schedule(&src.default_schedule.schedule, from.cores, target.cores),
        &src.default_curve,
        &default_curve,
    )?;
    let f = Factors { qps: f.qps * best_frac, ..f };
    let st = &src.server_type;
    let busy = if st.peak_watts > st.idle_watts {
        ((src.power.watts - st.idle_watts) / (st.peak_watts - st.idle_watts)).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let watts = target.idle_watts + busy * (target.peak_watts - target.idle_watts);
    let method = if best_frac < 1.0 {
        format!(
            "{method}; with latencies x {:.3} the SLA is met at {:.0}% of the measured bound's load, so QPS x {:.3} in all",
            f.latency,
            100.0 * best_frac,
            f.qps
        )
    } else {
        method
    };
    let modelled = Modelled { target: target.name.clone(), basis: basis.clone(), method, sources };
    let table = EfficiencyTable {
        schema_version: src.schema_version,
        kind: src.kind.clone(),
        host: modelled_host(target, &src.host),
        server_type: ServerType {
            name: target.name.clone(),
            idle_watts: target.idle_watts,
            peak_watts: target.peak_watts,
            price: target.price,
            restricted_cores: None,
        },
        ceilings: None,
        model: src.model.clone(),
        sla: src.sla.clone(),
        query_sizes: src.query_sizes.clone(),
        search: Search {
            algorithm: "projected".into(),
            evaluations: 0,
            budget: 0,
            wall_seconds: 0.0,
            trace: vec![],
        },
        best,
        default_schedule,
        power: Power {
            watts,
            source: PowerSource::Estimated,
            detail: format!(
                "modelled: idle {} W + (peak {} W - idle) x {busy:.2}, the source's busy fraction",
                target.idle_watts, target.peak_watts
            ),
        },
        counters: BTreeMap::new(),
        curve: best_curve,
        default_curve,
        synthetic: false,
        measured_at: src.measured_at.clone(),
        notes: vec![format!("MODELLED for {} from {basis}: not a measurement", target.name)],
        provenance: Some(Provenance {
            commit: src
                .provenance
                .as_ref()
                .map_or_else(|| src.host.git_revision.clone(), |p| p.commit.clone()),
            dirty: src.provenance.as_ref().is_some_and(|p| p.dirty),
            command: command.to_string(),
            host_id: format!("modelled:{}", target.name),
        }),
        modelled: Some(modelled),
    };
    Ok((table, f))
}

/// The offered load at which `curve`'s tail (at `percentile`) reaches `tail_ms`, interpolated between
/// points; the last point's load when it never does; `None` when even the first point is over it.
fn load_at_tail(curve: &[CurvePoint], percentile: f64, tail_ms: f64) -> Option<f64> {
    let first = curve.first()?;
    if first.tail_ms(percentile) > tail_ms {
        return None;
    }
    for w in curve.windows(2) {
        let (a, b) = (w[0].tail_ms(percentile), w[1].tail_ms(percentile));
        if b > tail_ms {
            let t = if b > a { ((tail_ms - a) / (b - a)).clamp(0.0, 1.0) } else { 0.0 };
            return Some(w[0].offered_qps + t * (w[1].offered_qps - w[0].offered_qps));
        }
    }
    curve.last().map(|p| p.offered_qps)
}

/// How much of the measured bound's load still meets the SLA once every latency is `latency` times
/// longer: the load where the measured curve's tail is `target / latency`, over the load where it is
/// `target` (1 when latencies shrink or the curve says nothing; `None` when out of reach).
fn tail_fraction(curve: &[CurvePoint], percentile: f64, target_ms: f64, latency: f64) -> Option<f64> {
    if latency <= 1.0 || curve.is_empty() {
        return Some(1.0);
    }
    let lower = load_at_tail(curve, percentile, target_ms / latency)?;
    match load_at_tail(curve, percentile, target_ms) {
        Some(at) if at > 0.0 => Some((lower / at).min(1.0)),
        _ => Some(1.0),
    }
}

/// p50, p95 and p99 on `curve` at `offered`, interpolated (`None` outside the curve).
fn point_at(curve: &[CurvePoint], offered: f64) -> Option<(f64, f64, f64)> {
    let first = curve.first()?;
    if offered <= first.offered_qps {
        return Some((first.p50_ms, first.p95_ms, first.p99_ms));
    }
    curve.windows(2).find(|w| offered <= w[1].offered_qps).map(|w| {
        let (a, b) = (&w[0], &w[1]);
        let span = b.offered_qps - a.offered_qps;
        let t = if span > 0.0 { (offered - a.offered_qps) / span } else { 1.0 };
        let mix = |x: f64, y: f64| x + t * (y - x);
        (mix(a.p50_ms, b.p50_ms), mix(a.p95_ms, b.p95_ms), mix(a.p99_ms, b.p99_ms))
    })
}

/// The source schedule with its instances grown (or shrunk) with the cores, threads per instance kept
/// where they fit, placed on the target's first cores.
fn scaled_schedule(s: &Schedule, from_cores: usize, to_cores: usize) -> Schedule {
    let threads = s.threads_per_instance.clamp(1, to_cores);
    let used = (s.instances * s.threads_per_instance).max(1);
    let want = (used as f64 * to_cores as f64 / from_cores.max(1) as f64).round() as usize;
    let instances = (want / threads).clamp(1, (to_cores / threads).max(1));
    // The default schedule (one instance on every core) stays one instance on every core.
    let (instances, threads) =
        if s.instances == 1 && used == from_cores { (1, to_cores) } else { (instances, threads) };
    Schedule {
        instances,
        threads_per_instance: threads,
        cores: (0..instances * threads).collect(),
        ..s.clone()
    }
}

/// A fingerprint saying what the modelled server is; build fields from the source so a reader can
/// tell which build made the basis.
fn modelled_host(t: &Target, src: &HostFingerprint) -> HostFingerprint {
    HostFingerprint {
        hostname: format!("modelled-{}", t.name),
        cpu_model: t.description.clone(),
        cpu_vendor: "modelled".into(),
        sockets: 1,
        physical_cores: t.cores,
        logical_cpus: t.cores,
        usable_cpus: (0..t.cores).collect(),
        numa_nodes: 1,
        caches: vec![],
        memory_bytes: 0,
        isa: vec![],
        transparent_hugepages: "unknown".into(),
        hypervisor: None,
        gpus: vec![],
        kernel: "modelled".into(),
        rustc: src.rustc.clone(),
        git_revision: src.git_revision.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hercules_results::{synthetic_table, Measured, SyntheticSpec};

    fn measured(cores: usize, fma: f64, gather1: f64, gather_all: f64) -> EfficiencyTable {
        let mut t = synthetic_table(&SyntheticSpec {
            server_type: "src".into(),
            idle_watts: 100.0,
            peak_watts: 300.0,
            price: None,
            model: "m".into(),
            percentile: 95.0,
            target_ms: 100.0,
            qps: 1000.0,
            default_qps: 500.0,
            cores,
        });
        t.synthetic = false;
        let m = |threads, x| Measured::from_samples(threads, &[x]);
        t.ceilings = Some(Ceilings {
            fma_gflops: vec![m(1, fma), m(cores, fma * cores as f64)],
            fma_isa: "avx512".into(),
            stream_copy_gbs: vec![],
            stream_triad_gbs: vec![],
            seq_read_gbs: vec![],
            gather_gbs: vec![m(1, gather1), m(cores, gather_all)],
            stream_bytes: 0,
            gather_table_bytes: 0,
            gather_row_bytes: 256,
            gather_huge_pages: "yes".into(),
        });
        t
    }

    fn shares(e: f64) -> Shares {
        Shares { embedding: e, compute: 1.0 - e, source: "test".into() }
    }

    #[test]
    fn projecting_a_type_onto_itself_changes_nothing() {
        let src = measured(2, 100.0, 10.0, 16.0);
        let me = Target::from_measured(&src).unwrap();
        let (p, _) = project(&src, &shares(0.6), &me, Some(1e6), "test").unwrap();
        assert!((p.best.latency_bounded_qps - 1000.0).abs() < 1e-9);
        assert!((p.best.p95_ms - src.best.p95_ms).abs() < 1e-9);
        assert_eq!(p.best.schedule.instances, src.best.schedule.instances);
        assert!(p.modelled.as_ref().unwrap().basis.starts_with("src/m at "));
        assert!(p.not_measured_label().unwrap().starts_with("MODELLED from src/m"));
        assert!(type_label(p.modelled.as_ref().unwrap()).starts_with("MODELLED from src at "));
        p.validate().unwrap();
    }

    #[test]
    fn compute_scales_with_fma_embeddings_with_one_core_gather_capped_by_all_cores() {
        let src = measured(2, 100.0, 10.0, 16.0);
        let from = HostFigures::of(&src).unwrap();
        assert_eq!((from.gather_one, from.gather_all), (10.0, 16.0));
        let mut t = Target::from_measured(&src).unwrap();
        t.fma_per_core = 200.0;
        // All compute: twice the FMA halves the time per query.
        let f = factors(&from, &shares(0.0), &t, 1000.0, None).unwrap();
        assert!((f.qps - 2.0).abs() < 1e-12 && (f.latency - 0.5).abs() < 1e-12 && !f.bandwidth_bound);
        // All embedding: FMA does not matter; 4x the cores at a quarter of the one-core gather is flat.
        t.cores = 8;
        t.gather_one = Some(2.5);
        let f = factors(&from, &shares(1.0), &t, 1000.0, None).unwrap();
        assert!((f.qps - 1.0).abs() < 1e-12, "{f:?}");
        // Twice the cores at the same one-core gather: twice the QPS, until all cores' bytes reach the
        // all-core bandwidth (16 GB/s / 10 MB per query = 1600 QPS).
        t.gather_one = Some(10.0);
        t.cores = 4;
        let f = factors(&from, &shares(1.0), &t, 1000.0, None).unwrap();
        assert!((f.qps - 2.0).abs() < 1e-12, "{f:?}");
        let f = factors(&from, &shares(1.0), &t, 1000.0, Some(10e6)).unwrap();
        assert!((f.qps - 1.6).abs() < 1e-12 && f.bandwidth_bound, "{f:?}");
        // An accelerator's overhead adds to every query: 2 ms of core time per query becomes 4 ms.
        t.overhead_ms = 2.0;
        let f = factors(&from, &shares(1.0), &t, 1000.0, None).unwrap();
        assert!((f.qps - 1.0).abs() < 1e-12 && (f.latency - 2.0).abs() < 1e-12, "{f:?}");
    }

    #[test]
    fn what_is_missing_is_one_line() {
        let mut src = measured(2, 100.0, 10.0, 16.0);
        let mut t = Target::from_measured(&src).unwrap();
        t.gather_one = None;
        let e = project(&src, &shares(0.3), &t, None, "x").unwrap_err().to_string();
        assert!(e.contains("has no gather_gbs, which this model needs (embedding share 30%)"), "{e}");
        // Without embeddings the gather figure is not needed.
        project(&src, &shares(0.0), &t, None, "x").unwrap();
        src.ceilings = None;
        let e = project(&src, &shares(0.3), &t, None, "x").unwrap_err().to_string();
        assert!(e.contains("src/m: the table has no ceilings"), "{e}");
        let one = measured(2, 1.0, 1.0, 1.0);
        let (modelled, _) =
            project(&one, &shares(0.3), &Target::from_measured(&one).unwrap(), None, "x").unwrap();
        let e = project(&modelled, &shares(0.3), &t, None, "x").unwrap_err().to_string();
        assert!(e.contains("only a measured table can be projected"), "{e}");
    }

    #[test]
    fn shares_come_from_infer_documents() {
        let doc = serde_json::json!({"model": "m", "batch": 128, "threads": 1,
            "shares": {"embedding": 0.7, "mlp": 0.2, "attention/rnn": 0.0, "interaction": 0.1}});
        let s = Shares::from_infer(&doc, "m", "f.json").unwrap().unwrap();
        assert!((s.embedding - 0.7).abs() < 1e-12 && (s.compute - 0.3).abs() < 1e-12);
        assert!(s.source.contains("batch 128"));
        assert_eq!(Shares::from_infer(&doc, "other", "f.json").unwrap(), None);
        let bad = serde_json::json!({"model": "m", "shares": {"embedding": 0.9, "mlp": 0.9}});
        assert!(Shares::from_infer(&bad, "m", "f.json").unwrap_err().contains("sum to 1"));
        let none = serde_json::json!({"model": "m"});
        assert!(Shares::from_infer(&none, "m", "f.json").unwrap_err().contains("no `shares`"));
    }

    #[test]
    fn slower_targets_meet_the_sla_lower_down_the_curve() {
        let pt = |q: f64, p95: f64| CurvePoint {
            offered_qps: q,
            achieved_qps: q,
            p50_ms: p95 / 2.0,
            p95_ms: p95,
            p99_ms: p95,
        };
        let c = vec![pt(100.0, 10.0), pt(200.0, 20.0), pt(300.0, 50.0), pt(400.0, 100.0), pt(500.0, 300.0)];
        assert_eq!(load_at_tail(&c, 95.0, 100.0), Some(400.0));
        assert_eq!(load_at_tail(&c, 95.0, 35.0), Some(250.0));
        assert_eq!(load_at_tail(&c, 95.0, 5.0), None);
        assert_eq!(load_at_tail(&c, 95.0, 1000.0), Some(500.0));
        // Latencies twice as long: the SLA of 100 ms holds where the measured tail was 50 ms.
        assert_eq!(tail_fraction(&c, 95.0, 100.0, 2.0), Some(0.75));
        assert_eq!(tail_fraction(&c, 95.0, 100.0, 0.5), Some(1.0));
        assert_eq!(tail_fraction(&c, 95.0, 100.0, 20.0), None);
        assert_eq!(point_at(&c, 250.0), Some((17.5, 35.0, 35.0)));
    }

    #[test]
    fn an_unreachable_sla_is_an_error_not_a_table() {
        let src = measured(2, 100.0, 10.0, 16.0);
        let mut t = Target::from_measured(&src).unwrap();
        t.fma_per_core = 0.1;
        let e = project(&src, &shares(0.0), &t, None, "x").unwrap_err().to_string();
        assert!(e.contains("is out of reach on `src`"), "{e}");
    }

    #[test]
    fn schedules_grow_with_the_cores() {
        let s = |i, t| Schedule {
            instances: i,
            threads_per_instance: t,
            inter_op: false,
            sub_batch: Some(64),
            gpu_threshold: None,
            gpu_streams: None,
            cores: (0..i * t).collect(),
        };
        let b = scaled_schedule(&s(2, 1), 2, 40);
        assert_eq!((b.instances, b.threads_per_instance, b.cores.len(), b.sub_batch), (40, 1, 40, Some(64)));
        let d = scaled_schedule(&s(1, 2), 2, 40);
        assert_eq!((d.instances, d.threads_per_instance), (1, 40));
        let one = scaled_schedule(&s(2, 1), 2, 1);
        assert_eq!((one.instances, one.threads_per_instance), (1, 1));
    }
}
