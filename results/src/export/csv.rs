//! CSV: one row per curve point (best and default schedule), each row carrying the table's identity so
//! that many tables concatenate into one data frame.

use super::Exporter;
use crate::table::{CurvePoint, EfficiencyTable};

/// Flat CSV for pandas.
pub struct CsvExporter;

/// Column names of [`CsvExporter`]'s output.
pub const CSV_HEADER: &str =
    "server_type,model,sla_percentile,sla_target_ms,synthetic,modelled,schedule_kind,\
schedule,latency_bounded_qps,watts,power_source,offered_qps,achieved_qps,p50_ms,p95_ms,p99_ms";

/// Quotes a CSV field when it holds a comma, quote or newline (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Exporter for CsvExporter {
    fn extension(&self) -> &'static str {
        "csv"
    }

    fn render(&self, t: &EfficiencyTable) -> String {
        let mut out = String::from(CSV_HEADER);
        out.push('\n');
        let source = serde_json::to_value(t.power.source).ok().and_then(|v| v.as_str().map(String::from));
        let mut rows = |kind: &str, label: String, qps: f64, curve: &[CurvePoint]| {
            for p in curve {
                let cells = [
                    csv_field(&t.server_type.name),
                    csv_field(&t.model.name),
                    t.sla.percentile.to_string(),
                    t.sla.target_ms.to_string(),
                    t.synthetic.to_string(),
                    csv_field(t.modelled.as_ref().map_or("", |m| m.basis.as_str())),
                    kind.to_string(),
                    csv_field(&label),
                    qps.to_string(),
                    t.power.watts.to_string(),
                    source.clone().unwrap_or_default(),
                    p.offered_qps.to_string(),
                    p.achieved_qps.to_string(),
                    p.p50_ms.to_string(),
                    p.p95_ms.to_string(),
                    p.p99_ms.to_string(),
                ];
                out.push_str(&cells.join(","));
                out.push('\n');
            }
        };
        rows("best", t.best.schedule.label(), t.best.latency_bounded_qps, &t.curve);
        rows(
            "default",
            t.default_schedule.schedule.label(),
            t.default_schedule.latency_bounded_qps,
            &t.default_curve,
        );
        out
    }
}
