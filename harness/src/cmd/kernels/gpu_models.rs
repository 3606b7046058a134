//! `hercules kernels --device cuda --op model`: whole models on CUDA device 0 (CUDA graphs off, and on
//! up to `--graph-max-batch`) against the same model with the same weights and inputs on this host's
//! pinned CPU cores, at each batch size: samples/s and where the GPU starts to win.

use crate::output::table::{num, Table};
use anyhow::{Context, Result};
use hercules_gpu::device::median;
use hercules_gpu::{Device, GpuModel};
use hercules_kernels::PinnedPool;
use hercules_models::inputs::{IndexDist, InputGen};
use hercules_models::{zoo, ForwardOpts, Init, Model, Scale, WeightSource, Workspace};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// The models measured when no `--model` is given: the DLRM-style ones of the paper's figures plus
/// every block kind.
pub const DEFAULT_MODELS: [&str; 7] = ["dlrm-rmc1", "dlrm-rmc3", "wnd", "dien", "din", "ncf", "mt-wnd"];
/// Batch sizes of the full sweep.
pub const BATCHES: [usize; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
/// Batch sizes of `--quick`.
pub const BATCHES_QUICK: [usize; 4] = [1, 4, 64, 512];

/// What to measure.
#[derive(Debug, Clone)]
pub struct SweepOpts {
    /// Zoo models or spec files.
    pub models: Vec<String>,
    /// Table rows scale.
    pub rows_scale: f64,
    /// Table row cap (default: each spec's own).
    pub max_rows: Option<u64>,
    /// Batch sizes, ascending.
    pub batches: Vec<usize>,
    /// Largest batch replayed as a CUDA graph.
    pub graph_max_batch: usize,
    /// Timed passes per batch and side (median reported).
    pub repeats: usize,
}

/// One batch size of one model.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// Samples per pass.
    pub batch: usize,
    /// GPU, eager launches: median seconds per pass, host copies included.
    pub gpu_seconds_median: f64,
    /// GPU, eager: samples/s at the median.
    pub gpu_samples_per_s: f64,
    /// GPU, CUDA graph replays (None above `graph_max_batch`).
    pub graph_seconds_median: Option<f64>,
    /// GPU, graphs: samples/s at the median.
    pub graph_samples_per_s: Option<f64>,
    /// Eager over graph time.
    pub graph_speedup: Option<f64>,
    /// CPU: median seconds per pass.
    pub cpu_seconds_median: f64,
    /// CPU: samples/s at the median.
    pub cpu_samples_per_s: f64,
}

impl SweepPoint {
    /// The point of batch `batch` from its median seconds per pass: eager GPU, graphed GPU (if
    /// replayed) and CPU; the rates and the graphs' speedup follow from them.
    fn new(batch: usize, gpu: f64, graph: Option<f64>, cpu: f64) -> Self {
        let per_s = |t: f64| batch as f64 / t;
        SweepPoint {
            batch,
            gpu_seconds_median: gpu,
            gpu_samples_per_s: per_s(gpu),
            graph_seconds_median: graph,
            graph_samples_per_s: graph.map(per_s),
            graph_speedup: graph.map(|t| gpu / t),
            cpu_seconds_median: cpu,
            cpu_samples_per_s: per_s(cpu),
        }
    }

    /// The GPU's best time, graphs or not.
    fn gpu_best(&self) -> f64 {
        self.graph_seconds_median.map_or(self.gpu_seconds_median, |g| g.min(self.gpu_seconds_median))
    }
}

/// One model's curve.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSweep {
    /// The model.
    pub model: String,
    /// Table rows scale.
    pub rows_scale: f64,
    /// Row cap applied.
    pub max_rows: Option<u64>,
    /// CPU worker threads (pinned).
    pub cpu_threads: usize,
    /// Bytes of tables on the device.
    pub gpu_table_bytes: usize,
    /// Largest batch replayed as a graph.
    pub graph_max_batch: usize,
    /// Why CUDA graphs were switched off, if they were (the graph columns are eager from there).
    pub graph_failure: Option<String>,
    /// One point per batch size.
    pub points: Vec<SweepPoint>,
    /// The smallest batch from which the GPU (graphs or not) is faster at every larger batch measured;
    /// None where the CPU keeps up at the largest.
    pub crossover_batch: Option<usize>,
}

/// The smallest batch from which the GPU was faster at every larger batch measured (one noisy CPU
/// point at a small batch must not make a crossover); `None` where the GPU is slower at the largest.
pub fn crossover(faster: &[(usize, bool)]) -> Option<usize> {
    let stays = faster.iter().rev().take_while(|(_, f)| *f).count();
    (stays > 0).then(|| faster[faster.len() - stays].0)
}

/// Measures one model: per batch, the GPU eager and graphed passes and the CPU pass alternate, after
/// two untimed rounds (the pool's threads wake, caches refill, the graph is captured).
pub fn sweep(dev: &Device, name: &str, o: &SweepOpts, pool: &PinnedPool) -> Result<ModelSweep> {
    let spec = zoo::resolve(name)?;
    let scale = Scale { rows_scale: o.rows_scale, max_rows: o.max_rows.or(spec.default_max_rows) };
    let source = WeightSource::Init { init: Init::DeepRecSys, seed: 1 };
    let gpu =
        Arc::new(GpuModel::build(dev, &spec, scale, &source).with_context(|| format!("{name} on the GPU"))?);
    let cpu = Model::build(&spec, scale, &source).with_context(|| format!("{name} on the CPU"))?;
    let maxb = o.batches.iter().copied().max().unwrap_or(1);
    let mut eager = gpu.runner(dev, maxb)?;
    let mut graphed = gpu.runner(dev, maxb)?;
    graphed.set_graphs(true);
    graphed.set_graph_limits(o.graph_max_batch, o.batches.len());
    let mut ws = Workspace::new(&cpu, maxb, pool.threads());
    let mut gen = InputGen::new(IndexDist::Uniform, 9);
    let mut points = Vec::new();
    for &b in &o.batches {
        let inputs: Vec<_> = (0..4).map(|_| gen.generate(&cpu.spec, b)).collect::<Result<_, _>>()?;
        let mut out = vec![0f32; b * gpu.output_width()];
        let use_graph = b <= o.graph_max_batch;
        let (mut tg, mut tgr, mut tc) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..o.repeats + 2 {
            let inp = &inputs[i % inputs.len()];
            let t0 = Instant::now();
            eager.forward(dev, inp, &mut out)?;
            let g = t0.elapsed().as_secs_f64();
            if use_graph {
                let t0 = Instant::now();
                graphed.forward(dev, inp, &mut out)?;
                tgr.push(t0.elapsed().as_secs_f64());
            }
            let t0 = Instant::now();
            cpu.forward(&mut ws, inp, Some(pool), ForwardOpts::default(), None, &mut out)?;
            let c = t0.elapsed().as_secs_f64();
            tg.push(g);
            tc.push(c);
        }
        // The first two rounds are the untimed ones (and the graph's first use and capture).
        let timed = |v: &[f64]| (v.len() > 2).then(|| median(&v[2..]));
        points.push(SweepPoint::new(
            b,
            timed(&tg).unwrap_or(f64::NAN),
            timed(&tgr),
            timed(&tc).unwrap_or(f64::NAN),
        ));
    }
    let faster: Vec<_> = points.iter().map(|p| (p.batch, p.gpu_best() < p.cpu_seconds_median)).collect();
    Ok(ModelSweep {
        model: name.to_string(),
        rows_scale: o.rows_scale,
        max_rows: scale.max_rows,
        cpu_threads: pool.threads(),
        gpu_table_bytes: gpu.table_bytes(),
        graph_max_batch: o.graph_max_batch,
        graph_failure: graphed.graph_failure().map(|s| s.to_string()),
        points,
        crossover_batch: crossover(&faster),
    })
}

/// One row per (model, batch).
pub fn table(sweeps: &[ModelSweep]) -> Table {
    let mut t = Table::new([
        "model",
        "batch",
        "gpu_ms",
        "gpu_samples/s",
        "graph_ms",
        "graph_samples/s",
        "cpu_ms",
        "cpu_samples/s",
        "best_gpu/cpu",
        "crossover",
    ]);
    for m in sweeps {
        for p in &m.points {
            t.push([
                m.model.clone(),
                p.batch.to_string(),
                num(Some(p.gpu_seconds_median * 1e3), 3),
                num(Some(p.gpu_samples_per_s), 0),
                num(p.graph_seconds_median.map(|s| s * 1e3), 3),
                num(p.graph_samples_per_s, 0),
                num(Some(p.cpu_seconds_median * 1e3), 3),
                num(Some(p.cpu_samples_per_s), 0),
                num(Some(p.cpu_seconds_median / p.gpu_best()), 2),
                m.crossover_batch.map_or("none".into(), |b| b.to_string()),
            ]);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossover_is_where_the_gpu_stays_faster() {
        assert_eq!(crossover(&[(1, false), (4, true), (16, false), (64, true), (256, true)]), Some(64));
        assert_eq!(crossover(&[(1, true), (4, true)]), Some(1));
        assert_eq!(crossover(&[(1, true), (4, false)]), None);
        assert_eq!(crossover(&[]), None);
    }

    #[test]
    fn the_table_has_a_row_per_point_and_takes_the_best_gpu_side() {
        let p = SweepPoint::new;
        let m = ModelSweep {
            model: "wnd".into(),
            rows_scale: 1.0,
            max_rows: None,
            cpu_threads: 2,
            gpu_table_bytes: 1,
            graph_max_batch: 256,
            graph_failure: None,
            points: vec![p(1, 2e-3, Some(1e-3), 4e-3), p(512, 1e-3, None, 1e-3)],
            crossover_batch: None,
        };
        assert_eq!(m.points[0].gpu_best(), 1e-3);
        let csv = table(&[m]).to_csv();
        assert_eq!(csv.lines().count(), 3, "{csv}");
        // batch 1: the graph's 1 ms against the CPU's 4 ms.
        assert!(csv.lines().nth(1).unwrap().contains(",4.00,"), "{csv}");
    }
}
