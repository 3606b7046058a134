//! A model of the zoo served by the engine: weights built once and shared read-only by every instance
//! (as a server process would), inputs pre-generated per instance so generation is never timed.

use super::{Model as EngineModel, Servable};
use hercules_kernels::PinnedPool;
use hercules_models::{ForwardOpts, IndexDist, InputPool, InputSet, Model, Scale, WeightSource, Workspace};
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

/// One instance's state.
pub struct ZooWorker {
    ws: Workspace,
    pool: Option<PinnedPool>,
    inputs: InputPool,
    /// Where the next sub-batch's samples start in the current set.
    cursor: usize,
    window: InputSet,
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
        eprintln!(
            "{}: built in {:.1} s, {:.2} GiB of tables (rows scale {rows_scale})",
            spec.name,
            t.elapsed().as_secs_f64(),
            model.table_bytes() as f64 / f64::from(1u32 << 30)
        );
        Ok(Arc::new(Self { model, seed }))
    }
}

impl Servable for ZooModel {
    type Worker = ZooWorker;

    fn worker(&self, cores: &[usize], inter_op: bool) -> anyhow::Result<ZooWorker> {
        let pool = if cores.len() > 1 { Some(PinnedPool::new(cores)?) } else { None };
        let seed = self.seed ^ ((cores.first().copied().unwrap_or(0) as u64 + 1) << 32);
        Ok(ZooWorker {
            ws: Workspace::new(&self.model, MAX_BATCH, cores.len()),
            pool,
            inputs: InputPool::new(&self.model.spec, MAX_BATCH, INPUT_SETS, IndexDist::Uniform, seed)?,
            cursor: 0,
            window: InputSet { batch: 0, dense: Vec::new(), tables: Vec::new() },
            out: vec![0.0; MAX_BATCH * self.model.output_width()],
            opts: ForwardOpts { inter_op },
        })
    }

    fn run(&self, w: &mut ZooWorker, batch: usize) -> anyhow::Result<()> {
        let batch = batch.clamp(1, MAX_BATCH);
        if w.cursor + batch > MAX_BATCH {
            w.inputs.next();
            w.cursor = 0;
        }
        let set = w.inputs.current();
        set.window_into(w.cursor, batch, self.model.spec.dense_features, &mut w.window);
        w.cursor += batch;
        self.model.forward(&mut w.ws, &w.window, w.pool.as_ref(), w.opts, None, &mut w.out)?;
        Ok(())
    }
}
