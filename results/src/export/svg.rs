//! SVG: tail latency against offered load for the best and the default schedule, with the SLA line,
//! so a reader sees where each schedule crosses the target and how far the search moved it.

use super::{num, Exporter};
use crate::plot::{color, Axis, Kind, Marker, Rect, Series, Style, Svg};
use crate::table::{tail_name, CurvePoint, EfficiencyTable, ScheduleResult};

/// Latency-vs-load curves of one table (series ids: `best`, `default`, `sla`, `best-capacity`,
/// `default-capacity`).
pub struct SvgExporter;

/// The stored percentile of a schedule result that the SLA reads (as [`CurvePoint::tail_ms`]).
fn result_tail(r: &ScheduleResult, percentile: f64) -> f64 {
    let p = CurvePoint {
        offered_qps: r.latency_bounded_qps,
        achieved_qps: r.achieved_qps,
        p50_ms: r.p50_ms,
        p95_ms: r.p95_ms,
        p99_ms: r.p99_ms,
    };
    p.tail_ms(percentile)
}

impl Exporter for SvgExporter {
    fn extension(&self) -> &'static str {
        "svg"
    }

    fn render(&self, t: &EfficiencyTable) -> String {
        let pct = t.sla.percentile;
        let tail = tail_name(pct);
        let mut title = format!("{} on {}: {tail} latency vs offered load", t.model.name, t.server_type.name);
        if let Some(label) = t.not_measured_label() {
            title.push_str(&format!(" ({label})"));
        }
        let mut svg = Svg::new(900.0, 480.0, &title);
        let curves = [("best", &t.best, &t.curve), ("default", &t.default_schedule, &t.default_curve)];
        let xs = curves
            .iter()
            .flat_map(|(_, r, c)| c.iter().map(|p| p.offered_qps).chain([r.latency_bounded_qps]));
        let x_max = xs.fold(0.0, f64::max);
        // Latencies span decades past saturation: a log axis keeps the SLA region readable.
        let ys: Vec<f64> = curves
            .iter()
            .flat_map(|(_, r, c)| c.iter().map(|p| p.tail_ms(pct)).chain([result_tail(r, pct)]))
            .chain([t.sla.target_ms])
            .filter(|y| y.is_finite() && *y > 0.0)
            .collect();
        let y_min = ys.iter().copied().fold(f64::INFINITY, f64::min);
        let y_max = ys.iter().copied().fold(0.0, f64::max);
        let rect = Rect { x: 75.0, y: 50.0, w: 520.0, h: 370.0 };
        let x_axis = Axis::linear("offered load, queries per second", 0.0, x_max * 1.05);
        let panel = svg.panel(rect, x_axis, Axis::log(format!("{tail} latency, ms"), y_min, y_max), "");
        let mut legend = Vec::new();
        let sla_style = Style::line("#d62728").dashed("6 4");
        let sla_name = format!("SLA: p{} ≤ {} ms", t.sla.percentile, t.sla.target_ms);
        let sla = vec![(panel.x.min, t.sla.target_ms), (panel.x.max, t.sla.target_ms)];
        svg.series(&panel, &Series::new("sla", sla_name.clone(), sla_style, Kind::Line, sla));
        legend.push((sla_style, Kind::Line, sla_name));
        for (i, (id, r, c)) in curves.iter().enumerate() {
            let (col, marker) =
                if i == 0 { (color(0), Marker::Circle) } else { (color(7), Marker::OpenCircle) };
            let style = Style::line(col).with_marker(marker);
            let style = if i == 0 { style } else { style.dashed("5 3") };
            let name = format!("{id}: {}", r.schedule.label());
            if c.is_empty() {
                legend.push((style, Kind::Line, format!("{name} (no curve measured)")));
                continue;
            }
            let pts: Vec<(f64, f64)> = c.iter().map(|p| (p.offered_qps, p.tail_ms(pct))).collect();
            svg.series(&panel, &Series::new(*id, name.clone(), style, Kind::Line, pts));
            legend.push((style, Kind::Line, name));
            let cap_style = Style::points(col, Marker::Diamond);
            let cap_name = format!("{id}: {} QPS under the SLA", num(r.latency_bounded_qps));
            let cap = vec![(r.latency_bounded_qps, result_tail(r, pct))];
            svg.series(
                &panel,
                &Series::new(format!("{id}-capacity"), cap_name.clone(), cap_style, Kind::Points, cap),
            );
            legend.push((cap_style, Kind::Points, cap_name));
        }
        let y = svg.legend(615.0, 70.0, &legend);
        let mut notes = vec![
            format!("measured at {}", t.measured_at),
            format!("search: {}, {} evaluations", t.search.algorithm, t.search.evaluations),
            "each point is one open-loop trial of the".to_string(),
            "rate search; latency counts queueing".to_string(),
        ];
        if t.default_schedule.latency_bounded_qps > 0.0 {
            let ratio = t.best.latency_bounded_qps / t.default_schedule.latency_bounded_qps;
            notes.insert(0, format!("best over default: {ratio:.2}x"));
        }
        svg.notes(615.0, y + 10.0, &notes);
        svg.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{synthetic_table, SyntheticSpec};

    fn table() -> EfficiencyTable {
        synthetic_table(&SyntheticSpec {
            server_type: "skylake".into(),
            idle_watts: 100.0,
            peak_watts: 300.0,
            price: None,
            model: "dlrm-rmc1".into(),
            percentile: 95.0,
            target_ms: 100.0,
            qps: 1200.0,
            default_qps: 300.0,
            cores: 8,
        })
    }

    #[test]
    fn every_series_has_points() {
        let s = SvgExporter.render(&table());
        for id in ["sla", "best", "default", "best-capacity", "default-capacity"] {
            let at = s.find(&format!(r#"id="series-{id}""#)).unwrap_or_else(|| panic!("{id}: {s}"));
            let group = &s[at..at + s[at..].find("</g>").unwrap()];
            assert!(group.contains("<polyline points=\"") || group.contains("<path"), "{id}: {group}");
        }
        assert!(s.contains("SYNTHETIC") && s.contains("p95 latency"));
    }

    #[test]
    fn empty_curves_are_said_not_drawn() {
        let mut t = table();
        t.default_curve.clear();
        t.curve.clear();
        let s = SvgExporter.render(&t);
        assert!(s.contains("no curve measured") && !s.contains(r#"id="series-best""#));
        assert!(s.contains(r#"id="series-sla""#));
    }
}
