//! JSON: the document itself, pretty-printed.

use super::Exporter;
use serde::Serialize;

/// Any document as pretty JSON with a final newline: an efficiency table (what the harness writes and
/// `read_table` reads), a harness report, a provisioning report.
pub struct JsonExporter;

impl<D: Serialize + ?Sized> Exporter<D> for JsonExporter {
    fn extension(&self) -> &'static str {
        "json"
    }

    fn render(&self, doc: &D) -> String {
        // Every document of the workspace holds only strings, numbers, bools, sequences and maps with
        // string or integer keys: serialising cannot fail.
        let mut s = serde_json::to_string_pretty(doc).expect("document serialises");
        s.push('\n');
        s
    }
}
