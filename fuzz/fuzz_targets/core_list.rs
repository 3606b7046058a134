//! `parse_core_list` (`cores=0-3+8`, the harness's `--cores`).
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_results::schedule::{parse_core_list, MAX_CORE};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = hercules_fuzz::text(data) else { return };
    match parse_core_list(text) {
        Err(e) => hercules_fuzz::one_line("parse_core_list", &e),
        Ok(cores) => {
            assert!(cores.len() <= MAX_CORE + 1, "{} cores", cores.len());
            assert!(cores.iter().all(|&c| c <= MAX_CORE));
        }
    }
});
