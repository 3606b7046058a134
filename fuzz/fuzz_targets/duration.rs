//! `parse_duration` of the `hercules` binary (`--duration 10s`, `--warmup`, `--time-budget`).
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_fuzz::{args::parse_duration, limits::MAX_DURATION};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = hercules_fuzz::text(data) else { return };
    match parse_duration(text) {
        Err(e) => hercules_fuzz::one_line("parse_duration", &e),
        Ok(d) => assert!(d <= MAX_DURATION),
    }
});
