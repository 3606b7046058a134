//! `SizeDist::from_file` of the `hercules` binary (`--sizes file:PATH`, whitespace- or comma-separated
//! query sizes), then a few samples.
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_fuzz::sizes::{SizeDist, MAX_SIZE, MIN_SIZE};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = hercules_fuzz::scratch_file("sizes.txt", data);
    match SizeDist::from_file(&path) {
        Err(e) => hercules_fuzz::one_line("SizeDist::from_file", &e),
        Ok(d) => {
            let s = d.sample(16, 7);
            assert!(s.iter().all(|&x| (MIN_SIZE..=MAX_SIZE).contains(&x)), "{s:?}");
        }
    }
});
