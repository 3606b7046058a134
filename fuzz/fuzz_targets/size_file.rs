//! `QuerySizes::from_file` under the `hercules` binary's bound (`--sizes file:PATH`, whitespace- or
//! comma-separated query sizes), then a few samples.
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_fuzz::limits::MAX_SIZES_FILE_BYTES;
use hercules_fuzz::sizes::{QuerySizes, SampleSizes, MAX_SIZE, MIN_SIZE};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = hercules_fuzz::scratch_file("sizes.txt", data);
    match QuerySizes::from_file(&path, MAX_SIZES_FILE_BYTES) {
        Err(e) => hercules_fuzz::one_line("QuerySizes::from_file", &e),
        Ok(d) => {
            let s = d.sample(16, 7);
            assert!(s.iter().all(|&x| (MIN_SIZE..=MAX_SIZE).contains(&x)), "{s:?}");
        }
    }
});
