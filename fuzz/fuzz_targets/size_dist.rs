//! `SizeDist::parse` of the `hercules` binary (`--sizes lognormal:5.1:0.2`), then its round trip through
//! `Display` and a few samples. `file:PATH` is left to the `size_file` target: a fuzzed path would
//! read this machine's files.
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_fuzz::sizes::{SizeDist, MAX_SIZE, MIN_SIZE};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = hercules_fuzz::text(data) else { return };
    if text.split(':').next().unwrap_or("").trim().eq_ignore_ascii_case("file") {
        return;
    }
    match SizeDist::parse(text) {
        Err(e) => hercules_fuzz::one_line("SizeDist::parse", &e),
        Ok(d) => {
            let _ = d.to_schema();
            let shown = d.to_string();
            let back =
                SizeDist::parse(&shown).unwrap_or_else(|e| panic!("`{shown}` does not parse back: {e}"));
            assert_eq!(back, d, "`{shown}` parses back to another distribution");
            let s = d.sample(16, 7);
            assert_eq!(s.len(), 16);
            assert!(s.iter().all(|&x| (MIN_SIZE..=MAX_SIZE).contains(&x)), "{s:?}");
        }
    }
});
