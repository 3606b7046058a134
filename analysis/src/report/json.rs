//! JSON: the whole report.

use super::ReportExporter;
use crate::provision::ProvisionReport;

/// `provision.json`: everything, for programs.
pub struct JsonReport;

impl ReportExporter for JsonReport {
    fn render(&self, r: &ProvisionReport) -> Vec<(String, String)> {
        // Only numbers, strings and plain structs: serialising cannot fail.
        let text = serde_json::to_string_pretty(r).expect("report serialises");
        vec![("provision.json".into(), text + "\n")]
    }
}
