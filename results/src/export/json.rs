//! JSON: the document itself, pretty-printed.

use super::Exporter;
use crate::table::EfficiencyTable;

/// The table as pretty JSON (what the harness writes and `read_table` reads).
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn extension(&self) -> &'static str {
        "json"
    }

    fn render(&self, table: &EfficiencyTable) -> String {
        // The table holds only strings, numbers, bools, maps with string keys: serialising cannot fail.
        let mut s = serde_json::to_string_pretty(table).expect("efficiency table serialises");
        s.push('\n');
        s
    }
}
