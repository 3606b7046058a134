//! `parse_table` (efficiency tables read by the analysis and the comparisons), then the analysis's
//! own bounds (`load_tables` on the file), the curve lookups, and the write/read round trip.
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_results::{parse_table, EfficiencyTable};
use std::path::Path;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = hercules_fuzz::text(data) else { return };
    let table: EfficiencyTable = match parse_table(text, Path::new("t.json")) {
        Err(e) => return hercules_fuzz::one_line("parse_table", &e),
        Ok(t) => t,
    };
    for q in [0.0, 1.0, table.best.latency_bounded_qps, 1e300] {
        let _ = table.tail_at(q);
    }
    let _ = table.best.schedule.label();
    // A table read back equals the table written (results/Cargo.toml: exact float round trip).
    let written = serde_json::to_string(&table).expect("a valid table serialises");
    let back = parse_table(&written, Path::new("t.json"))
        .unwrap_or_else(|e| panic!("written table does not read back: {e}"));
    assert_eq!(back, table, "round trip changed the table");
    // The analysis reads the same file with its own bounds.
    let path = hercules_fuzz::scratch_file("table.json", data);
    if let Err(e) =
        hercules_analysis::cluster::load_tables(&[path], hercules_analysis::cluster::TableLoad::Strict)
    {
        hercules_fuzz::one_line("load_tables", &e);
    }
});
