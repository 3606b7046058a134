//! A model of the zoo served by the engine: weights built once and shared read-only by every instance
//! (as a server process would), inputs pre-generated per instance so generation is never timed.
//! [`GpuZooModel`] is the same model (same seeded weights) on a CUDA device, for the GPU lane.

use super::{Model as EngineModel, Servable};
use hercules_gpu::{Device, GpuModel, GpuRunner};
use hercules_kernels::embedding::PrefetchTuning;
use hercules_kernels::pool::PinGuard;
use hercules_kernels::PinnedPool;
use hercules_models::{
    ForwardOpts, IndexDist, InputPool, InputSet, Model, ModelSpec, Scale, WeightSource, Workspace,
};
use std::sync::Arc;

/// Largest sub-batch the engine hands a model (query sizes are clipped to this).
const MAX_BATCH: usize = 1024;
/// Pre-generated sets of `MAX_BATCH` samples per instance: 16 × 1024 distinct samples, so the rows one
/// query gathers are not those the previous queries left in the cache.
const INPUT_SETS: usize = 16;

/// A built zoo model.
pub struct ZooModel {
    model: Model,
    seed: u64,
}

/// One worker's pre-generated inputs and the window the next sub-batch reads.
struct Inputs {
    pool: InputPool,
    /// Where the next sub-batch's samples start in the current set.
    cursor: usize,
    window: InputSet,
}

impl Inputs {
    fn new(spec: &ModelSpec, seed: u64) -> anyhow::Result<Self> {
        Ok(Self {
            pool: InputPool::new(spec, MAX_BATCH, INPUT_SETS, IndexDist::Uniform, seed)?,
            cursor: 0,
            window: InputSet { batch: 0, dense: Vec::new(), tables: Vec::new() },
        })
    }

    /// The next `batch` samples (moving to the next set when this one is used up).
    fn next(&mut self, batch: usize, dense_width: usize) -> &InputSet {
        if self.cursor + batch > MAX_BATCH {
            self.pool.next();
            self.cursor = 0;
        }
        self.pool.current().window_into(self.cursor, batch, dense_width, &mut self.window);
        self.cursor += batch;
        &self.window
    }
}

/// Seeds each worker's inputs differently (by its first core and lane), so instances do not gather
/// the same rows in lockstep.
fn worker_seed(seed: u64, cores: &[usize], lane: u64) -> u64 {
    seed ^ ((cores.first().copied().unwrap_or(0) as u64 + 1) << 32) ^ (lane << 48)
}

/// One instance's state.
pub struct ZooWorker {
    ws: Workspace,
    pool: Option<PinnedPool>,
    /// This (instance) thread's pin to the pool's first core, for the worker's life.
    _pinned: Option<PinGuard>,
    inputs: Inputs,
    out: Vec<f32>,
    opts: ForwardOpts,
}

impl ZooModel {
    /// Builds the zoo model (or spec file) `name` with rows scaled by `rows_scale`, seeded DeepRecSys weights.
    pub fn build(name: &str, rows_scale: f64, seed: u64) -> anyhow::Result<Arc<dyn EngineModel>> {
        let spec = hercules_models::zoo::resolve(name)?;
        let scale = Scale { rows_scale, max_rows: spec.default_max_rows };
        let t = std::time::Instant::now();
        let model = Model::build(
            &spec,
            scale,
            &WeightSource::Init { init: hercules_models::Init::DeepRecSys, seed },
        )?;
        let prefetch = model.prefetch.as_ref().map_or(String::new(), |p| format!(", embedding prefetch {p}"));
        eprintln!(
            "{}: built in {:.1} s, {:.2} GiB of tables (rows scale {rows_scale}){prefetch}",
            spec.name,
            t.elapsed().as_secs_f64(),
            model.table_bytes() as f64 / f64::from(1u32 << 30)
        );
        if let Some(w) = model.prefetch.as_ref().and_then(|p| p.warning.as_ref()) {
            eprintln!("warning: {w}");
        }
        Ok(Arc::new(Self { model, seed }))
    }
}

impl Servable for ZooModel {
    type Worker = ZooWorker;

    fn prefetch(&self) -> Option<PrefetchTuning> {
        self.model.prefetch.clone()
    }

    fn worker(&self, cores: &[usize], inter_op: bool) -> anyhow::Result<ZooWorker> {
        let (pool, pinned) = if cores.len() > 1 {
            // The instance thread (this one) drives the pool as its worker 0, on its first core.
            let pool = PinnedPool::new(cores)?;
            let pinned = pool.enter()?;
            (Some(pool), Some(pinned))
        } else {
            (None, None)
        };
        Ok(ZooWorker {
            _pinned: pinned,
            ws: Workspace::new(&self.model, MAX_BATCH, cores.len()),
            pool,
            inputs: Inputs::new(&self.model.spec, worker_seed(self.seed, cores, 0))?,
            out: vec![0.0; MAX_BATCH * self.model.output_width()],
            opts: ForwardOpts { inter_op },
        })
    }

    fn run(&self, w: &mut ZooWorker, batch: usize) -> anyhow::Result<()> {
        let batch = batch.clamp(1, MAX_BATCH);
        let input = w.inputs.next(batch, self.model.spec.dense_features);
        self.model.forward(&mut w.ws, input, w.pool.as_ref(), w.opts, None, &mut w.out)?;
        Ok(())
    }
}

/// A zoo model on a CUDA device: the GPU lane's model. Built from the same seeded weights as
/// [`ZooModel`], so either lane computes the same function.
pub struct GpuZooModel {
    dev: Device,
    model: Arc<GpuModel>,
    seed: u64,
}

/// One GPU-lane worker: its own stream (through its runner), inputs and output buffer.
pub struct GpuZooWorker {
    runner: GpuRunner,
    inputs: Inputs,
    out: Vec<f32>,
}

impl GpuZooModel {
    /// Opens CUDA device `ordinal` and uploads the zoo model (or spec file) `name` to it. Fails in one
    /// line ("no CUDA device: ...") on a machine without one.
    pub fn build(name: &str, rows_scale: f64, seed: u64, ordinal: usize) -> anyhow::Result<Arc<Self>> {
        let spec = hercules_models::zoo::resolve(name)?;
        let dev = Device::open(ordinal)?;
        let scale = Scale { rows_scale, max_rows: spec.default_max_rows };
        let t = std::time::Instant::now();
        let source = WeightSource::Init { init: hercules_models::Init::DeepRecSys, seed };
        let model = Arc::new(GpuModel::build(&dev, &spec, scale, &source)?);
        eprintln!(
            "{} on GPU {} ({}): built in {:.1} s, {:.2} GiB of tables",
            spec.name,
            ordinal,
            dev.info().name,
            t.elapsed().as_secs_f64(),
            model.table_bytes() as f64 / f64::from(1u32 << 30)
        );
        Ok(Arc::new(Self { dev, model, seed }))
    }

    /// The device's UUID (what NVML finds it by).
    pub fn uuid(&self) -> String {
        self.dev.info().uuid.clone()
    }

    /// The device, as recorded.
    pub fn device_name(&self) -> String {
        format!("{} (GPU {})", self.dev.info().name, self.dev.info().ordinal)
    }
}

impl Servable for GpuZooModel {
    type Worker = GpuZooWorker;

    fn worker(&self, cores: &[usize], _inter_op: bool) -> anyhow::Result<GpuZooWorker> {
        // Each GPU-lane worker is one stream; seed its inputs apart from the CPU instances' and the
        // other streams' (the lane's workers share their cores, so the core alone would not do).
        static NEXT_STREAM: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let lane = NEXT_STREAM.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut runner = self.model.runner(&self.dev, super::GPU_MAX_BATCH)?;
        // Small offloaded queries are launch-bound: replay CUDA graphs for them (a failed capture
        // switches graphs off and the runner carries on eagerly).
        runner.set_graphs(true);
        Ok(GpuZooWorker {
            runner,
            inputs: Inputs::new(&self.model.spec, worker_seed(self.seed, cores, lane))?,
            out: vec![0.0; super::GPU_MAX_BATCH * self.model.output_width()],
        })
    }

    fn run(&self, w: &mut GpuZooWorker, batch: usize) -> anyhow::Result<()> {
        let batch = batch.clamp(1, super::GPU_MAX_BATCH.min(MAX_BATCH));
        let input = w.inputs.next(batch, self.model.spec.dense_features);
        w.runner.forward(&self.dev, input, &mut w.out)?;
        Ok(())
    }
}
