//! Renderings of an efficiency table for people and pandas, one file per format behind one trait.

mod csv;
mod json;
mod markdown;

pub use self::csv::{csv_field, CsvExporter};
pub use self::json::JsonExporter;
pub use self::markdown::MarkdownExporter;

use crate::table::EfficiencyTable;

/// One output format of an efficiency table.
pub trait Exporter {
    /// File extension without the dot (`csv`, `md`, `json`).
    fn extension(&self) -> &'static str;
    /// The whole document for `table`.
    fn render(&self, table: &EfficiencyTable) -> String;
}

/// Every exporter, for "write all formats" loops.
pub fn all_exporters() -> Vec<Box<dyn Exporter>> {
    vec![Box::new(JsonExporter), Box::new(CsvExporter), Box::new(MarkdownExporter)]
}

/// A fixed-precision number for text outputs: enough digits to be useful, none that are noise.
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let a = x.abs();
    if a == 0.0 || a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}
