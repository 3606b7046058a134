//! Markdown: a one-page report of a table for people.

use super::{num, Exporter};
use crate::table::{CurvePoint, EfficiencyTable, QuerySizes};
use std::fmt::Write;

/// A readable report of one table.
pub struct MarkdownExporter;

impl Exporter for MarkdownExporter {
    fn extension(&self) -> &'static str {
        "md"
    }

    fn render(&self, t: &EfficiencyTable) -> String {
        let mut s = String::new();
        // `write!` to a String cannot fail; the results are ignored through this macro.
        macro_rules! w {
            ($($arg:tt)*) => {{ let _ = writeln!(s, $($arg)*); }};
        }
        w!("# {} on {} (p{} ≤ {} ms)\n", t.model.name, t.server_type.name, t.sla.percentile, t.sla.target_ms);
        if t.synthetic {
            w!("> **SYNTHETIC** — made by `hercules-analysis synth`, not measured.\n");
        }
        if let Some(m) = &t.modelled {
            w!(
                "> **MODELLED** — projected by `hercules-analysis project` for `{}` from {}, not measured: {}\n",
                m.target,
                m.basis,
                m.method
            );
        }
        let h = &t.host;
        w!(
            "- Host: {} — {} ({} sockets, {} cores, {} CPUs), {} GiB, kernel {}",
            h.hostname,
            h.cpu_model,
            h.sockets,
            h.physical_cores,
            h.logical_cpus,
            h.memory_bytes >> 30,
            h.kernel
        );
        if !h.gpus.is_empty() {
            let g: Vec<&str> = h.gpus.iter().map(|g| g.name.as_str()).collect();
            w!("- GPUs: {}", g.join(", "));
        }
        w!("- Build: rustc {}, revision {}; measured at {}", h.rustc, h.git_revision, t.measured_at);
        if let Some(p) = &t.provenance {
            w!("- Command: `{}` (host {})", p.command, p.host_id);
        }
        w!(
            "- Server type: idle {} W, peak {} W{}",
            num(t.server_type.idle_watts),
            num(t.server_type.peak_watts),
            t.server_type.price.map(|p| format!(", price {}", num(p))).unwrap_or_default()
        );
        w!(
            "- Model: rows scale {}{}, {} MiB of tables, {} parameters",
            t.model.rows_scale,
            t.model.row_cap.map(|c| format!(", row cap {c}")).unwrap_or_default(),
            t.model.table_bytes >> 20,
            t.model.params
        );
        let qs = match &t.query_sizes {
            QuerySizes::Lognormal { mu, sigma } => format!("lognormal(mu {mu}, sigma {sigma})"),
            QuerySizes::Normal { mean, sd } => format!("normal(mean {mean}, sd {sd})"),
            QuerySizes::Mlperf => "MLPerf quantiles".into(),
            QuerySizes::Fixed { size } => format!("fixed {size}"),
            QuerySizes::File { path, .. } => format!("file {path}"),
        };
        w!("- Query sizes: {qs}");
        w!(
            "- Search: {} — {} evaluations of {} budget, {} s\n",
            t.search.algorithm,
            t.search.evaluations,
            t.search.budget,
            num(t.search.wall_seconds)
        );
        w!("| schedule | layout | latency-bounded QPS | p50 ms | p95 ms | p99 ms | achieved QPS |");
        w!("|---|---|---:|---:|---:|---:|---:|");
        for (name, r) in [("best", &t.best), ("default", &t.default_schedule)] {
            w!(
                "| {name} | {} | {} | {} | {} | {} | {} |",
                r.schedule.label(),
                num(r.latency_bounded_qps),
                num(r.p50_ms),
                num(r.p95_ms),
                num(r.p99_ms),
                num(r.achieved_qps)
            );
        }
        let rows = [("best", &t.best), ("default", &t.default_schedule)];
        if rows.iter().any(|(_, r)| r.interval.is_some() || r.tail.is_some()) {
            w!(
                "\n| schedule | trials (QPS) | interval | rejected | p{} at that rate (interval, queries) |",
                t.sla.percentile
            );
            w!("|---|---|---|---:|---|");
            for (name, r) in rows {
                let (trials, interval, rejected) = match &r.interval {
                    Some(i) => (
                        i.trials.iter().map(|q| num(*q)).collect::<Vec<_>>().join(", "),
                        format!("{}–{} ({:.0}%)", num(i.low), num(i.high), i.confidence * 100.0),
                        i.rejected.len().to_string(),
                    ),
                    None => ("one".into(), "-".into(), "-".into()),
                };
                let tail = r.tail.as_ref().map_or("-".into(), |x| {
                    let b = |v: Option<f64>| v.map_or("unbounded".into(), num);
                    format!(
                        "{} ms ({}–{} ms, {} queries)",
                        num(x.estimate_ms),
                        b(x.low_ms),
                        b(x.high_ms),
                        x.queries
                    )
                });
                w!("| {name} | {trials} | {interval} | {rejected} | {tail} |");
            }
            if let Some(i) = t.best.interval.as_ref().or(t.default_schedule.interval.as_ref()) {
                w!("\nIntervals: {}.", i.method);
            }
        }
        let d = t.default_schedule.latency_bounded_qps;
        if d > 0.0 {
            let verdict = match (&t.best.interval, &t.default_schedule.interval) {
                (Some(b), Some(d)) if b.separated_from(d) => " (the intervals do not overlap: significant)",
                (Some(_), Some(_)) => " (the intervals overlap: not significant)",
                _ => "",
            };
            w!("\nBest over default: {:.2}x{verdict}.", t.best.latency_bounded_qps / d);
        }
        w!("\nPower: {} W ({:?}: {}).", num(t.power.watts), t.power.source, t.power.detail);
        if t.power.watts > 0.0 {
            w!("Efficiency: {} QPS per watt.", num(t.best.latency_bounded_qps / t.power.watts));
        }
        if !t.counters.is_empty() {
            w!("\n| counter | value |");
            w!("|---|---:|");
            // Counters missing for one reason (a VM exposes no PMU at all) share one row, so the reason
            // is read once rather than once per counter.
            let mut missing: Vec<(&str, Vec<&str>)> = Vec::new();
            for (k, c) in &t.counters {
                match c.value {
                    Some(v) => w!("| {k} | {} |", num(v)),
                    None => {
                        let why = c.reason.as_deref().unwrap_or("");
                        match missing.iter_mut().find(|(r, _)| *r == why) {
                            Some((_, names)) => names.push(k),
                            None => missing.push((why, vec![k])),
                        }
                    }
                }
            }
            for (why, names) in missing {
                w!("| {} | n/a ({why}) |", names.join(", "));
            }
        }
        let curve = |s: &mut String, title: &str, c: &[CurvePoint]| {
            if c.is_empty() {
                return;
            }
            let _ = writeln!(s, "\n### Curve: {title}\n");
            let _ = writeln!(s, "| offered QPS | achieved QPS | p50 ms | p95 ms | p99 ms |");
            let _ = writeln!(s, "|---:|---:|---:|---:|---:|");
            for p in c {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    num(p.offered_qps),
                    num(p.achieved_qps),
                    num(p.p50_ms),
                    num(p.p95_ms),
                    num(p.p99_ms)
                );
            }
        };
        curve(&mut s, "best schedule", &t.curve);
        curve(&mut s, "default schedule", &t.default_curve);
        if !t.notes.is_empty() {
            s.push_str("\n### Notes\n\n");
            for n in &t.notes {
                let _ = writeln!(s, "- {n}");
            }
        }
        s
    }
}
