//! The shared queue between the load generator and the instances, and the per-trial state every
//! sub-batch points back to.
//!
//! The queue is an unbounded crossbeam MPMC channel: the generator's `send` never blocks, so an
//! overloaded engine shows up as queueing latency rather than as a generator that slows down
//! (which would hide the overload: coordinated omission).

use crossbeam_channel::Sender;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One piece of one query, waiting for an instance.
#[derive(Debug)]
pub struct SubBatch {
    /// The trial the query belongs to.
    pub trial: Arc<TrialState>,
    /// The query's index in the trial.
    pub query: u32,
    /// Items in this piece.
    pub size: u32,
}

/// Sentinel for "not done yet" in [`TrialState::done_ns`].
pub const NOT_DONE: u64 = u64::MAX;

/// What one trial's queries share: their scheduled times, completion times and live counts.
///
/// Times are nanoseconds since `t0`. Every slot is written by one thread before it is read by
/// another across the channel or a join, so relaxed atomics suffice.
#[derive(Debug)]
pub struct TrialState {
    /// Trial start: the zero of every time below.
    pub t0: Instant,
    /// Scheduled arrival of each query (open loop: precomputed; closed loop: issue time).
    pub scheduled_ns: Vec<AtomicU64>,
    /// Completion of each query's last sub-batch, or [`NOT_DONE`].
    pub done_ns: Vec<AtomicU64>,
    /// Sub-batches of each query still to finish.
    pub remaining: Vec<AtomicU32>,
    /// Queries scheduled before this time are warm-up: run but not measured.
    pub warmup_ns: u64,
    /// Latency above which a measured query counts against the SLA (`u64::MAX`: no SLA).
    pub target_ns: u64,
    /// Measured queries finished.
    pub completed: AtomicUsize,
    /// Measured queries finished over `target_ns`.
    pub over: AtomicUsize,
    /// Sub-batches enqueued and not yet taken off the queue and finished (or dropped).
    pub inflight: AtomicUsize,
    /// Sub-batches the instances ran.
    pub sub_batches_run: AtomicU64,
    /// Queries sent to the GPU lane.
    pub offloaded: AtomicUsize,
    /// Set to make instances drop this trial's remaining sub-batches unrun.
    pub abort: AtomicBool,
    /// The first model error, if any (the trial is aborted with it).
    pub error: Mutex<Option<String>>,
    /// Closed loop: told the index of every finished query so the next can be issued.
    pub notify: Option<Sender<u32>>,
}

impl TrialState {
    /// State for up to `capacity` queries.
    pub fn new(capacity: usize, warmup_ns: u64, target_ns: u64, notify: Option<Sender<u32>>) -> Self {
        let scheduled_ns: Vec<AtomicU64> = (0..capacity).map(|_| AtomicU64::new(0)).collect();
        let done_ns = (0..capacity).map(|_| AtomicU64::new(NOT_DONE)).collect();
        let remaining: Vec<AtomicU32> = (0..capacity).map(|_| AtomicU32::new(0)).collect();
        // Zero-filled vectors may come from calloc, their pages mapped only when first written:
        // write them now, so page faults land here and not inside a trial (and a long trial's
        // resident memory does not grow with the queries it has seen).
        for (s, r) in scheduled_ns.iter().zip(&remaining) {
            s.store(0, Ordering::Relaxed);
            r.store(0, Ordering::Relaxed);
        }
        Self {
            // Taken after the allocations above so they do not eat into the first arrivals.
            t0: Instant::now(),
            scheduled_ns,
            done_ns,
            remaining,
            warmup_ns,
            target_ns,
            completed: AtomicUsize::new(0),
            over: AtomicUsize::new(0),
            inflight: AtomicUsize::new(0),
            sub_batches_run: AtomicU64::new(0),
            offloaded: AtomicUsize::new(0),
            abort: AtomicBool::new(false),
            error: Mutex::new(None),
            notify,
        }
    }

    /// Nanoseconds since `t0`.
    pub fn now_ns(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }

    /// Records that one sub-batch of `query` finished (or was dropped, `ran == false`).
    pub fn finish_sub_batch(&self, query: u32, ran: bool) {
        let q = query as usize;
        if ran {
            self.sub_batches_run.fetch_add(1, Ordering::Relaxed);
            // AcqRel: the last finisher must see the other pieces' work as done.
            if self.remaining[q].fetch_sub(1, Ordering::AcqRel) == 1 {
                let now = self.now_ns();
                self.done_ns[q].store(now, Ordering::Release);
                let sched = self.scheduled_ns[q].load(Ordering::Relaxed);
                if sched >= self.warmup_ns {
                    self.completed.fetch_add(1, Ordering::Relaxed);
                    if now.saturating_sub(sched) > self.target_ns {
                        self.over.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if let Some(n) = &self.notify {
                    // The closed-loop issuer may already have stopped listening: that is fine.
                    let _ = n.send(query);
                }
            }
        }
        self.inflight.fetch_sub(1, Ordering::Release);
    }

    /// Stops the trial with a model error (the first one wins).
    pub fn fail(&self, why: String) {
        let mut e = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if e.is_none() {
            *e = Some(why);
        }
        self.abort.store(true, Ordering::Release);
    }
}
