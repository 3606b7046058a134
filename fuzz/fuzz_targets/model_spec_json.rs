//! `ModelSpec::parse` on JSON (model spec files, `--model path.json`), then what a caller computes
//! from a validated spec.
#![no_main]
hercules_fuzz::bounded_alloc!();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = hercules_fuzz::text(data) else { return };
    hercules_fuzz::spec::check(text, "spec.json");
});
