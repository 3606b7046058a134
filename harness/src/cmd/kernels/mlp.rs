//! Fused MLP layer benchmarks: ours (packed weights, fused epilogue) beside the `gemm` crate.

use super::{peer, record, with_gflops, Ctx, KernelsArgs};
use crate::limits::MAX_KERNEL_BYTES;
use anyhow::{anyhow, bail, Context, Result};
use hercules_kernels::mlp::Linear;
use hercules_results::KernelRecord;
use rand::{Rng, SeedableRng};

/// (K, N) of the default sweep: six layers of the zoo's MLPs, and the 256 → 1 logit layer that ends
/// wnd's and rmc3's towers.
const KN: [(usize, usize); 7] =
    [(13, 512), (512, 256), (256, 64), (512, 512), (1024, 1024), (479, 1024), (256, 1)];

fn shapes(args: &KernelsArgs) -> Vec<(usize, usize, usize)> {
    let ms = if !args.m.is_empty() {
        args.m.clone()
    } else if args.quick {
        vec![1, 64]
    } else {
        vec![1, 16, 64, 256, 1024]
    };
    let kns: Vec<(usize, usize)> = match (args.k, args.n) {
        (Some(k), Some(n)) => vec![(k, n)],
        _ if args.quick => vec![(13, 512), (256, 64)],
        _ => KN.to_vec(),
    };
    kns.iter().flat_map(|&(k, n)| ms.iter().map(move |&m| (m, k, n))).collect()
}

/// Bytes one shape's operands take: the weights and their packed copy, the bias, inputs and outputs.
fn operand_bytes(m: usize, k: usize, n: usize) -> Option<u64> {
    let (m, k, n) = (m as u64, k as u64, n as u64);
    let elems =
        n.checked_mul(k)?.checked_mul(2)?.checked_add(m.checked_mul(k)?)?.checked_add(m.checked_mul(n)?)?;
    elems.checked_add(n)?.checked_mul(4)
}

/// Refuses, before anything is measured, the shapes `args` asks for when they do not fit.
pub fn check(args: &KernelsArgs) -> Result<()> {
    check_shapes(&shapes(args))
}

/// Refuses, before anything is allocated, a shape whose operands exceed the harness's bound or the
/// memory the OS says is available.
fn check_shapes(shapes: &[(usize, usize, usize)]) -> Result<()> {
    for &(m, k, n) in shapes {
        let what = format!("--op mlp M={m} K={k} N={n}");
        let bytes = operand_bytes(m, k, n).ok_or_else(|| anyhow!("{what}: the operand size overflows"))?;
        if bytes > MAX_KERNEL_BYTES {
            bail!("{what}: the operands take {bytes} bytes, above the harness's bound of {MAX_KERNEL_BYTES}");
        }
        hercules_kernels::mem::check_fits(&what, bytes as usize)?;
    }
    Ok(())
}

/// Runs the MLP benchmarks.
pub fn run(ctx: &Ctx, args: &KernelsArgs) -> Result<Vec<KernelRecord>> {
    let shapes = shapes(args);
    let pb = crate::output::progress::bar((shapes.len() * ctx.pools.len()) as u64, "mlp");
    let mut out = Vec::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for (m, k, n) in shapes {
        let w: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-0.1..0.1)).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.1..0.1)).collect();
        let x: Vec<f32> = (0..m * k).map(|_| rng.gen_range(0.0..1.0)).collect();
        let layer = Linear::with_isa(&w, Some(&b), k, n, args.activation, ctx.isa)
            .with_context(|| format!("packing a {k}x{n} layer"))?;
        let mut y = vec![0.0f32; m * n];
        for pool in &ctx.pools {
            pb.set_message(format!("M={m} K={k} N={n}, {} threads", pool.threads()));
            let shape =
                serde_json::json!({"m": m, "k": k, "n": n, "activation": args.activation.to_string()});
            let flops = layer.flops(m);
            // Ours and the peer back to back, so both see the same machine state.
            let mut err = None;
            // Ours with this thread as the pool's worker 0 (pinned to its first core); the peer
            // from the unpinned thread, as its users call it (its threads are rayon's).
            let pinned = pool.enter().context("pinning to the pool's first core")?;
            let ours = ctx.time(|| {
                if let Err(e) = layer.forward_par(pool, &x, m, &mut y) {
                    err.get_or_insert(e);
                }
            });
            drop(pinned);
            if let Some(e) = err {
                return Err(e).context("mlp forward");
            }
            let theirs = ctx.time(|| peer::gemm_crate_plain(&x, &w, m, k, n, &mut y, pool.threads()));
            for (name, isa, t) in [
                ("hercules", ctx.isa.to_string(), &ours),
                ("gemm-crate", "runtime-dispatch".to_string(), &theirs),
            ] {
                out.push(with_gflops(
                    ctx,
                    record("mlp", name, &isa, pool.threads(), shape.clone(), t),
                    flops,
                ));
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_shapes_are_refused_before_allocating() {
        let e = check_shapes(&[(100_000_000, 100_000, 100_000)]).unwrap_err().to_string();
        assert!(e.contains("M=100000000") && e.contains("bound"), "{e}");
        let e = check_shapes(&[(usize::MAX, usize::MAX, 2)]).unwrap_err().to_string();
        assert!(e.contains("overflows"), "{e}");
        check_shapes(&[(64, 512, 256)]).unwrap();
    }
}
