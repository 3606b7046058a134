//! `hercules kernels --device cuda`: the table-batched embedding bag and cuBLAS MLP layers on CUDA
//! device 0, against that device's ceilings measured in the same run (hercules-gpu's `bench` module
//! does the measuring; this file picks the shapes and writes the records).

use super::{record, table, KernelsArgs, Op};
use crate::{ceilings, host};
use anyhow::{bail, Context, Result};
use hercules_gpu::bench::{self, CeilingOpts, EmbeddingShape};
use hercules_gpu::Device;
use hercules_kernels::embedding::DType;
use hercules_results::{KernelRecord, Measured};
use serde::Serialize;

/// Tables per launch unless --tables says otherwise.
const DEFAULT_TABLES: usize = 8;

/// The JSON document of `hercules kernels --device cuda`: the device's ceilings, as `hercules roofline
/// --device cuda` writes them, then the records.
#[derive(Debug, Serialize)]
pub struct GpuKernelReport {
    /// Host, device, when, and the ceilings measured first in the same run (`kind` "kernels-cuda").
    #[serde(flatten)]
    pub run: ceilings::GpuRooflineReport,
    /// One record per (operator, shape); `threads` is 0 (no CPU worker threads).
    pub records: Vec<KernelRecord>,
}

/// The embedding shapes asked for: given dims, lookups, table sizes and dtypes, or the default sweep
/// (D 32/64/128, L 20/80, 8 tables of 4 GiB in all; quick: D 32/128, L 20, 256 MiB, B 512).
fn embedding_shapes(args: &KernelsArgs) -> Vec<EmbeddingShape> {
    let dims = args.pick(&args.dim, &[32, 128], &[32, 64, 128]);
    let lookups = args.pick(&args.lookups, &[20], &[20, 80]);
    let table_mib = args.pick(&args.table_mib, &[256], &[4096]);
    let batch = args.batch.unwrap_or(if args.quick { 512 } else { 2048 });
    let tables = args.tables.unwrap_or(DEFAULT_TABLES);
    let mut dtypes = if args.dtype.is_empty() { vec![DType::F32] } else { args.dtype.clone() };
    let mut out = Vec::new();
    let mut push = |mib: usize, dim: usize, dtype: DType, l: usize| {
        // Row count from the fp32 size, so every dtype has the same tables in rows (as on the CPU).
        let rows = ((mib << 20) / tables / (4 * dim)).max(l) as u64;
        out.push(EmbeddingShape {
            tables,
            rows_per_table: rows,
            dim,
            lookups: l,
            batch,
            dtype,
            pooling: args.pooling,
        });
    };
    for &mib in &table_mib {
        for &dim in &dims {
            for &dtype in &dtypes {
                for &l in &lookups {
                    push(mib, dim, dtype, l);
                }
            }
        }
    }
    // The default sweep also shows the quantised rows at L = 80.
    if args.dtype.is_empty() && args.dim.is_empty() && args.table_mib.is_empty() && !args.quick {
        dtypes = vec![DType::F16, DType::Int8];
        for &dim in &dims {
            for &dtype in &dtypes {
                push(table_mib[0], dim, dtype, 80);
            }
        }
    }
    out
}

/// The MLP (K, N) shapes and batch sizes asked for, or the defaults of hercules-gpu's bench module.
fn mlp_shapes(args: &KernelsArgs) -> (Vec<(usize, usize)>, Vec<usize>) {
    let ms = if !args.m.is_empty() {
        args.m.clone()
    } else if args.quick {
        bench::MLP_M_QUICK.to_vec()
    } else {
        bench::MLP_M.to_vec()
    };
    let kns = match (args.k, args.n) {
        (Some(k), Some(n)) => vec![(k, n)],
        _ if args.quick => vec![(13, 512), (256, 64)],
        _ => bench::MLP_KN.to_vec(),
    };
    (kns, ms)
}

/// The CPU-only flags, rejected with --device cuda.
fn check_args(args: &KernelsArgs) -> Result<()> {
    for (given, flag) in [
        (args.threads.is_some(), "--threads"),
        (args.isa.is_some(), "--isa"),
        (args.prefetch.is_some(), "--prefetch"),
    ] {
        if given {
            bail!("{flag} applies to --device cpu");
        }
    }
    if args.repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    if args.k.is_some() != args.n.is_some() {
        bail!("--k and --n go together");
    }
    if args.tables == Some(0) {
        bail!("--tables must be at least 1");
    }
    let zero = |v: &[usize]| v.contains(&0);
    if zero(&args.dim)
        || zero(&args.lookups)
        || zero(&args.table_mib)
        || zero(&args.m)
        || args.batch == Some(0)
    {
        bail!("--dim, --lookups, --table-mib, --batch and --m must be positive");
    }
    Ok(())
}

fn measured(seconds: &[f64]) -> Measured {
    Measured::from_samples(0, seconds)
}

/// Runs `hercules kernels --device cuda`. Where there is no CUDA device the error is hercules-gpu's one
/// line, "no CUDA device: ...", with nothing added and nothing printed before it.
pub fn run(args: &KernelsArgs) -> Result<()> {
    check_args(args)?;
    args.out.check()?;
    let dev = Device::open(0)?;
    let info = dev.info().clone();
    let arch = hercules_gpu::device::arch_name(info.compute_capability);
    let host = host::fingerprint();
    let shapes = if args.op != Some(Op::Mlp) { embedding_shapes(args) } else { Vec::new() };
    let (kns, ms) = mlp_shapes(args);

    let max_dim = shapes.iter().map(|s| s.dim).max().unwrap_or(128);
    let copts = CeilingOpts::standard(
        args.quick,
        ceilings::gpu_gather_table_bytes(&info, args.quick),
        max_dim,
        if args.quick { 3 } else { 5 },
    );
    eprintln!("measuring the ceilings of {} first", ceilings::device_line(&info));
    let ceilings = bench::ceilings(&dev, &copts).context("measuring the device's ceilings")?;
    let copy = &ceilings.copy;
    let fp32 = ceilings.gemm("gemm_fp32").map(|c| c.median * 1e3);

    let mut records = Vec::new();
    for s in &shapes {
        eprintln!("embedding: {} tables, D={} L={} B={} {}", s.tables, s.dim, s.lookups, s.batch, s.dtype);
        let e = bench::embedding_bag(&dev, s, args.repeats, false)
            .with_context(|| format!("embedding bag {} tables D={} {}", s.tables, s.dim, s.dtype))?;
        let table_mib = (s.tables as u64 * s.rows_per_table * 4 * s.dim as u64) >> 20;
        let mut shape = serde_json::to_value(s)?;
        shape["rows"] = serde_json::json!(s.rows_per_table);
        shape["table_mib"] = serde_json::json!(table_mib);
        shape["table_bytes"] = serde_json::json!(e.table_bytes);
        shape["row_bytes"] = serde_json::json!(e.row_bytes);
        shape["fraction_of_gather_ceiling"] = serde_json::json!(e.fraction_of(&ceilings.gather));
        let mut r = record("embedding", "hercules-cuda", &arch, 0, shape, &measured(&e.seconds));
        r.rows_per_s = Some(e.mrows_per_s * 1e6);
        r.gbs = Some(e.gb_per_s_rows);
        r.fraction_of_ceiling = Some(e.fraction_of(copy));
        r.ceiling = Some("copy_d2d (device copy bandwidth, read + write bytes, same run)".into());
        records.push(r);
    }
    if args.op != Some(Op::Embedding) {
        for &(k, n) in &kns {
            eprintln!("mlp: K={k} N={n}, M in {ms:?}");
            for x in bench::mlp_layer(&dev, k, n, &ms, args.activation, args.repeats)
                .with_context(|| format!("MLP layer {k}x{n}"))?
            {
                let shape =
                    serde_json::json!({"m": x.m, "k": k, "n": n, "activation": x.activation.to_string()});
                let t = Measured {
                    threads: 0,
                    median: x.seconds_median,
                    min: x.seconds_min,
                    max: x.seconds_max,
                    repeats: x.repeats,
                };
                let mut r =
                    record("mlp", "hercules-cuda (cuBLAS SGEMM + fused bias/act)", &arch, 0, shape, &t);
                r.gflops = Some(x.gflops);
                r.fraction_of_ceiling = fp32.map(|c| x.gflops / c);
                r.ceiling = Some("gemm_fp32 (cuBLAS FP32 GEMM peak, same run)".into());
                records.push(r);
            }
        }
    }

    println!("kernels on {}{}", ceilings::device_line(&info), if args.quick { " [quick]" } else { "" });
    print!("{}", ceilings::gpu_table(&ceilings).render());
    let table = table(&records);
    print!("{}", table.render());
    let run = ceilings::GpuRooflineReport::new("kernels-cuda", host, info, ceilings);
    args.out.write(&GpuKernelReport { run, records }, &table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> KernelsArgs {
        let mut v = vec!["hercules", "kernels", "--device", "cuda"];
        v.extend_from_slice(extra);
        match crate::cli::Cli::parse_from(v).command {
            crate::cli::Command::Kernels(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn gpu_default_sweep_and_given_shapes() {
        let q = embedding_shapes(&args(&["--quick"]));
        assert_eq!(q.len(), 2);
        assert!(q.iter().all(|s| s.tables == DEFAULT_TABLES && s.batch == 512 && s.lookups == 20));
        let full = embedding_shapes(&args(&[]));
        // 3 dims × 2 lookups in fp32, then fp16 and int8 at L = 80 for each dim.
        assert_eq!(full.len(), 12);
        assert_eq!(full.iter().filter(|s| s.dtype == DType::Int8).count(), 3);
        let one = embedding_shapes(&args(&[
            "--dim",
            "128",
            "--lookups",
            "80",
            "--table-mib",
            "4096",
            "--tables",
            "4",
            "--batch",
            "1024",
        ]));
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].rows_per_table, (4096u64 << 20) / 4 / 512);
        assert_eq!((one[0].tables, one[0].batch), (4, 1024));
        let (kns, ms) = mlp_shapes(&args(&["--k", "64", "--n", "32", "--m", "8"]));
        assert_eq!((kns, ms), (vec![(64, 32)], vec![8]));
        assert_eq!(mlp_shapes(&args(&[])).0, bench::MLP_KN.to_vec());
    }

    #[test]
    fn gpu_rejects_cpu_only_flags() {
        for extra in [&["--threads", "1"][..], &["--prefetch", "4"], &["--tables", "0"], &["--dim", "0"]] {
            assert!(check_args(&args(extra)).is_err(), "{extra:?}");
        }
        assert!(check_args(&args(&["--quick"])).is_ok());
    }
}
