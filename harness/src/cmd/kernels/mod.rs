//! `hercules kernels`: kernel benchmarks against the ceilings measured in the same run and, for the
//! MLP and the dot interaction, against the `gemm` crate called side by side.

mod embedding;
mod gpu;
mod gpu_models;
mod interaction;
mod mlp;
// The `gemm` crate peer: one copy, shared with the kernels crate's bench and examples.
#[path = "../../../../kernels/peers/gemm.rs"]
mod peer;
mod timing;

use crate::host::{max_threads, DeviceKind};
use crate::output::table::{num, Table};
use crate::output::{now_rfc3339, OutputArgs};
use crate::{ceilings, host};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use hercules_kernels::embedding::{DType, Pooling};
use hercules_kernels::mlp::Activation;
use hercules_kernels::{Isa, PinnedPool};
use hercules_results::{Ceilings, KernelRecord, KernelReport, BENCH_SCHEMA_VERSION};
use std::time::Duration;

/// Which operators to benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Op {
    /// Embedding bag (gather + pool).
    Embedding,
    /// Fused MLP layer.
    Mlp,
    /// DLRM's dot interaction (MLPerf DLRM v1's 27 features; --dim and --batch pick others).
    Interaction,
    /// Whole models, --device cuda only: samples/s against batch size on the GPU (CUDA graphs off and
    /// on) and on this host's cores, and the batch from which the GPU wins.
    Model,
}

/// `hercules kernels` arguments. Without shape flags it runs the default sweep.
#[derive(Debug, Args)]
pub struct KernelsArgs {
    /// Benchmark the CPU kernels, or the CUDA kernels on device 0 (table-batched embedding bag, cuBLAS
    /// MLP layers) against that device's ceilings.
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
    /// Tables pooled by one launch (--device cuda; default 8); --table-mib is then their total size.
    #[arg(long)]
    pub tables: Option<usize>,
    /// A short sweep on small tables (cache-resident): a smoke test, not a measurement of DRAM.
    #[arg(long)]
    pub quick: bool,
    /// Largest thread count (runs at 1, 2, 4, ... and this); default: every usable core. With
    /// --device cuda --op model: the CPU side's threads (default: every usable core but the one that
    /// drives the GPU).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Only this operator.
    #[arg(long, value_enum)]
    pub op: Option<Op>,
    /// Embedding row width, and the interaction's feature width (elements); repeatable.
    #[arg(long)]
    pub dim: Vec<usize>,
    /// Lookups per bag; repeatable.
    #[arg(long)]
    pub lookups: Vec<usize>,
    /// Bags per embedding call, samples per interaction call; with --op model, the one batch size to
    /// measure (default: 1, 2, 4, ... 1024).
    #[arg(long)]
    pub batch: Option<usize>,
    /// --op model: a zoo model or spec file; repeatable (default: dlrm-rmc1, dlrm-rmc3, wnd, dien, din,
    /// ncf, mt-wnd).
    #[arg(long)]
    pub model: Vec<String>,
    /// --op model: scale every table's rows by this factor.
    #[arg(long, default_value_t = 1.0)]
    pub rows_scale: f64,
    /// --op model: cap every table at this many rows (default: the spec's default_max_rows).
    #[arg(long)]
    pub max_rows: Option<u64>,
    /// --op model: the largest batch replayed as a CUDA graph.
    #[arg(long, default_value_t = hercules_gpu::model::GRAPH_MAX_BATCH)]
    pub graph_max_batch: usize,
    /// --device cuda: the GPU board's power (NVML) over at least 2 s of each embedding shape's
    /// launches back to back.
    #[arg(long)]
    pub power: bool,
    /// Table size in MiB (of fp32 rows: other dtypes keep the row count); repeatable. With --device cuda,
    /// the size of all --tables tables together.
    #[arg(long = "table-mib")]
    pub table_mib: Vec<usize>,
    /// Row storage; repeatable (fp32, fp16, int8).
    #[arg(long)]
    pub dtype: Vec<DType>,
    /// Pooling (sum, mean).
    #[arg(long, default_value = "sum")]
    pub pooling: Pooling,
    /// Software prefetch distance in rows (0 = off), with the default hint; default: chosen per host and
    /// table class by measuring distances and hints, kept in the tuning cache
    /// ($HERCULES_TUNING_CACHE, or ~/.cache/hercules/embedding-tuning.json; `off` disables it).
    #[arg(long)]
    pub prefetch: Option<usize>,
    /// MLP batch rows; repeatable.
    #[arg(long)]
    pub m: Vec<usize>,
    /// MLP input width (with --n).
    #[arg(long)]
    pub k: Option<usize>,
    /// MLP output width (with --k).
    #[arg(long)]
    pub n: Option<usize>,
    /// MLP activation.
    #[arg(long, default_value = "relu")]
    pub activation: Activation,
    /// Instruction set (default: the best this CPU has).
    #[arg(long)]
    pub isa: Option<Isa>,
    /// Timed repeats per record (median reported).
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    #[command(flatten)]
    pub out: OutputArgs,
}

impl KernelsArgs {
    /// The values a shape flag gave, else the quick or the full sweep's.
    pub fn pick(&self, given: &[usize], quick: &[usize], full: &[usize]) -> Vec<usize> {
        if !given.is_empty() {
            given.to_vec()
        } else if self.quick {
            quick.to_vec()
        } else {
            full.to_vec()
        }
    }
}

/// Everything a benchmark needs from the run: ceilings, pools, timing.
pub struct Ctx {
    pub ceilings: Ceilings,
    pub pools: Vec<PinnedPool>,
    pub isa: Isa,
    pub repeats: usize,
    pub min_repeat: Duration,
    pub llc_bytes: u64,
}

impl Ctx {
    /// Seconds per call, summarised.
    fn time(&self, f: impl FnMut()) -> hercules_results::Measured {
        let samples = timing::time_calls(self.repeats, self.min_repeat, f);
        hercules_results::Measured::from_samples(0, &samples)
    }
}

/// A record with timing filled in; throughput fields left to the caller.
fn record(
    op: &str,
    implementation: &str,
    isa: &str,
    threads: usize,
    shape: serde_json::Value,
    t: &hercules_results::Measured,
) -> KernelRecord {
    KernelRecord {
        op: op.into(),
        implementation: implementation.into(),
        isa: isa.into(),
        threads,
        shape,
        seconds_median: t.median,
        seconds_min: t.min,
        seconds_max: t.max,
        repeats: t.repeats,
        rows_per_s: None,
        gbs: None,
        gflops: None,
        fraction_of_ceiling: None,
        ceiling: None,
        huge_pages: None,
        board_power: None,
    }
}

/// `r` with GFLOP/s filled in and its fraction of the FMA peak measured in this run at its threads.
fn with_gflops(ctx: &Ctx, mut r: KernelRecord, flops: f64) -> KernelRecord {
    let gf = flops / r.seconds_median / 1e9;
    r.gflops = Some(gf);
    r.fraction_of_ceiling = Ceilings::at(&ctx.ceilings.fma_gflops, r.threads).map(|c| gf / c.median);
    r.ceiling = Some("fma_gflops (same run)".into());
    r
}

/// Runs `hercules kernels`.
pub fn run(args: KernelsArgs) -> Result<()> {
    if args.device == DeviceKind::Cuda {
        return gpu::run(&args);
    }
    for (given, flag) in [
        (args.tables.is_some(), "--tables"),
        (args.power, "--power"),
        (args.op == Some(Op::Model), "--op model (on the CPU alone: hercules infer)"),
        (!args.model.is_empty(), "--model"),
        (args.max_rows.is_some(), "--max-rows"),
        (args.rows_scale != 1.0, "--rows-scale"),
    ] {
        if given {
            bail!("{flag} applies to --device cuda");
        }
    }
    let max = max_threads(args.threads)?;
    if args.repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    if args.k.is_some() != args.n.is_some() {
        bail!("--k and --n go together");
    }
    // A zero in a shape would time an empty call and report 0 GFLOP/s or rows/s as a measurement.
    let sizes: [(&str, &[usize]); 7] = [
        ("--dim", &args.dim),
        ("--lookups", &args.lookups),
        ("--table-mib", &args.table_mib),
        ("--m", &args.m),
        ("--batch", args.batch.as_slice()),
        ("--k", args.k.as_slice()),
        ("--n", args.n.as_slice()),
    ];
    if let Some((flag, _)) = sizes.iter().find(|(_, v)| v.contains(&0)) {
        bail!("{flag} must be at least 1");
    }
    let isa = match args.isa {
        Some(i) => i.require()?,
        None => Isa::best(),
    };
    let wanted = |op: Op| args.op.is_none_or(|o| o == op);
    if wanted(Op::Embedding) {
        embedding::check(&args)?;
    }
    if wanted(Op::Mlp) {
        mlp::check(&args)?;
    }
    args.out.check()?;
    let host = host::fingerprint();
    let ropts = ceilings::RooflineOpts {
        threads: ceilings::thread_counts(max),
        repeats: if args.quick { 3 } else { 5 },
        quick: args.quick,
    };
    eprintln!("measuring the machine's ceilings first ({})", if args.quick { "quick" } else { "full" });
    let pools = ceilings::pools(&ropts)?;
    let ceilings = ceilings::measure(&ropts, &host, &pools)?;
    let ctx = Ctx {
        ceilings,
        pools,
        isa,
        repeats: args.repeats,
        min_repeat: Duration::from_millis(if args.quick { 10 } else { 50 }),
        llc_bytes: host::llc_bytes(&host),
    };
    let mut records = Vec::new();
    if wanted(Op::Embedding) {
        records.extend(embedding::run(&ctx, &args)?);
    }
    if wanted(Op::Mlp) {
        records.extend(mlp::run(&ctx, &args)?);
    }
    if wanted(Op::Interaction) {
        records.extend(interaction::run(&ctx, &args)?);
    }
    let table = table(&records);
    print!("{}", table.render());
    let report = KernelReport {
        schema_version: BENCH_SCHEMA_VERSION,
        kind: "kernels".into(),
        host,
        measured_at: now_rfc3339(),
        ceilings: ctx.ceilings,
        records,
    };
    args.out.write(&report, &table)
}

/// A compact description of a record's shape for the table.
fn shape_text(r: &KernelRecord) -> String {
    let g = |k: &str| r.shape.get(k).map(|v| v.to_string().trim_matches('"').to_string()).unwrap_or_default();
    match r.op.as_str() {
        "embedding" => {
            let source = r.shape.pointer("/prefetch_tuning/source").and_then(|v| v.as_str()).unwrap_or("");
            format!(
                "D={} L={} B={} {} {}MiB pf={}/{} {source}",
                g("dim"),
                g("lookups"),
                g("batch"),
                g("dtype"),
                g("table_mib"),
                g("prefetch_distance"),
                g("prefetch_hint")
            )
        }
        "interaction" => format!("F={} D={} B={}", g("features"), g("dim"), g("batch")),
        _ => format!("M={} K={} N={} {}", g("m"), g("k"), g("n"), g("activation")),
    }
}

/// One row per record.
pub fn table(records: &[KernelRecord]) -> Table {
    let mut t = Table::new([
        "op",
        "shape",
        "impl",
        "isa",
        "threads",
        "us_median",
        "spread_pct",
        "Mrows/s",
        "GB/s",
        "GFLOP/s",
        "frac_ceiling",
    ]);
    for r in records {
        t.push([
            r.op.clone(),
            shape_text(r),
            r.implementation.clone(),
            r.isa.clone(),
            r.threads.to_string(),
            num(Some(r.seconds_median * 1e6), 1),
            num(Some(100.0 * (r.seconds_max - r.seconds_min) / r.seconds_median), 1),
            num(r.rows_per_s.map(|x| x / 1e6), 1),
            num(r.gbs, 2),
            num(r.gflops, 1),
            num(r.fraction_of_ceiling, 2),
        ]);
    }
    t
}
