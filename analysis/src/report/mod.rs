//! Outputs of a provisioning run, one file per format behind one trait.

mod csv;
mod json;
mod markdown;
mod svg;

pub use self::csv::{totals_csv, CsvReport};
pub use self::json::JsonReport;
pub use self::markdown::{summary_table, MarkdownReport};
pub use self::svg::SvgReport;

use crate::provision::ProvisionReport;

/// One output format: the files (name, content) it makes from a report.
pub trait ReportExporter {
    /// Files to write, by name relative to the output directory.
    fn render(&self, report: &ProvisionReport) -> Vec<(String, String)>;
}

/// Every format.
pub fn all_reports() -> Vec<Box<dyn ReportExporter>> {
    vec![Box::new(JsonReport), Box::new(CsvReport), Box::new(MarkdownReport), Box::new(SvgReport)]
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
