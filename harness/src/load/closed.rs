//! The closed loop: a fixed number of queries in flight, each finished query immediately replaced.
//! It measures saturation throughput (there is no schedule to fall behind, so latency here is
//! service plus queueing among the in-flight queries only).

use crate::engine::queue::TrialState;
use crate::engine::Queues;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A closed loop of `concurrency` queries.
pub struct ClosedLoop {
    /// Queries kept in flight.
    pub concurrency: usize,
    /// Items per query, in issue order (its length caps the queries issued).
    pub sizes: Vec<u32>,
    /// Stop issuing after this long from the trial's start.
    pub horizon_ns: u64,
    /// Core to pin the issuing thread to.
    pub core: Option<usize>,
}

impl ClosedLoop {
    /// Issues queries until the horizon, the size list or `stop` runs out; returns how many.
    pub fn run(
        self,
        trial: &Arc<TrialState>,
        queues: &Queues,
        done: &Receiver<u32>,
        stop: &AtomicBool,
        sent: &AtomicUsize,
    ) -> usize {
        if let Some(c) = self.core {
            // Best effort: the closed loop has no schedule error to protect.
            let _ = hercules_kernels::pool::pin_current(c);
        }
        let mut n = 0;
        let issue = |n: &mut usize| {
            let q = *n;
            trial.scheduled_ns[q].store(trial.now_ns(), Ordering::Relaxed);
            queues.enqueue(trial, q, self.sizes[q]);
            *n += 1;
            sent.store(*n, Ordering::Release);
        };
        while n < self.concurrency.min(self.sizes.len()) {
            issue(&mut n);
        }
        while n < self.sizes.len() && !stop.load(Ordering::Relaxed) && trial.now_ns() < self.horizon_ns {
            match done.recv_timeout(Duration::from_millis(20)) {
                Ok(_) => issue(&mut n),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        n
    }
}
