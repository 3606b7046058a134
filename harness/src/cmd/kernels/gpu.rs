//! `hercules kernels --device cuda`: the table-batched embedding bag and cuBLAS MLP layers on CUDA
//! device 0, against that device's ceilings measured in the same run (hercules-gpu's `bench` module
//! does the measuring; this file picks the shapes and writes the records), or whole models against
//! this host's CPU (`--op model`, [`super::gpu_models`]). The JSON is rewritten after every record and
//! every model with `"complete": false` until the end, so a run cut short keeps what it measured.

use super::gpu_models::{self, ModelSweep, SweepOpts};
use super::{record, table, KernelsArgs, Op};
use crate::power::nvml;
use crate::{ceilings, host};
use anyhow::{bail, Context, Result};
use hercules_gpu::bench::{self, CeilingOpts, EmbeddingBench, EmbeddingShape};
use hercules_gpu::Device;
use hercules_kernels::embedding::DType;
use hercules_kernels::PinnedPool;
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
    /// `--op model`: one curve per model, GPU against CPU by batch size.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelSweep>,
    /// False while the run is still going (the file is rewritten as it goes).
    pub complete: bool,
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

/// The CPU-only flags, rejected with --device cuda; the model-only ones without --op model.
fn check_args(args: &KernelsArgs) -> Result<()> {
    let model = args.op == Some(Op::Model);
    if args.threads.is_some() && !model {
        bail!("--threads applies to --device cpu (with --device cuda: to --op model's CPU side)");
    }
    for (given, flag) in [
        (args.isa.is_some(), "--isa"),
        (args.prefetch.is_some(), "--prefetch"),
        (args.op == Some(Op::Interaction), "--op interaction"),
    ] {
        if given {
            bail!("{flag} applies to --device cpu");
        }
    }
    for (given, flag) in [
        (!args.model.is_empty(), "--model"),
        (args.max_rows.is_some(), "--max-rows"),
        (args.rows_scale != 1.0, "--rows-scale"),
    ] {
        if given && !model {
            bail!("{flag} applies to --op model");
        }
    }
    if !(args.rows_scale > 0.0 && args.rows_scale.is_finite()) {
        bail!("--rows-scale must be a positive number, not {}", args.rows_scale);
    }
    if args.max_rows == Some(0) || args.graph_max_batch == 0 {
        bail!("--max-rows and --graph-max-batch must be at least 1");
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

/// The CPU side of `--op model`: `--threads`, else every usable core but one (it drives the GPU).
fn model_threads(args: &KernelsArgs) -> Result<usize> {
    match args.threads {
        Some(_) => crate::host::max_threads(args.threads),
        None => Ok(crate::host::max_threads(None)?.saturating_sub(1).max(1)),
    }
}

/// The `--op model` sweep asked for.
fn sweep_opts(args: &KernelsArgs) -> SweepOpts {
    let models = if args.model.is_empty() {
        gpu_models::DEFAULT_MODELS.iter().map(|m| m.to_string()).collect()
    } else {
        args.model.clone()
    };
    let batches = match args.batch {
        Some(b) => vec![b],
        None if args.quick => gpu_models::BATCHES_QUICK.to_vec(),
        None => gpu_models::BATCHES.to_vec(),
    };
    SweepOpts {
        models,
        rows_scale: args.rows_scale,
        max_rows: args.max_rows,
        batches,
        graph_max_batch: args.graph_max_batch,
        repeats: args.repeats.max(5),
    }
}

/// Runs `hercules kernels --device cuda`. Where there is no CUDA device the error is hercules-gpu's one
/// line, "no CUDA device: ...", with nothing added and nothing printed before it.
pub fn run(args: &KernelsArgs) -> Result<()> {
    check_args(args)?;
    args.out.check()?;
    let model_pool = if args.op == Some(Op::Model) {
        Some(PinnedPool::with_threads(model_threads(args)?).context("pinning the CPU side's threads")?)
    } else {
        None
    };
    let dev = Device::open(0)?;
    let info = dev.info().clone();
    let arch = hercules_gpu::device::arch_name(info.compute_capability);
    let host = host::fingerprint();
    let shapes = match args.op {
        None | Some(Op::Embedding) => embedding_shapes(args),
        _ => Vec::new(),
    };
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
    println!("kernels on {}{}", ceilings::device_line(&info), if args.quick { " [quick]" } else { "" });
    print!("{}", ceilings::gpu_table(&ceilings).render());
    let copy = ceilings.copy.clone();
    let gather = ceilings.gather.clone();
    let fp32 = ceilings.gemm("gemm_fp32").map(|c| c.median * 1e3);
    let mut report = GpuKernelReport {
        run: ceilings::GpuRooflineReport::new("kernels-cuda", host, info, ceilings),
        records: Vec::new(),
        models: Vec::new(),
        complete: false,
    };
    // Every figure reaches the file as soon as it is measured.
    let save = |r: &GpuKernelReport| -> Result<()> {
        match &args.out.json {
            Some(p) => crate::output::write_json(p, r),
            None => Ok(()),
        }
    };
    save(&report)?;

    for s in &shapes {
        eprintln!("embedding: {} tables, D={} L={} B={} {}", s.tables, s.dim, s.lookups, s.batch, s.dtype);
        let what = || format!("embedding bag {} tables D={} {}", s.tables, s.dim, s.dtype);
        let mut b = EmbeddingBench::new(&dev, s).with_context(what)?;
        let e = b.time(args.repeats).with_context(what)?;
        let table_mib = (s.tables as u64 * s.rows_per_table * 4 * s.dim as u64) >> 20;
        let mut shape = serde_json::to_value(s)?;
        shape["rows"] = serde_json::json!(s.rows_per_table);
        shape["table_mib"] = serde_json::json!(table_mib);
        shape["table_bytes"] = serde_json::json!(e.table_bytes);
        shape["row_bytes"] = serde_json::json!(e.row_bytes);
        shape["fraction_of_gather_ceiling"] = serde_json::json!(e.fraction_of(&gather));
        let mut r = record("embedding", "hercules-cuda", &arch, 0, shape, &measured(&e.seconds));
        r.rows_per_s = Some(e.mrows_per_s * 1e6);
        r.gbs = Some(e.gb_per_s_rows);
        r.fraction_of_ceiling = Some(e.fraction_of(&copy));
        r.ceiling = Some("copy_d2d (device copy bandwidth, read + write bytes, same run)".into());
        if args.power {
            r.board_power = board_power(&mut b, &report.run.device.uuid).with_context(what)?;
        }
        report.records.push(r);
        save(&report)?;
    }
    if matches!(args.op, None | Some(Op::Mlp)) {
        // Each shape through the cuBLASLt epilogue and through SGEMM + the kernel, side by side.
        for &(k, n) in &kns {
            eprintln!("mlp: K={k} N={n}, M in {ms:?}");
            let mut layer = Vec::new();
            for fused in [true, false] {
                layer.extend(
                    bench::mlp_layer(&dev, k, n, &ms, args.activation, args.repeats, fused)
                        .with_context(|| format!("MLP layer {k}x{n}"))?,
                );
            }
            for x in layer {
                if let Some(why) = &x.fallback {
                    eprintln!("mlp {k}x{n}: the cuBLASLt epilogue fell back: {why}");
                }
                let shape = serde_json::json!({"m": x.m, "k": k, "n": n,
                    "activation": x.activation.to_string(), "path": x.path, "fallback": x.fallback});
                let t = Measured {
                    threads: 0,
                    median: x.seconds_median,
                    min: x.seconds_min,
                    max: x.seconds_max,
                    repeats: x.repeats,
                };
                let implementation = if x.path == "cublaslt-epilogue" {
                    "hercules-cuda (cuBLASLt GEMM, bias/ReLU epilogue)"
                } else {
                    "hercules-cuda (cuBLAS SGEMM + bias/act kernel)"
                };
                let mut r = record("mlp", implementation, &arch, 0, shape, &t);
                r.gflops = Some(x.gflops);
                r.fraction_of_ceiling = fp32.map(|c| x.gflops / c);
                r.ceiling = Some("gemm_fp32 (cuBLAS FP32 GEMM peak, same run)".into());
                report.records.push(r);
            }
            save(&report)?;
        }
    }
    let table = if let Some(pool) = &model_pool {
        let o = sweep_opts(args);
        for name in &o.models {
            eprintln!("model {name}: GPU against {} CPU threads, batches {:?}", pool.threads(), o.batches);
            let m = gpu_models::sweep(&dev, name, &o, pool)?;
            print!("{}", gpu_models::table(std::slice::from_ref(&m)).render());
            report.models.push(m);
            save(&report)?;
        }
        gpu_models::table(&report.models)
    } else {
        let t = table(&report.records);
        print!("{}", t.render());
        t
    };
    report.complete = true;
    args.out.write(&report, &table)
}

/// The board's power over at least [`nvml::MIN_SECONDS`] of the shape's launches back to back; None
/// (with the reason on stderr) where NVML cannot be read.
fn board_power(b: &mut EmbeddingBench, uuid: &str) -> Result<Option<hercules_results::table::Power>> {
    let sampler = match nvml::Sampler::start(Some(uuid), std::time::Duration::from_millis(20)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("board power not measured: {e}");
            return Ok(None);
        }
    };
    b.run_for(nvml::MIN_SECONDS + 0.5)?;
    match sampler.stop() {
        Ok(st) => Ok(Some(st.power())),
        Err(e) => {
            eprintln!("board power not measured: {e}");
            Ok(None)
        }
    }
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
        // --op model: the CPU side's --threads is allowed, the model flags need it, sizes are checked.
        assert!(check_args(&args(&["--op", "model", "--threads", "1", "--model", "wnd"])).is_ok());
        for extra in [
            &["--model", "wnd"][..],
            &["--rows-scale", "0.5"],
            &["--op", "interaction"],
            &["--op", "model", "--rows-scale", "0"],
            &["--op", "model", "--graph-max-batch", "0"],
        ] {
            assert!(check_args(&args(extra)).is_err(), "{extra:?}");
        }
    }

    #[test]
    fn model_sweep_defaults_and_given_batch() {
        let o = sweep_opts(&args(&["--op", "model"]));
        assert_eq!(o.models.len(), gpu_models::DEFAULT_MODELS.len());
        assert_eq!(o.batches, gpu_models::BATCHES.to_vec());
        assert_eq!(o.repeats, 5);
        let q = sweep_opts(&args(&["--op", "model", "--quick", "--model", "ncf", "--repeats", "9"]));
        assert_eq!(
            (q.models, q.batches, q.repeats),
            (vec!["ncf".to_string()], gpu_models::BATCHES_QUICK.to_vec(), 9)
        );
        assert_eq!(sweep_opts(&args(&["--op", "model", "--batch", "8"])).batches, vec![8]);
    }
}
