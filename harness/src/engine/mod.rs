//! The serving engine: model instances pinned to a schedule's cores, fed sub-batches from one
//! shared queue (SPEC §4–§5).
//!
//! `schedule` parses and places schedules, `queue` holds the queue item and per-trial state,
//! `worker` runs one instance; `serve::trial` drives one load point and measures it.

pub mod queue;
pub mod schedule;
pub mod worker;
pub mod zoo;

use crossbeam_channel::Sender;
use hercules_kernels::embedding::PrefetchTuning;
use queue::{SubBatch, TrialState};
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
    /// The embedding prefetch the model chose at build, if it did.
    fn prefetch(&self) -> Option<PrefetchTuning> {
        None
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
    /// The embedding prefetch the model chose at build, if it did.
    fn embedding_prefetch(&self) -> Option<PrefetchTuning>;
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

    fn embedding_prefetch(&self) -> Option<PrefetchTuning> {
        self.prefetch()
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

/// The eight DeepRecSys models `profile --all` and `campaign --all` run.
pub const DEEPRECSYS: &[&str] =
    &["dlrm-rmc1", "dlrm-rmc2", "dlrm-rmc3", "wnd", "mt-wnd", "ncf", "din", "dien"];

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
            .filter(|m| m.is_finite() && *m >= 0.0 && *m <= crate::limits::MAX_SLEEP_US)
            .map(|m| Arc::new(Delay::new(Duration::from_secs_f64(m * 1e-6))) as Arc<dyn Model>)
            .ok_or_else(|| {
                format!(
                    "model `{name}`: `{micros}` is not a number of microseconds from 0 to {:.0e}",
                    crate::limits::MAX_SLEEP_US
                )
            }),
    )
}

/// Largest piece the GPU lane is handed: offloaded queries are not split into sub-batches (a GPU wants
/// the whole query), only cut to the lane's batch capacity.
pub const GPU_MAX_BATCH: usize = 1024;

/// Where the generators send a query's pieces: the CPU instances' queue, split into the schedule's
/// sub-batches, or, for queries at or above the offload threshold, the GPU lane's queue.
#[derive(Debug, Clone)]
pub struct Queues {
    cpu: Sender<SubBatch>,
    /// The GPU lane's queue and threshold, when the schedule offloads.
    gpu: Option<(Sender<SubBatch>, usize)>,
    sub_batch: Option<usize>,
}

impl Queues {
    /// Enqueues query `q` of `size` items as its pieces (the counts are set before any piece can
    /// be finished).
    pub fn enqueue(&self, trial: &Arc<TrialState>, q: usize, size: u32) {
        let (queue, piece) = match &self.gpu {
            Some((gpu, threshold)) if size as usize >= *threshold => {
                trial.offloaded.fetch_add(1, Ordering::Relaxed);
                (gpu, Some(GPU_MAX_BATCH))
            }
            _ => (&self.cpu, self.sub_batch),
        };
        let split = Schedule { sub_batch: piece, ..Schedule::default() };
        let pieces: Vec<usize> = split.split(size as usize).collect();
        trial.remaining[q].store(pieces.len() as u32, Ordering::Relaxed);
        trial.inflight.fetch_add(pieces.len(), Ordering::AcqRel);
        for p in pieces {
            // Unbounded channel: `send` never blocks; it fails only when every instance is gone.
            if queue.send(SubBatch { trial: trial.clone(), query: q as u32, size: p as u32 }).is_err() {
                trial.finish_sub_batch(q as u32, false);
            }
        }
    }
}

/// Instances running on their cores, all reading one queue, and the GPU lane's streams reading
/// another when the schedule offloads.
pub struct Engine {
    queues: Option<Queues>,
    handles: Vec<JoinHandle<()>>,
    schedule: Schedule,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("schedule", &self.schedule.to_string()).finish()
    }
}

impl Engine {
    /// Starts one pinned instance per `schedule` entry (the schedule must be placed), and, when it
    /// has a GPU threshold, `gpu_streams` (default 1) GPU-lane workers serving `gpu`, each with its
    /// own stream. A GPU worker's host thread is pinned to the schedule's cores: launching and waiting
    /// for GPU work is CPU time the schedule pays for.
    pub fn start(
        model: Arc<dyn Model>,
        gpu: Option<Arc<dyn Model>>,
        schedule: &Schedule,
    ) -> Result<Self, EngineError> {
        if schedule.cores.len() != schedule.cores_needed() {
            return Err(EngineError::Start("schedule is not placed on cores".into()));
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut queues = Queues { cpu: tx, gpu: None, sub_batch: schedule.sub_batch };
        let gpu_lane = match (schedule.gpu_threshold, gpu) {
            (None, _) => None,
            (Some(t), Some(g)) => {
                let (gtx, grx) = crossbeam_channel::unbounded();
                queues.gpu = Some((gtx, t.max(1)));
                Some((g, grx))
            }
            (Some(t), None) => {
                return Err(EngineError::Unsupported(format!(
                    "gpu-threshold={t}: no GPU model was given to serve offloaded queries"
                )))
            }
        };
        if schedule.gpu_streams.is_some() && schedule.gpu_threshold.is_none() {
            return Err(EngineError::Unsupported(
                "gpu-streams without gpu-threshold offloads nothing".into(),
            ));
        }
        let mut engine = Self { queues: Some(queues), handles: Vec::new(), schedule: schedule.clone() };
        for i in 0..schedule.instances {
            // On failure `engine` drops here, closing the queues so started workers exit.
            let h = worker::spawn(
                format!("instance {i}"),
                schedule.instance_cores(i).to_vec(),
                schedule.inter_op,
                model.clone(),
                rx.clone(),
            )?;
            engine.handles.push(h);
        }
        if let Some((g, grx)) = gpu_lane {
            for s in 0..schedule.gpu_streams.unwrap_or(1).max(1) {
                let h = worker::spawn(
                    format!("gpu stream {s}"),
                    schedule.cores.clone(),
                    false,
                    g.clone(),
                    grx.clone(),
                )?;
                engine.handles.push(h);
            }
        }
        Ok(engine)
    }

    /// Where queries go.
    pub fn queues(&self) -> &Queues {
        self.queues.as_ref().expect("queues open while the engine lives")
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Closing the queues ends every worker loop once its queue is empty.
        self.queues = None;
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
        for bad in ["sleep:1e300", "sleep:inf", "sleep:NaN", "sleep:-1"] {
            assert!(builtin(bad).unwrap().err().unwrap().contains("microseconds from 0"), "{bad}");
        }
        assert!(builtin("dlrm-rmc1").is_none());
    }

    #[test]
    fn gpu_threshold_needs_a_gpu_model() {
        let mut s: Schedule = "gpu-threshold=128".parse().unwrap();
        let allowed = hercules_kernels::pool::allowed_cores();
        s.place(&allowed, &allowed).unwrap();
        let e = Engine::start(Arc::new(Noop), None, &s).unwrap_err().to_string();
        assert!(e.contains("gpu-threshold=128"), "{e}");
    }

    /// Counts the items it is handed, so a test can see which lane served what.
    #[derive(Debug, Default)]
    struct Counting {
        items: AtomicU64,
        largest: AtomicU64,
    }

    impl Servable for Counting {
        type Worker = ();
        fn worker(&self, _: &[usize], _: bool) -> anyhow::Result<()> {
            Ok(())
        }
        fn run(&self, _: &mut (), batch: usize) -> anyhow::Result<()> {
            self.items.fetch_add(batch as u64, Ordering::Relaxed);
            self.largest.fetch_max(batch as u64, Ordering::Relaxed);
            Ok(())
        }
    }

    #[test]
    fn queries_at_or_above_the_threshold_go_whole_to_the_gpu_lane() {
        let mut s: Schedule =
            "instances=1,threads=1,sub-batch=16,gpu-threshold=100,gpu-streams=2".parse().unwrap();
        let allowed = hercules_kernels::pool::allowed_cores();
        s.place(&allowed, &allowed).unwrap();
        let (cpu, gpu) = (Arc::new(Counting::default()), Arc::new(Counting::default()));
        let e = Engine::start(cpu.clone(), Some(gpu.clone() as Arc<dyn Model>), &s).unwrap();
        let trial = Arc::new(TrialState::new(4, 0, u64::MAX, None));
        for (q, size) in [99u32, 100, 2500, 40].into_iter().enumerate() {
            e.queues().enqueue(&trial, q, size);
        }
        while trial.inflight.load(Ordering::Acquire) > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(cpu.items.load(Ordering::Relaxed), 99 + 40);
        assert_eq!(cpu.largest.load(Ordering::Relaxed), 16, "CPU queries are split into sub-batches");
        assert_eq!(gpu.items.load(Ordering::Relaxed), 100 + 2500);
        assert_eq!(
            gpu.largest.load(Ordering::Relaxed),
            GPU_MAX_BATCH as u64,
            "cut only to the lane's capacity"
        );
        assert_eq!(trial.offloaded.load(Ordering::Relaxed), 2);
        // 99 → 7 pieces of ≤16, 100 → 1, 2500 → 3 pieces of ≤1024, 40 → 3.
        assert_eq!(trial.sub_batches_run.load(Ordering::Relaxed), 7 + 1 + 3 + 3);
        assert!((0..4).all(|q| trial.done_ns[q].load(Ordering::Relaxed) != queue::NOT_DONE));
    }

    #[test]
    fn gpu_streams_without_a_threshold_is_refused() {
        let mut s: Schedule = "gpu-streams=2".parse().unwrap();
        let allowed = hercules_kernels::pool::allowed_cores();
        s.place(&allowed, &allowed).unwrap();
        let e = Engine::start(Arc::new(Noop), None, &s).unwrap_err().to_string();
        assert!(e.contains("gpu-streams"), "{e}");
    }
}
