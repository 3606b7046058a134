//! `Schedule::from_str` (`--schedule instances=2,threads=1,...`, and schedules copied from results),
//! then its label, its round trip through `Display`, placement and sub-batch splitting.
#![no_main]
hercules_fuzz::bounded_alloc!();

use hercules_results::Schedule;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(text) = hercules_fuzz::text(data) else { return };
    let mut s = match text.parse::<Schedule>() {
        Err(e) => return hercules_fuzz::one_line("Schedule::from_str", &e),
        Ok(s) => s,
    };
    let _ = s.label();
    let shown = s.to_string();
    let again: Schedule = shown.parse().unwrap_or_else(|e| panic!("`{shown}` does not parse back: {e}"));
    assert_eq!(again, s, "`{shown}` parses back to another schedule");
    let _ = s.cores_needed();
    for n in [0usize, 1, 7, 1024] {
        let parts: Vec<usize> = s.split(n).collect();
        assert_eq!(parts.iter().sum::<usize>(), n, "split({n}) of `{shown}` loses items");
    }
    let allowed: Vec<usize> = (0..8).collect();
    match s.place(&allowed, &allowed) {
        Err(e) => hercules_fuzz::one_line("Schedule::place", &e),
        Ok(()) => {
            for i in 0..s.instances {
                assert_eq!(s.instance_cores(i).len(), s.threads_per_instance);
            }
        }
    }
});
