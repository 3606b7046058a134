//! Renderings of an efficiency table for people and pandas, one file per format behind one trait,
//! [`Exporter`], which every output of the workspace shares: the harness's reports and tables and
//! the analysis's provisioning report implement it for their own documents.

mod csv;
mod json;
mod markdown;
mod svg;

pub use self::csv::{csv_field, CsvExporter};
pub use self::json::JsonExporter;
pub use self::markdown::MarkdownExporter;
pub use self::svg::SvgExporter;

use crate::table::EfficiencyTable;

/// One output format of a document `D` (by default an efficiency table).
pub trait Exporter<D: ?Sized = EfficiencyTable> {
    /// File extension without the dot (`csv`, `md`, `json`, `svg`).
    fn extension(&self) -> &'static str;
    /// The whole document in this format (a format that makes several files: its main one).
    fn render(&self, doc: &D) -> String;
    /// Every file this format makes for `doc`, as (name, content): by default one,
    /// `<stem>.<extension>`. A format that splits a document over several files overrides it.
    fn files(&self, doc: &D, stem: &str) -> Vec<(String, String)> {
        vec![(format!("{stem}.{}", self.extension()), self.render(doc))]
    }
}

/// Every exporter, for "write all formats" loops.
pub fn all_exporters() -> Vec<Box<dyn Exporter>> {
    vec![Box::new(JsonExporter), Box::new(CsvExporter), Box::new(MarkdownExporter), Box::new(SvgExporter)]
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
