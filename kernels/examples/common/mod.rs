//! Timing shared by the probes.

use std::time::Instant;

/// Seconds of `a` and `b`, alternating over 21 rounds (this guest's speed drifts within a
/// run): the median of each and the median of the per-round ratios b / a.
pub fn alternate(mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64, f64) {
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    };
    a();
    b();
    let runs: Vec<(f64, f64)> = (0..21).map(|_| (time(&mut a), time(&mut b))).collect();
    let med = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (
        med(runs.iter().map(|r| r.0).collect()),
        med(runs.iter().map(|r| r.1).collect()),
        med(runs.iter().map(|r| r.1 / r.0).collect()),
    )
}
