//! `read_load_toml` (the analysis's diurnal `load.toml`), which also generates the load.
#![no_main]
hercules_fuzz::bounded_alloc!();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = hercules_fuzz::scratch_file("load.toml", data);
    match hercules_analysis::load::read_load_toml(&path) {
        Err(e) => hercules_fuzz::one_line("read_load_toml", &e),
        Ok(load) => {
            assert_eq!(load.models.len(), load.qps.first().map_or(load.models.len(), Vec::len));
            assert!(
                load.qps.iter().flatten().all(|q| q.is_finite() && *q >= 0.0),
                "a load is negative or not finite"
            );
        }
    }
});
