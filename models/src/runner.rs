//! Closed-loop inference measurement of one model: forward passes back to back on inputs drawn from a
//! pre-generated pool, each timed; then a separate profiled pass for the time share per operator class
//! (so clock reads inside the forward pass never touch the timed runs).

use crate::error::Result;
use crate::forward::{ForwardOpts, Profile};
use crate::inputs::{IndexDist, InputPool, InputSet};
use crate::model::Model;
use crate::workspace::Workspace;
use hercules_kernels::PinnedPool;
use serde::Serialize;
use std::time::{Duration, Instant};

/// How to measure.
#[derive(Debug, Clone)]
pub struct InferConfig {
    /// Samples per forward pass.
    pub batch: usize,
    /// Worker threads (1 = the calling thread, pinned to the first usable core).
    pub threads: usize,
    /// Embeddings and bottom MLP at once.
    pub inter_op: bool,
    /// Untimed passes first.
    pub warmup: usize,
    /// Timed passes at least.
    pub min_iters: usize,
    /// And timed for at least this long.
    pub min_time: Duration,
    /// Pre-generated input sets to cycle through.
    pub pool_sets: usize,
    /// Index distribution.
    pub dist: IndexDist,
    /// Seed of the input generator.
    pub seed: u64,
    /// Profiled passes for the operator breakdown (0 = none).
    pub profile_iters: usize,
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

/// What a measurement found.
#[derive(Debug, Clone, Serialize)]
pub struct InferResult {
    /// Timed forward passes.
    pub forwards: usize,
    /// Per-pass latency.
    pub latency: Latency,
    /// batch × forwards / total timed seconds.
    pub samples_per_s: f64,
    /// Seconds per operator class over the profiled passes.
    pub profile: Profile,
}

/// Percentile `q` (0..=1) of sorted values, nearest rank.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Latency and throughput of passes timed back to back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timed {
    /// Timed passes.
    pub forwards: usize,
    /// Per-pass latency.
    pub latency: Latency,
    /// batch × forwards / total timed seconds.
    pub samples_per_s: f64,
}

/// Runs `pass` on the pool's inputs: `cfg.warmup` untimed, then timed until both `cfg.min_iters`
/// passes and `cfg.min_time` are reached. Any backend (the CPU model, the GPU runner) is timed alike.
pub fn timed_passes<E>(
    cfg: &InferConfig,
    inputs: &mut InputPool,
    mut pass: impl FnMut(&InputSet) -> std::result::Result<(), E>,
) -> std::result::Result<Timed, E> {
    for _ in 0..cfg.warmup {
        pass(inputs.next())?;
    }
    let mut lat = Vec::with_capacity(cfg.min_iters.max(1024));
    let start = Instant::now();
    while lat.len() < cfg.min_iters.max(1) || start.elapsed() < cfg.min_time {
        let input = inputs.next();
        let t = Instant::now();
        pass(input)?;
        lat.push(t.elapsed().as_secs_f64());
    }
    let total: f64 = lat.iter().sum();
    lat.sort_by(f64::total_cmp);
    let ms = |v: f64| v * 1e3;
    Ok(Timed {
        forwards: lat.len(),
        latency: Latency {
            p50_ms: ms(percentile(&lat, 0.50)),
            p95_ms: ms(percentile(&lat, 0.95)),
            p99_ms: ms(percentile(&lat, 0.99)),
            mean_ms: ms(total / lat.len() as f64),
        },
        samples_per_s: (cfg.batch * lat.len()) as f64 / total,
    })
}

/// Measures `model` under `cfg`.
pub fn measure(model: &Model, cfg: &InferConfig) -> Result<InferResult> {
    // The calling thread runs the passes as the pool's worker 0, pinned to its first core (with
    // one thread it is the only worker) until this returns.
    let pool = PinnedPool::with_threads(cfg.threads).map_err(crate::error::kernel("thread pool"))?;
    let _pinned = pool.enter().map_err(crate::error::kernel("pinning"))?;
    let pool = (cfg.threads > 1).then_some(pool);
    let mut inputs = InputPool::new(&model.spec, cfg.batch, cfg.pool_sets, cfg.dist.clone(), cfg.seed)?;
    let mut ws = Workspace::new(model, cfg.batch, cfg.threads);
    let mut out = vec![0.0f32; cfg.batch * model.output_width()];
    let opts = ForwardOpts { inter_op: cfg.inter_op };
    let timed = timed_passes(cfg, &mut inputs, |input| {
        model.forward(&mut ws, input, pool.as_ref(), opts, None, &mut out)
    })?;
    let mut profile = Profile::default();
    for _ in 0..cfg.profile_iters {
        model.forward(&mut ws, inputs.next(), pool.as_ref(), opts, Some(&mut profile), &mut out)?;
    }
    Ok(InferResult {
        forwards: timed.forwards,
        latency: timed.latency,
        samples_per_s: timed.samples_per_s,
        profile,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
