//! The serving engine: model instances pinned to a schedule's cores, fed sub-batches from one
//! shared queue (SPEC §4–§5).
//!
//! `schedule` parses and places schedules, `queue` holds the queue item and per-trial state,
//! `worker` runs one instance, `trial` drives one load point and measures it.

pub mod queue;
pub mod schedule;
pub mod trial;
pub mod worker;
pub mod zoo;

use crossbeam_channel::Sender;
use queue::SubBatch;
use schedule::Schedule;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why the engine could not start or a trial could not run.
#[derive(Debug, Error)]
pub enum EngineError {
    /// An instance could not be pinned or built.
    #[error("engine start: {0}")]
    Start(String),
    /// The schedule asks for something this build cannot do yet.
    #[error("schedule {0}")]
    Unsupported(String),
    /// The model failed while serving.
    #[error("model failed: {0}")]
    Model(String),
    /// The engine did not drain its queue in time after a trial.
    #[error("engine did not drain: {0}")]
    Stuck(String),
}

/// How instances hold the model's weights; recorded in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightSharing {
    /// One read-only copy shared by every instance (what a server does for static weights).
    Shared,
    /// Each instance holds its own copy (e.g. to keep it on the instance's NUMA node).
    // Chosen by zoo models that replicate weights per node; the built-in test models share.
    #[allow(dead_code)]
    PerInstance,
}

/// A model the engine can serve. Implemented for the zoo's models by the binary; the weights live in
/// `self` (shared by every instance), per-instance state (workspace, input pool cursor, thread pool)
/// in `Worker`.
pub trait Servable: Send + Sync + 'static {
    /// Per-instance state, built on the instance's own pinned thread.
    type Worker: Send;
    /// Builds one instance's state for these cores, on the instance's thread (already pinned to
    /// exactly `cores`). Intra-op threads must run there: `PinnedPool::new(cores)` does, and
    /// verifies the pins.
    fn worker(&self, cores: &[usize], inter_op: bool) -> anyhow::Result<Self::Worker>;
    /// One forward pass over a sub-batch of `batch` items.
    fn run(&self, w: &mut Self::Worker, batch: usize) -> anyhow::Result<()>;
    /// Whether instances share one copy of the weights.
    fn weight_sharing(&self) -> WeightSharing {
        WeightSharing::Shared
    }
}

/// A running instance with its model bound: what the engine calls per sub-batch.
pub trait Instance: Send {
    /// One forward pass over `batch` items.
    fn run(&mut self, batch: usize) -> anyhow::Result<()>;
}

/// Object-safe face of [`Servable`], so the command line can pick a model at run time.
pub trait Model: Send + Sync {
    /// Builds one instance on `cores`.
    fn instance(self: Arc<Self>, cores: &[usize], inter_op: bool) -> anyhow::Result<Box<dyn Instance>>;
    /// Whether instances share one copy of the weights.
    fn sharing(&self) -> WeightSharing;
}

struct Bound<S: Servable> {
    model: Arc<S>,
    worker: S::Worker,
}

impl<S: Servable> Instance for Bound<S> {
    fn run(&mut self, batch: usize) -> anyhow::Result<()> {
        self.model.run(&mut self.worker, batch)
    }
}

impl<S: Servable> Model for S {
    fn instance(self: Arc<Self>, cores: &[usize], inter_op: bool) -> anyhow::Result<Box<dyn Instance>> {
        let worker = self.worker(cores, inter_op)?;
        Ok(Box::new(Bound { model: self, worker }))
    }

    fn sharing(&self) -> WeightSharing {
        self.weight_sharing()
    }
}

/// Does nothing per sub-batch: measures the harness's own overhead.
#[derive(Debug, Default)]
pub struct Noop;

impl Servable for Noop {
    type Worker = ();
    fn worker(&self, _: &[usize], _: bool) -> anyhow::Result<()> {
        Ok(())
    }
    fn run(&self, _: &mut (), batch: usize) -> anyhow::Result<()> {
        std::hint::black_box(batch);
        Ok(())
    }
}

/// Fails (`Err`) or panics on every sub-batch: tests that a broken model ends a trial with its
/// error instead of hanging it.
#[cfg(test)]
#[derive(Debug)]
pub struct Broken {
    /// Panic instead of returning an error.
    pub panic: bool,
}

#[cfg(test)]
impl Servable for Broken {
    type Worker = ();
    fn worker(&self, _: &[usize], _: bool) -> anyhow::Result<()> {
        Ok(())
    }
    fn run(&self, _: &mut (), batch: usize) -> anyhow::Result<()> {
        if self.panic {
            panic!("index out of bounds in a {batch}-item batch");
        }
        anyhow::bail!("weights missing")
    }
}

/// Busy-waits a fixed time per sub-batch (a CPU-bound stand-in with a known service time), and can
/// stall once, for a known time, at a given sub-batch (the coordinated-omission test).
#[derive(Debug)]
pub struct Delay {
    /// Busy time per sub-batch.
    pub per_sub_batch: Duration,
    /// `(n, d)`: the `n`-th sub-batch run (0-based, over all instances) first sleeps `d`.
    pub stall: Option<(u64, Duration)>,
    runs: AtomicU64,
}

impl Delay {
    /// A model that busy-waits `per_sub_batch` and never stalls.
    pub fn new(per_sub_batch: Duration) -> Self {
        Self { per_sub_batch, stall: None, runs: AtomicU64::new(0) }
    }

    /// The same, stalling for `len` at sub-batch number `at`.
    #[cfg_attr(not(test), allow(dead_code))] // the coordinated-omission test's model
    pub fn with_stall(per_sub_batch: Duration, at: u64, len: Duration) -> Self {
        Self { per_sub_batch, stall: Some((at, len)), runs: AtomicU64::new(0) }
    }
}

impl Servable for Delay {
    type Worker = ();
    fn worker(&self, _: &[usize], _: bool) -> anyhow::Result<()> {
        Ok(())
    }
    fn run(&self, _: &mut (), _batch: usize) -> anyhow::Result<()> {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        if let Some((at, len)) = self.stall {
            if n == at {
                std::thread::sleep(len);
            }
        }
        if !self.per_sub_batch.is_zero() {
            let end = Instant::now() + self.per_sub_batch;
            while Instant::now() < end {
                std::hint::spin_loop();
            }
        }
        Ok(())
    }
}

/// The built-in test models' names, for error messages.
pub const BUILTIN_MODELS: &[&str] = &["noop", "sleep:<micros>"];

/// A built-in model by name: `noop` or `sleep:<micros>` (busy-waits that long per sub-batch).
/// `None` when the name is not a built-in; `Some(Err)` when it is but its argument is bad.
pub fn builtin(name: &str) -> Option<Result<Arc<dyn Model>, String>> {
    if name == "noop" {
        return Some(Ok(Arc::new(Noop)));
    }
    let micros = name.strip_prefix("sleep:")?;
    Some(
        micros
            .parse::<f64>()
            .ok()
            .filter(|m| m.is_finite() && *m >= 0.0)
            .map(|m| Arc::new(Delay::new(Duration::from_secs_f64(m * 1e-6))) as Arc<dyn Model>)
            .ok_or_else(|| {
                format!("model `{name}`: `{micros}` is not a non-negative number of microseconds")
            }),
    )
}

/// Instances running on their cores, all reading one queue.
pub struct Engine {
    queue: Option<Sender<SubBatch>>,
    handles: Vec<JoinHandle<()>>,
    schedule: Schedule,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("schedule", &self.schedule.to_string()).finish()
    }
}

impl Engine {
    /// Starts one pinned instance per `schedule` entry (the schedule must be placed).
    pub fn start(model: Arc<dyn Model>, schedule: &Schedule) -> Result<Self, EngineError> {
        if let Some(t) = schedule.gpu_threshold {
            return Err(EngineError::Unsupported(format!(
                "gpu-threshold={t}: this build has no GPU serving path yet (drop gpu-threshold)"
            )));
        }
        if schedule.cores.len() != schedule.cores_needed() {
            return Err(EngineError::Start("schedule is not placed on cores".into()));
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut engine = Self { queue: Some(tx), handles: Vec::new(), schedule: schedule.clone() };
        for i in 0..schedule.instances {
            // On failure `engine` drops here, closing the queue so started instances exit.
            let h = worker::spawn(
                i,
                schedule.instance_cores(i).to_vec(),
                schedule.inter_op,
                model.clone(),
                rx.clone(),
            )?;
            engine.handles.push(h);
        }
        Ok(engine)
    }

    /// The queue's sending side.
    pub fn sender(&self) -> Sender<SubBatch> {
        self.queue.clone().expect("queue open while the engine lives")
    }

    /// The schedule it runs.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Closing the queue ends every instance loop once the queue is empty.
        self.queue = None;
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_models_parse() {
        assert!(builtin("noop").unwrap().is_ok());
        assert!(builtin("sleep:250").unwrap().is_ok());
        assert!(builtin("sleep:x").unwrap().err().unwrap().contains("sleep:x"));
        assert!(builtin("dlrm-rmc1").is_none());
    }

    #[test]
    fn a_failing_or_panicking_model_ends_the_trial_with_its_error() {
        use std::sync::atomic::AtomicBool;
        for panic in [false, true] {
            let mut s: Schedule = "instances=1,threads=1".parse().unwrap();
            let allowed = hercules_kernels::pool::allowed_cores();
            s.place(&allowed, &allowed).unwrap();
            let e = Engine::start(Arc::new(Broken { panic }), &s).unwrap();
            let spec = trial::TrialSpec {
                load: trial::Load::Open { qps: 200.0 },
                warmup: Duration::ZERO,
                duration: Duration::from_millis(300),
                ..trial::TrialSpec::default()
            };
            let t = Instant::now();
            let err = trial::run(&e, &spec, &AtomicBool::new(false)).unwrap_err().to_string();
            let want = if panic { "panicked: index out of bounds" } else { "weights missing" };
            assert!(err.contains(want) && err.contains("instance 0"), "{err}");
            assert!(t.elapsed() < Duration::from_secs(5));
        }
    }

    #[test]
    fn engine_refuses_gpu_threshold_for_now() {
        let mut s: Schedule = "gpu-threshold=128".parse().unwrap();
        let allowed = hercules_kernels::pool::allowed_cores();
        s.place(&allowed, &allowed).unwrap();
        let e = Engine::start(Arc::new(Noop), &s).unwrap_err().to_string();
        assert!(e.contains("gpu-threshold"), "{e}");
    }
}
