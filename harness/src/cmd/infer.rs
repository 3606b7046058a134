//! `hercules infer`: forward passes of one model at one batch size, back to back; prints latency
//! percentiles, samples/s and (on the CPU) the share of time per operator class. `--device cuda` runs
//! the same model, with the same weights and inputs, on CUDA device 0.

use crate::host::DeviceKind;
use crate::output::{table::Table, OutputArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use hercules_kernels::embedding::PrefetchTuning;
use hercules_models::inputs::InputPool;
use hercules_models::runner::{measure, timed_passes, InferConfig, Timed};
use hercules_models::weights::TensorFile;
use hercules_models::Profile;
use hercules_models::{zoo, IndexDist, Init, Model, Scale, WeightSource};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;

/// Weight initialisation families (for models served without a checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitArg {
    /// DeepRecSys: normal dense weights, uniform tables.
    Deeprecsys,
    /// The portable uniform init the PyTorch reference reproduces bit for bit.
    Portable,
}

/// `hercules infer` arguments.
#[derive(Debug, Args)]
pub struct InferArgs {
    /// A zoo model (see `hercules models`) or a spec file (.json / .toml).
    #[arg(long)]
    pub model: String,
    /// Samples per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Where the forward passes run: this host's cores, or CUDA device 0 (the copies of inputs and
    /// outputs between host and device are inside each timed pass).
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
    /// With `--device cuda`: capture each pass's device work as a CUDA graph and replay it.
    #[arg(long)]
    pub cuda_graphs: bool,
    /// With `--device cuda`: allow TF32 tensor-core math in the FP32 GEMMs.
    #[arg(long, conflicts_with = "bf16")]
    pub tf32: bool,
    /// With `--device cuda`: BF16 tensor-core math (FP32 accumulation) in the dense layers.
    #[arg(long)]
    pub bf16: bool,
    /// With `--device cuda`: the dense layers as SGEMM + a bias/activation kernel instead of one
    /// cuBLASLt matmul with a bias/ReLU epilogue (the A/B of the fusion).
    #[arg(long)]
    pub unfused: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Scale every table's rows by this factor (recorded in the output).
    #[arg(long, default_value_t = 1.0)]
    pub rows_scale: f64,
    /// Cap every table at this many rows (default: the spec's default_max_rows, if any).
    #[arg(long)]
    pub max_rows: Option<u64>,
    /// Run the embeddings and the bottom MLP at once (needs ≥ 2 threads).
    #[arg(long)]
    pub inter_op: bool,
    /// Index distribution: `uniform`, `zipf:EXPONENT`, or `trace:PATH` (a trace's indices must fit
    /// the tables; `--wrap-trace` takes them modulo each table's rows instead).
    #[arg(long, default_value = "uniform")]
    pub dist: String,
    /// Take a trace's indices modulo each table's rows (a full-size trace on a scaled model).
    #[arg(long)]
    pub wrap_trace: bool,
    /// Weights from this safetensors checkpoint instead of a seeded init.
    #[arg(long, value_name = "PATH")]
    pub weights: Option<PathBuf>,
    /// Seeded init family.
    #[arg(long, value_enum, default_value_t = InitArg::Deeprecsys)]
    pub init: InitArg,
    /// Seed of weights and inputs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Timed for at least this many seconds.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Timed for at least this many passes.
    #[arg(long, default_value_t = 50)]
    pub min_iters: usize,
    /// Untimed passes first.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Pre-generated input sets the passes cycle through.
    #[arg(long, default_value_t = 16)]
    pub input_sets: usize,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// The JSON document of one run.
#[derive(Debug, Serialize)]
struct InferReport {
    kind: &'static str,
    model: String,
    /// `cpu`, or the CUDA device's name.
    device: String,
    batch: usize,
    threads: usize,
    inter_op: bool,
    rows_scale: f64,
    max_rows: Option<u64>,
    table_bytes: usize,
    dist: String,
    weights: String,
    /// The embedding prefetch chosen at build and how (null: no table outgrows the cache alone).
    prefetch: Option<PrefetchTuning>,
    #[serde(flatten)]
    timed: Timed,
    /// Seconds per operator class over the profiled passes (CPU only).
    profile: Option<Profile>,
    /// Share of time per operator class (CPU only).
    shares: Option<std::collections::BTreeMap<&'static str, f64>>,
}

fn parse_dist(s: &str, wrap: bool) -> Result<IndexDist> {
    if wrap && !s.starts_with("trace:") {
        bail!("--wrap-trace applies to --dist trace:PATH");
    }
    if s == "uniform" {
        return Ok(IndexDist::Uniform);
    }
    if let Some(e) = s.strip_prefix("zipf:") {
        let exponent: f64 =
            e.parse().with_context(|| format!("--dist {s}: exponent {e:?} is not a number"))?;
        if !(exponent > 0.0 && exponent.is_finite()) {
            bail!("--dist {s}: the exponent must be positive");
        }
        return Ok(IndexDist::Zipf { exponent });
    }
    if let Some(p) = s.strip_prefix("trace:") {
        let trace = hercules_models::inputs::Trace::read(std::path::Path::new(p))?.with_wrap(wrap);
        return Ok(IndexDist::Trace(Arc::new(trace)));
    }
    bail!("--dist {s:?}: expected uniform, zipf:EXPONENT or trace:PATH")
}

/// Runs `hercules infer`.
pub fn run(args: InferArgs) -> Result<()> {
    if args.batch == 0 || args.batch > 1 << 16 {
        bail!("--batch {} must be in 1..=65536", args.batch);
    }
    let usable = hercules_kernels::pool::allowed_cores().len();
    let cuda = args.device == DeviceKind::Cuda;
    if cuda && (args.threads != 1 || args.inter_op) {
        bail!("--threads and --inter-op apply to --device cpu (one host thread drives the GPU)");
    }
    if !cuda && (args.cuda_graphs || args.tf32 || args.bf16 || args.unfused) {
        bail!("--cuda-graphs, --tf32, --bf16 and --unfused apply to --device cuda");
    }
    if args.threads == 0 || args.threads > usable {
        bail!("--threads {} must be in 1..={usable} (the cores this process may use)", args.threads);
    }
    if args.inter_op && args.threads < 2 {
        bail!("--inter-op runs the embeddings and the bottom MLP on separate threads: it needs --threads 2 or more");
    }
    let min_time = crate::args::seconds("--seconds", args.seconds)?;
    crate::args::positive("--rows-scale", args.rows_scale, 1.0, "(1 = the published size)")?;
    let input_sets = crate::args::at_least_one("--input-sets", args.input_sets)?;
    if input_sets > hercules_models::limits::MAX_INPUT_SETS {
        bail!(
            "--input-sets {input_sets} is above the harness's bound of {}",
            hercules_models::limits::MAX_INPUT_SETS
        );
    }
    args.out.check()?;
    let dist = parse_dist(&args.dist, args.wrap_trace)?;
    let spec = zoo::resolve(&args.model)?;
    let max_rows = args.max_rows.or(spec.default_max_rows);
    let scale = Scale { rows_scale: args.rows_scale, max_rows };
    let (source, weights) = match &args.weights {
        Some(p) => (WeightSource::File(TensorFile::open(p)?), p.display().to_string()),
        None => {
            let init = match args.init {
                InitArg::Deeprecsys => Init::DeepRecSys,
                InitArg::Portable => Init::Portable,
            };
            (
                WeightSource::Init { init, seed: args.seed },
                format!("{init:?} init, seed {}", args.seed).to_lowercase(),
            )
        }
    };
    if let Some(r) = max_rows {
        let why = if args.max_rows.is_some() {
            "--max-rows"
        } else {
            "the model's default; set --max-rows to change"
        };
        println!("{}: tables capped at {r} rows ({why})", spec.name);
    }
    let cfg = InferConfig {
        batch: args.batch,
        threads: args.threads,
        inter_op: args.inter_op,
        warmup: args.warmup,
        min_iters: args.min_iters.max(1),
        min_time,
        pool_sets: input_sets,
        dist,
        seed: args.seed,
        profile_iters: args.min_iters.clamp(10, 200),
    };
    let t = std::time::Instant::now();
    let built =
        if cuda { build_cuda(&args, &spec, scale, &source)? } else { build_cpu(&spec, scale, &source)? };
    let gib = built.table_bytes as f64 / (1u64 << 30) as f64;
    println!(
        "{} on {}: built in {:.1} s, tables {gib:.2} GiB (rows scale {}), weights {weights}",
        spec.name,
        built.device,
        t.elapsed().as_secs_f64(),
        args.rows_scale
    );
    let (timed, profile) = match built.backend {
        Backend::Cpu(model) => {
            if let Some(p) = &model.prefetch {
                if let Some(w) = &p.warning {
                    eprintln!("warning: {w}");
                }
                println!("{}: embedding prefetch {p}", spec.name);
            }
            let r = measure(&model, &cfg)?;
            let timed = Timed { forwards: r.forwards, latency: r.latency, samples_per_s: r.samples_per_s };
            (timed, Some((r.profile, model.prefetch.clone())))
        }
        Backend::Cuda { dev, model, mut runner } => {
            let mut inputs =
                InputPool::new(&model.spec, cfg.batch, cfg.pool_sets, cfg.dist.clone(), cfg.seed)?;
            let mut out = vec![0f32; cfg.batch * model.output_width()];
            let timed = timed_passes(&cfg, &mut inputs, |input| runner.forward(&dev, input, &mut out))?;
            if let Some(why) = runner.graph_failure() {
                println!("CUDA graphs switched themselves off: {why}");
            }
            if let (false, Some(why)) = (args.unfused, runner.epilogue_fallback()) {
                println!("some dense layers ran as SGEMM + kernel, not the cuBLASLt epilogue: {why}");
            }
            (timed, None)
        }
    };
    let mut table = Table::new([
        "model",
        "device",
        "batch",
        "threads",
        "inter-op",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "samples/s",
        "embedding %",
        "mlp %",
        "attention/rnn %",
        "interaction %",
    ]);
    let shares = profile.as_ref().map(|(p, _)| p.shares());
    let pct = |i: usize| shares.as_ref().map_or("n/a".to_string(), |s| format!("{:.1}", 100.0 * s[i].1));
    table.push([
        spec.name.clone(),
        built.device.clone(),
        args.batch.to_string(),
        args.threads.to_string(),
        if args.inter_op { "on" } else { "off" }.to_string(),
        format!("{:.3}", timed.latency.p50_ms),
        format!("{:.3}", timed.latency.p95_ms),
        format!("{:.3}", timed.latency.p99_ms),
        format!("{:.0}", timed.samples_per_s),
        pct(0),
        pct(1),
        pct(2),
        pct(3),
    ]);
    print!("{}", table.render());
    match &profile {
        Some((p, _)) => {
            println!("({} timed passes; time shares from {} profiled passes)", timed.forwards, p.forwards)
        }
        None => println!("({} timed passes; no per-operator shares on the GPU)", timed.forwards),
    }
    let report = InferReport {
        kind: "infer",
        model: spec.name.clone(),
        device: built.device,
        batch: args.batch,
        threads: args.threads,
        inter_op: args.inter_op,
        rows_scale: args.rows_scale,
        max_rows,
        table_bytes: built.table_bytes,
        dist: args.dist.clone(),
        weights,
        prefetch: profile.as_ref().and_then(|(_, d)| d.clone()),
        shares: shares.map(|s| s.iter().copied().collect()),
        profile: profile.map(|(p, _)| p),
        timed,
    };
    args.out.write(&report, &table)?;
    Ok(())
}

/// The model built for the chosen device.
enum Backend {
    Cpu(Box<Model>),
    Cuda {
        dev: hercules_gpu::Device,
        model: Arc<hercules_gpu::GpuModel>,
        runner: Box<hercules_gpu::GpuRunner>,
    },
}

/// A built model with what the report says of it.
struct Built {
    backend: Backend,
    device: String,
    table_bytes: usize,
}

fn build_cpu(spec: &hercules_models::ModelSpec, scale: Scale, source: &WeightSource) -> Result<Built> {
    let model = Model::build(spec, scale, source)?;
    Ok(Built {
        table_bytes: model.table_bytes(),
        device: "cpu".into(),
        backend: Backend::Cpu(Box::new(model)),
    })
}

/// The same spec, scale and weight source on CUDA device 0 (`hercules_gpu::GpuModel` reads the
/// tensors `Model::build` reads), with a runner sized for `--batch`.
fn build_cuda(
    args: &InferArgs,
    spec: &hercules_models::ModelSpec,
    scale: Scale,
    source: &WeightSource,
) -> Result<Built> {
    let dev = hercules_gpu::Device::open(0)?;
    let model = Arc::new(hercules_gpu::GpuModel::build(&dev, spec, scale, source)?);
    let mut runner = model.runner(&dev, args.batch)?;
    runner.set_graphs(args.cuda_graphs);
    use hercules_gpu::ceiling::GemmMath;
    let math = match (args.tf32, args.bf16) {
        (true, _) => GemmMath::Tf32,
        (_, true) => GemmMath::Bf16,
        _ => GemmMath::Fp32,
    };
    runner.set_math(math)?;
    runner.set_fused_epilogue(!args.unfused);
    let device = format!(
        "{}{}{}{}",
        dev.info().name,
        if args.cuda_graphs { ", graphs" } else { "" },
        match math {
            GemmMath::Fp32 => "",
            GemmMath::Tf32 => ", tf32",
            GemmMath::Bf16 => ", bf16",
        },
        if args.unfused { ", sgemm+kernel" } else { "" }
    );
    let runner = Box::new(runner);
    Ok(Built { table_bytes: model.table_bytes(), device, backend: Backend::Cuda { dev, model, runner } })
}
