//! `sizes::parse` of the `hercules` binary (`--sizes lognormal:5.1:0.2`, into the schema's
//! `QuerySizes`), then its round trips through JSON and `Display`, and a few samples. `file:PATH` is
//! left to the `size_file` target: a fuzzed path would read this machine's files.
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_fuzz::sizes::{self, SampleSizes, MAX_SIZE, MIN_SIZE};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = hercules_fuzz::text(data) else { return };
    if text.split(':').next().unwrap_or("").trim().eq_ignore_ascii_case("file") {
        return;
    }
    match sizes::parse(text) {
        Err(e) => hercules_fuzz::one_line("sizes::parse", &e),
        Ok(d) => {
            let json = serde_json::to_string(&d).expect("query sizes serialise");
            let read: sizes::QuerySizes =
                serde_json::from_str(&json).unwrap_or_else(|e| panic!("`{json}` does not read back: {e}"));
            assert_eq!(read, d, "`{json}` reads back as another distribution");
            let shown = d.to_string();
            let back = sizes::parse(&shown).unwrap_or_else(|e| panic!("`{shown}` does not parse back: {e}"));
            assert_eq!(back, d, "`{shown}` parses back to another distribution");
            let s = d.sample(16, 7);
            assert_eq!(s.len(), 16);
            assert!(s.iter().all(|&x| (MIN_SIZE..=MAX_SIZE).contains(&x)), "{s:?}");
        }
    }
});
