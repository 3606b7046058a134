//! `Sla::parse` of the `hercules` binary (`--sla p95:100ms`).
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_fuzz::latency::{Histogram, Sla};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = hercules_fuzz::text(data) else { return };
    match Sla::parse(text) {
        Err(e) => hercules_fuzz::one_line("Sla::parse", &e),
        Ok(sla) => {
            assert!(sla.percentile > 0.0 && sla.percentile < 100.0);
            assert!(!sla.target.is_zero());
            let _ = sla.to_string();
            let _ = sla.allowed_over();
            let mut h = Histogram::new();
            h.record(1_000_000);
            let _ = sla.met_by(&h);
        }
    }
});
