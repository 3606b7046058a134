//! The open-loop generator: a dedicated pinned thread that enqueues each query at its scheduled
//! time and never waits for the engine.
//!
//! It sleeps until `spin` before the scheduled time and then spins, because a plain sleep wakes
//! tens of microseconds late. The schedule error (actual minus scheduled enqueue time) is recorded
//! for every query, so a generator that could not keep up is visible in the report, and the
//! latency is measured from the *scheduled* time in any case.

use crate::engine::queue::TrialState;
use crate::engine::Queues;
use crate::latency::Histogram;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the generator did.
#[derive(Debug)]
pub struct GeneratorReport {
    /// Actual minus scheduled enqueue time, nanoseconds, for every query sent.
    pub schedule_error: Histogram,
    /// Whether the pin to the asked core took (`None`: not pinned).
    pub pinned: Option<Result<usize, String>>,
    /// Whether real-time scheduling was asked for and took (`None`: not asked).
    pub realtime: Option<Result<(), String>>,
    /// Each query's schedule error, ns (`u32::MAX`: not sent), when [`OpenLoop::keep_lateness`]
    /// asked for it.
    pub lateness_ns: Vec<u32>,
}

/// Everything the generator thread needs.
pub struct OpenLoop {
    /// Scheduled times, ns from the trial's start (already in `trial.scheduled_ns`).
    pub arrivals: Vec<u64>,
    /// Items per query.
    pub sizes: Vec<u32>,
    /// How long before each scheduled time to stop sleeping and start spinning.
    pub spin: Duration,
    /// Core to pin the generator to.
    pub core: Option<usize>,
    /// Run the generator under SCHED_FIFO so other processes on its core cannot delay it.
    pub realtime: bool,
    /// Also keep every query's schedule error (for per-window figures), in an array filled before
    /// the first arrival so that a long run's resident memory does not grow with it.
    pub keep_lateness: bool,
}

/// Puts the calling thread under SCHED_FIFO at a low real-time priority. The kernel's real-time
/// throttling (`sched_rt_runtime_us`) still leaves the core's other tasks a share.
pub fn make_realtime() -> Result<(), String> {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 10 };
        // SAFETY: pthread_self is always valid; param is a plain struct.
        let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
        if rc != 0 {
            return Err(format!("SCHED_FIFO refused: {}", std::io::Error::from_raw_os_error(rc)));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err("real-time scheduling is only implemented on Linux".into())
    }
}

/// Lowers this thread's timer slack to 1 ns so sleeps end when asked (default slack is 50 µs).
pub fn tight_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long and affects only the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// Waits until `target_ns` after `trial.t0`: sleep most of the way, spin the rest.
pub fn wait_until(trial: &TrialState, target_ns: u64, spin_ns: u64) {
    loop {
        let now = trial.now_ns();
        if now >= target_ns {
            return;
        }
        let left = target_ns - now;
        if left > spin_ns {
            std::thread::sleep(Duration::from_nanos(left - spin_ns));
        } else {
            std::hint::spin_loop();
        }
    }
}

impl OpenLoop {
    /// Runs the generator on the calling thread until every query is sent or `stop` is set.
    /// `sent` counts queries as they go out, for the trial's monitor.
    pub fn run(
        self,
        trial: &Arc<TrialState>,
        queues: &Queues,
        stop: &AtomicBool,
        sent: &AtomicUsize,
    ) -> GeneratorReport {
        let pinned =
            self.core.map(|c| hercules_kernels::pool::pin_current(c).map(|()| c).map_err(|e| e.to_string()));
        let realtime = self.realtime.then(make_realtime);
        tight_timer_slack();
        let spin_ns = self.spin.as_nanos() as u64;
        let mut err = Histogram::new();
        let mut lateness_ns =
            if self.keep_lateness { vec![u32::MAX; self.arrivals.len()] } else { Vec::new() };
        for (q, (&at, &size)) in self.arrivals.iter().zip(&self.sizes).enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            wait_until(trial, at, spin_ns);
            let late = trial.now_ns().saturating_sub(at);
            err.record(late);
            if let Some(l) = lateness_ns.get_mut(q) {
                *l = late.min(u64::from(u32::MAX - 1)) as u32;
            }
            queues.enqueue(trial, q, size);
            sent.store(q + 1, Ordering::Release);
        }
        GeneratorReport { schedule_error: err, pinned, realtime, lateness_ns }
    }
}
