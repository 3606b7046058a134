//! DLRM dot-interaction benchmarks: ours (pairs on or below the diagonal in 4 × 4 blocks) beside the
//! `gemm` crate computing each sample's whole Gram matrix, as PyTorch's reference does with bmm.
//! Samples are split over the pool's workers for both.

use super::{peer, record, with_gflops, Ctx, KernelsArgs};
use anyhow::{Context, Result};
use hercules_kernels::interaction::DotInteraction;
use hercules_kernels::pool::split_range;
use hercules_results::KernelRecord;
use std::sync::Mutex;

/// MLPerf DLRM v1's interaction: 27 features (the bottom MLP's output and 26 tables) of 128.
const FEATURES: usize = 27;
const DIM: usize = 128;

/// Runs the interaction benchmarks: batches of 16 samples (in L2) and 1024 (14 MB of features).
pub fn run(ctx: &Ctx, args: &KernelsArgs) -> Result<Vec<KernelRecord>> {
    let batches = match args.batch {
        Some(b) => vec![b],
        None if args.quick => vec![16],
        None => vec![16, 1024],
    };
    let dims = args.pick(&args.dim, &[DIM], &[DIM]);
    let n = FEATURES;
    let pb =
        crate::output::progress::bar((dims.len() * batches.len() * ctx.pools.len()) as u64, "interaction");
    let mut out = Vec::new();
    for (d, rows) in dims.iter().flat_map(|&d| batches.iter().map(move |&b| (d, b))) {
        let k = DotInteraction::with_isa(n, d, false, ctx.isa).context("dot interaction")?;
        let x: Vec<f32> = (0..rows * n * d).map(|i| (i % 13) as f32 * 0.05 - 0.3).collect();
        let shape = serde_json::json!({"features": n, "dim": d, "batch": rows});
        // Pairs the model needs, two FLOPs per multiply-add (the Gram computes each twice).
        let flops = (2 * k.pairs() * d * rows) as f64;
        for pool in &ctx.pools {
            pb.set_message(format!("{n} x {d}, batch {rows}, {} threads", pool.threads()));
            let w = pool.threads();
            let outs: Vec<Mutex<Vec<f32>>> =
                (0..w).map(|i| Mutex::new(vec![0.0; split_range(rows, w, i).len() * k.pairs()])).collect();
            let grams: Vec<Mutex<Vec<f32>>> = (0..w).map(|_| Mutex::new(vec![0.0; n * n])).collect();
            let err = Mutex::new(None);
            let ours = ctx.time(|| {
                pool.broadcast(|i, parts| {
                    let r = split_range(rows, parts, i);
                    let mut o = outs[i].lock().unwrap_or_else(|p| p.into_inner());
                    let xs = &x[r.start * n * d..r.end * n * d];
                    if let Err(e) = k.forward(|f| &xs[f * d..], n * d, r.len(), &mut o, k.pairs(), 0) {
                        err.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                    }
                })
            });
            if let Some(e) = err.into_inner().unwrap_or_else(|p| p.into_inner()) {
                return Err(e).context("dot interaction");
            }
            let theirs = ctx.time(|| {
                pool.broadcast(|i, parts| {
                    let r = split_range(rows, parts, i);
                    let mut g = grams[i].lock().unwrap_or_else(|p| p.into_inner());
                    for xs in x[r.start * n * d..r.end * n * d].chunks_exact(n * d) {
                        peer::gemm_crate_plain(xs, xs, n, d, n, &mut g, 1);
                    }
                })
            });
            for (name, isa, t) in [
                ("hercules", ctx.isa.to_string(), &ours),
                ("gemm-crate-gram", "runtime-dispatch".to_string(), &theirs),
            ] {
                out.push(with_gflops(ctx, record("interaction", name, &isa, w, shape.clone(), t), flops));
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    Ok(out)
}
