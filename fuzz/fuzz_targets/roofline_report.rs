//! The roofline report (`hercules profile --roofline FILE`) as the harness decodes it.
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_results::RooflineReport;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = hercules_fuzz::text(data) else { return };
    match hercules_results::parse_document::<RooflineReport>(text, std::path::Path::new("fuzz.json")) {
        Err(e) => hercules_fuzz::one_line("RooflineReport", &e),
        Ok(r) => {
            let _ = serde_json::to_string(&r).expect("a decoded report serialises");
        }
    }
});
