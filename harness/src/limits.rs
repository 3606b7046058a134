//! Resource bounds the harness checks before it allocates or starts a run, stated in one place.
//! Each is far above what a real measurement needs and far below what would exhaust the machine.

use std::time::Duration;

/// Most query arrivals one trial may schedule (warm-up included): they are precomputed, 8 bytes
/// each, plus a record per query.
pub const MAX_ARRIVALS: f64 = 50e6;

/// Highest offered rate, queries per second.
pub const MAX_QPS: f64 = 10e6;

/// Lowest offered rate, queries per second (below it a trial would see no query).
pub const MIN_QPS: f64 = 1e-3;

/// Longest duration any flag accepts (a run, a trial, a warm-up, a time budget).
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Largest query-size file read, bytes.
pub const MAX_SIZES_FILE_BYTES: u64 = 64 << 20;

/// Shortest window of a windowed (soak) run.
pub const MIN_WINDOW: Duration = Duration::from_secs(1);

/// Most windows one run reports.
pub const MAX_WINDOWS: usize = 10_000;

/// Highest server power any flag accepts, watts.
pub const MAX_WATTS: f64 = 100e3;

/// Most queries a closed loop keeps in flight.
pub const MAX_CONCURRENCY: usize = 100_000;

/// Longest per-sub-batch busy time of the `sleep:<micros>` test model, microseconds.
pub const MAX_SLEEP_US: f64 = 60e6;

/// Most bytes one `hercules kernels` operand set may take (MLP weights, inputs and outputs).
pub const MAX_KERNEL_BYTES: u64 = 8 << 30;

/// Most repeated trials of one latency-bounded-throughput measurement.
pub const MAX_REPEATS: usize = 1000;

/// Fails when an open loop at `qps` over `span` would schedule more than [`MAX_ARRIVALS`].
pub fn check_arrivals(qps: f64, span: Duration) -> Result<(), String> {
    let n = qps * span.as_secs_f64();
    if n > MAX_ARRIVALS {
        return Err(format!(
            "{qps} QPS over {:.1} s would schedule {n:.3e} arrivals, over the harness's bound of {MAX_ARRIVALS:.0e}: \
             lower the rate or shorten the trial",
            span.as_secs_f64()
        ));
    }
    Ok(())
}
