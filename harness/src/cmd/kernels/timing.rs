//! Timing loops: each repeat runs the operation enough times to last a minimum duration.

use std::time::{Duration, Instant};

/// Seconds per call of `f`, one entry per repeat, after one warm-up call. Each repeat runs `f` at
/// least once and until `min_repeat` has passed, so short calls are not dominated by timer cost.
pub fn time_calls(repeats: usize, min_repeat: Duration, mut f: impl FnMut()) -> Vec<f64> {
    f();
    // Calibrate calls per repeat from one timed call.
    let t = Instant::now();
    f();
    let one = t.elapsed().max(Duration::from_nanos(50));
    let calls = (min_repeat.as_secs_f64() / one.as_secs_f64()).ceil().max(1.0) as u64;
    (0..repeats)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed().as_secs_f64() / calls as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_and_calls() {
        let mut n = 0u64;
        let t = time_calls(3, Duration::from_millis(1), || n += 1);
        assert_eq!(t.len(), 3);
        assert!(n >= 5, "{n}");
    }
}
