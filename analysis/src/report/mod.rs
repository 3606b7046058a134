//! Outputs of a provisioning run, one or more files per format behind the workspace's one exporter
//! trait, [`Exporter`]`<ProvisionReport>` (`hercules-results`).

mod csv;
mod markdown;
mod svg;

pub use self::csv::{totals_csv, CsvReport};
pub use self::markdown::{summary_table, MarkdownReport};
pub use self::svg::SvgReport;
pub use hercules_results::{Exporter, JsonExporter};

use crate::provision::ProvisionReport;

/// The stem the formats' files are named from: the JSON is `provision.json`; the CSV, Markdown and
/// SVG formats name their own files (`plan.csv`, `report.md`, ...).
pub const REPORT_STEM: &str = "provision";

/// Every format.
pub fn all_reports() -> Vec<Box<dyn Exporter<ProvisionReport>>> {
    vec![Box::new(JsonExporter), Box::new(CsvReport), Box::new(MarkdownReport), Box::new(SvgReport)]
}

/// Percent with one decimal.
pub(crate) fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// Percent with one decimal, or `n/a` for a figure that means nothing (e.g. savings of a plan that
/// leaves load uncovered).
pub fn pct_or_na(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".into(), pct)
}
