//! `Trace::parse` (query trace files, `--dist trace:FILE`), then `Trace::check` against a small model,
//! with and without index wrapping.
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_models::inputs::Trace;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = hercules_fuzz::text(data) else { return };
    match Trace::parse(text, "trace.txt") {
        Err(e) => hercules_fuzz::one_line("Trace::parse", &e),
        Ok(trace) => {
            let spec = hercules_fuzz::spec::tiny();
            if let Err(e) = trace.check(spec) {
                hercules_fuzz::one_line("Trace::check", &e);
            }
            if let Err(e) = trace.with_wrap(true).check(spec) {
                hercules_fuzz::one_line("Trace::check (wrap)", &e);
            }
        }
    }
});
