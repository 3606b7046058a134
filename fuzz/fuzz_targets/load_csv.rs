//! `read_trace` (the analysis's `slot,model,qps` CSV load trace). The first byte picks the slot length,
//! out-of-range ones included.
#![no_main]
hercules_fuzz::bounded_alloc!();

const SLOT_MINUTES: [f64; 8] = [60.0, 1.0, 15.0, 1440.0, 0.0, -1.0, f64::NAN, 1e-9];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let minutes = SLOT_MINUTES[usize::from(first) % SLOT_MINUTES.len()];
    let path = hercules_fuzz::scratch_file("load.csv", rest);
    match hercules_analysis::load::read_trace(&path, minutes) {
        Err(e) => hercules_fuzz::one_line("read_trace", &e),
        Ok(load) => {
            assert!(!load.qps.is_empty());
            assert!(load.qps.iter().all(|row| row.len() == load.models.len()));
        }
    }
});
