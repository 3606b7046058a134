//! `hercules profile`: the offline stage (SPEC §5–§6). For each model, search the schedule space of
//! this machine (or of the cores it is restricted to), each evaluation a latency-bounded-throughput
//! measurement, and write one efficiency table per model.
//! The searches themselves live in `crate::search`.

use crate::args::{self, parse_duration};
use crate::engine::schedule::parse_core_list;
use crate::engine::DEEPRECSYS;
use crate::latency::Sla;
use crate::output::table::Table;
use crate::output::{now_rfc3339, OutputArgs};
use crate::power::estimated;
use crate::search::eval::{self, Evaluation, Evaluator};
use crate::search::space::{self, Space};
use crate::search::strategy::{self, Tracked};
use crate::serve::capacity::{CapacityParams, RepeatArgs};
use crate::serve::fixture::{Fixture, ServeArgs};
use crate::{ceilings, limits, output};
use anyhow::{bail, Context, Result};
use clap::Args;
use hercules_results::stats::QpsInterval;
use hercules_results::table::{
    EfficiencyTable, ModelInfo, Power, PowerSource, Provenance, ScheduleResult, Search as SearchRecord,
    SearchPoint, ServerType, TABLE_KIND, TABLE_SCHEMA_VERSION,
};
use hercules_results::{
    all_exporters, folder_name, is_folder_name, Ceilings, JsonExporter, RooflineReport, NAME_RULE,
};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// SPEC §4's SLA for a zoo model, when it has one.
pub fn default_sla(model: &str) -> Option<&'static str> {
    Some(match model {
        "ncf" => "p95:5ms",
        "wnd" | "mt-wnd" => "p95:25ms",
        "dien" => "p95:35ms",
        "dlrm-rmc1" | "dlrm-rmc3" | "din" => "p95:100ms",
        "dlrm-rmc2" => "p95:400ms",
        "mlperf-dlrm-v1" | "mlperf-dlrm-v2" => "p99:60ms",
        _ => return None,
    })
}

/// `hercules profile` arguments.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Model(s) to profile (repeatable): zoo names or spec files.
    #[arg(long, required_unless_present = "all")]
    pub model: Vec<String>,
    /// Profile the eight DeepRecSys models.
    #[arg(long, conflicts_with = "model")]
    pub all: bool,
    /// The SLA, e.g. `p95:100ms` (default: SPEC §4's target for each zoo model).
    #[arg(long)]
    pub sla: Option<String>,
    /// The search: gradient (Hercules), deeprecsched, random (the baseline), exhaustive, or all four
    /// over one shared set of measurements (the table then records the exhaustive optimum, and random
    /// gets as many evaluations as gradient made).
    #[arg(long, default_value = "gradient")]
    pub search: String,
    /// Most distinct schedules each search may evaluate.
    #[arg(long)]
    pub budget: Option<usize>,
    /// Stop measuring new schedules after this much time per model (measured points are kept).
    #[arg(long, value_parser = parse_duration)]
    pub time_budget: Option<Duration>,
    /// Sub-batch sizes the search may split queries into (no split is always a choice).
    #[arg(long, value_delimiter = ',', default_value = "32,64,128,256,512")]
    pub sub_batches: Vec<usize>,
    /// GPU offload thresholds the search may choose (queries of at least this many items go to the GPU
    /// lane; CPU-only is always a choice). Default: 64,128,256,512 when CUDA device 0 opens, else none.
    #[arg(long, value_delimiter = ',', conflicts_with = "no_gpu")]
    pub gpu_thresholds: Vec<usize>,
    /// GPU-lane stream counts the search may choose (with offload only).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub gpu_streams: Vec<usize>,
    /// Profile the CPU only, even where a GPU is found.
    #[arg(long)]
    pub no_gpu: bool,
    /// Use only these cores (e.g. `0` or `0-3+8`): a smaller server type on a large machine.
    #[arg(long)]
    pub restrict_cores: Option<String>,
    /// Server-type name recorded in the tables (default: from the CPU model, microarchitecture, core
    /// count, ISA and GPU, e.g. `amd-epyc-zen5-2c-avx512`).
    #[arg(long)]
    pub server_type: Option<String>,
    /// Price of one server of this type, recorded in the tables.
    #[arg(long)]
    pub price: Option<f64>,
    /// Directory the tables (and checkpoints) go to: `DIR/<server-type>/<model>.json`.
    #[arg(long, default_value = "results/profile")]
    pub out: PathBuf,
    /// Ignore (and replace) a checkpoint from an earlier, interrupted profile.
    #[arg(long)]
    pub fresh: bool,
    #[command(flatten)]
    pub repeat: RepeatArgs,
    /// Embed the ceilings of this `hercules roofline --json` report instead of measuring them.
    #[arg(long, conflicts_with = "no_ceilings")]
    pub roofline: Option<PathBuf>,
    /// Do not measure or embed the machine's ceilings.
    #[arg(long)]
    pub no_ceilings: bool,
    /// Scale every model's embedding rows by this factor (recorded in the tables).
    #[arg(long, default_value_t = 1.0)]
    pub rows_scale: f64,
    /// Query sizes: lognormal[:MU:SIGMA], normal[:MEAN:SD], mlperf, fixed:N, file:PATH.
    #[arg(long, default_value = "lognormal")]
    pub sizes: String,
    /// Seed for arrivals and sizes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Server idle watts (power estimate where RAPL is unreadable; recorded in the tables).
    #[arg(long, default_value_t = estimated::DEFAULT_IDLE_W)]
    pub idle_watts: f64,
    /// Server peak watts.
    #[arg(long, default_value_t = estimated::DEFAULT_PEAK_W)]
    pub peak_watts: f64,
    /// Longest measured time per trial.
    #[arg(long, default_value = "6s", value_parser = parse_duration)]
    pub trial_duration: Duration,
    /// Early stopping waits for this much measured time...
    #[arg(long, default_value = "1500ms", value_parser = parse_duration)]
    pub min_duration: Duration,
    /// ...and this many measured queries.
    #[arg(long, default_value_t = 600)]
    pub min_queries: usize,
    /// Warm-up per trial.
    #[arg(long, default_value = "300ms", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Bisection stops at this relative gap between passing and failing rates.
    #[arg(long, default_value_t = 0.03)]
    pub tolerance: f64,
    /// Most trials per evaluation.
    #[arg(long, default_value_t = 14)]
    pub max_trials: usize,
    /// Write the summary table as JSON / CSV too.
    #[command(flatten)]
    pub summary: OutputArgs,
}

/// Highest price of one server `--price` accepts: far above any server, low enough to stay exact.
const MAX_PRICE: f64 = 1e9;

/// Most GPU-lane streams `--gpu-streams` accepts: each is a host thread with its own CUDA stream and
/// pinned buffers on the schedule's cores.
const MAX_GPU_STREAMS: usize = 64;

impl ProfileArgs {
    /// Checks every numeric flag (and the server-type name) before anything is measured: each bad
    /// value is a one-line error naming its flag.
    fn check(&self) -> Result<()> {
        if let Some(b) = self.budget {
            args::at_least_one("--budget", b)?;
        }
        if let Some(t) = self.time_budget {
            args::positive("--time-budget", t.as_secs_f64(), limits::MAX_DURATION.as_secs_f64(), "seconds")?;
        }
        // A sub-batch or threshold past the largest query would only repeat a schedule already in
        // the grid (no split, CPU only).
        let max_size = crate::load::sizes::MAX_SIZE as f64;
        for &b in &self.sub_batches {
            args::in_range("--sub-batches", b as f64, 1.0, max_size, "items")?;
        }
        for &t in &self.gpu_thresholds {
            args::in_range("--gpu-thresholds", t as f64, 1.0, max_size, "items")?;
        }
        for &n in &self.gpu_streams {
            args::in_range("--gpu-streams", n as f64, 1.0, MAX_GPU_STREAMS as f64, "streams")?;
        }
        if let Some(p) = self.price {
            args::in_range("--price", p, 0.0, MAX_PRICE, "per server")?;
        }
        args::positive("--rows-scale", self.rows_scale, 1.0, "(1 = the published size)")?;
        let idle = args::in_range("--idle-watts", self.idle_watts, 0.0, limits::MAX_WATTS, "W")?;
        args::in_range(
            "--peak-watts",
            self.peak_watts,
            idle,
            limits::MAX_WATTS,
            "W (at least --idle-watts)",
        )?;
        if let Some(s) = &self.server_type {
            check_server_type(s)?;
        }
        self.repeat.params(3)?;
        Ok(())
    }
}

/// The capacity measurement's settings for one model under `sla`.
fn capacity_params(a: &ProfileArgs, sla: Sla) -> CapacityParams {
    CapacityParams {
        sla,
        seed: a.seed,
        warmup: a.warmup,
        start_qps: None,
        min_qps: 0.5,
        max_qps: None,
        tolerance: a.tolerance,
        max_trials: a.max_trials,
        trial_duration: a.trial_duration,
        min_duration: a.min_duration,
        min_queries: a.min_queries,
        calibrate: Duration::from_secs(1),
    }
}

/// A server-type name is a directory under `--out`, so it follows the results' folder-name rule
/// ([`is_folder_name`]), which `merge` checks again: it can never name a path outside `--out`.
fn check_server_type(name: &str) -> Result<()> {
    if !is_folder_name(name) {
        bail!(
            "--server-type `{}`: a server type is {NAME_RULE}: it names a directory under --out",
            name.escape_debug()
        );
    }
    Ok(())
}

/// What one search found, for the summary and `<model>.searches.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SearchSummary {
    /// The search.
    pub algorithm: String,
    /// Distinct schedules it evaluated.
    pub evaluations: usize,
    /// How many of those were measured for it (the rest came from earlier searches or a checkpoint).
    pub measured: usize,
    /// Its best schedule.
    pub best_schedule: String,
    /// Its best latency-bounded QPS.
    pub best_qps: f64,
    /// Best QPS over the exhaustive optimum (when exhaustive ran over the whole grid).
    pub of_optimum: Option<f64>,
    /// Evaluations over the exhaustive search's (when it ran over the whole grid).
    pub evaluations_of_exhaustive: Option<f64>,
    /// Its best schedule's median and interval over repeated trials.
    pub interval: Option<QpsInterval>,
    /// Whether its best differs significantly from the exhaustive optimum (the intervals do not
    /// overlap); `None` for exhaustive itself or when either has no interval.
    pub significant_vs_optimum: Option<bool>,
}

/// The per-model comparison written beside the table.
#[derive(Debug, Serialize)]
struct SearchComparison {
    kind: &'static str,
    model: String,
    server_type: String,
    sla: String,
    space_size: usize,
    default_schedule: String,
    default_qps: f64,
    searches: Vec<SearchSummary>,
    /// Why the optimum is unknown, when exhaustive ran but stopped before the end of the grid.
    #[serde(skip_serializing_if = "Option::is_none")]
    optimum_unknown: Option<String>,
    note: &'static str,
}

/// A filesystem-friendly name from the CPU model, microarchitecture, core count, widest ISA the
/// kernels use and GPU short name, e.g. `amd-epyc-zen5-2c-avx512` or
/// `intel-xeon-8480-sapphirerapids-112c-avx512-h100`: always a valid server type (see
/// [`check_server_type`]), whatever the machine reports. Virtual machines often report only
/// `AMD EPYC`, so the microarchitecture is what tells two such hosts apart.
fn server_type_name(
    cpu_model: &str,
    uarch: Option<&str>,
    cores: usize,
    isa: &str,
    gpu: Option<&str>,
) -> String {
    let skip = ["r", "tm", "cpu", "processor", "core", "with", "radeon", "graphics"];
    // The clock after `@` is not part of the name.
    let name = cpu_model.split('@').next().unwrap_or_default();
    let mut words: Vec<String> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(str::to_ascii_lowercase)
        .filter(|w| !w.is_empty() && !skip.contains(&w.as_str()))
        .take(3)
        // Short words keep the core count, ISA and GPU within the length limit.
        .map(|w| w.chars().take(12).collect())
        .collect();
    if words.is_empty() {
        words.push("cpu".into());
    }
    if let Some(u) = uarch.filter(|u| !words.iter().any(|w| w == u)) {
        words.push(u.chars().take(16).collect());
    }
    words.push(format!("{cores}c"));
    words.extend([isa, gpu.unwrap_or_default()].iter().filter(|w| !w.is_empty()).map(|w| w.to_string()));
    folder_name(&words.join("-"), "cpu")
}

/// The GPU side of the schedule space: offload thresholds, stream counts, and the GPU's short name
/// for the server type (none for a CPU-only profile or a host stand-in lane).
#[derive(Debug, Clone, Default)]
struct GpuPlan {
    thresholds: Vec<usize>,
    streams: Vec<usize>,
    gpu_name: Option<String>,
}

/// Short name of a GPU for server types: `NVIDIA H100 80GB HBM3` → `h100`.
fn gpu_short_name(name: &str) -> String {
    let w: Vec<String> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(str::to_ascii_lowercase)
        .filter(|w| !w.is_empty() && !["nvidia", "tesla", "geforce"].contains(&w.as_str()))
        .take(1)
        .map(|w| w.chars().take(12).collect())
        .collect();
    if w.is_empty() {
        "gpu".into()
    } else {
        w.join("-")
    }
}

/// Decides the GPU knobs: none with `--no-gpu`; the given thresholds (which need a device unless every
/// model is a built-in test model, whose lane is a host stand-in); by default, thresholds when CUDA
/// device 0 opens.
fn gpu_plan(a: &ProfileArgs, models: &[String]) -> Result<GpuPlan> {
    // Built-in test models have no GPU build: their lane is a host stand-in, used only when asked.
    let zoo = models.iter().any(|m| crate::engine::builtin(m).is_none());
    if a.no_gpu || (a.gpu_thresholds.is_empty() && !zoo) {
        return Ok(GpuPlan::default());
    }
    let streams = a.gpu_streams.clone();
    if !zoo {
        return Ok(GpuPlan { thresholds: a.gpu_thresholds.clone(), streams, gpu_name: None });
    }
    let dev = match hercules_gpu::Device::open(0) {
        Ok(d) => d,
        Err(_) if a.gpu_thresholds.is_empty() => return Ok(GpuPlan::default()),
        Err(e) => bail!("--gpu-thresholds: {e}"),
    };
    let thresholds =
        if a.gpu_thresholds.is_empty() { vec![64, 128, 256, 512] } else { a.gpu_thresholds.clone() };
    eprintln!("GPU {}: the search also chooses offload thresholds {thresholds:?}", dev.info().name);
    Ok(GpuPlan { thresholds, streams, gpu_name: Some(gpu_short_name(&dev.info().name)) })
}

fn ceilings(a: &ProfileArgs, host: &hercules_results::HostFingerprint) -> Result<Option<Ceilings>> {
    if a.no_ceilings {
        return Ok(None);
    }
    if let Some(p) = &a.roofline {
        let text = hercules_results::read_text_bounded(p, hercules_results::MAX_DOCUMENT_BYTES)
            .with_context(|| format!("--roofline {}", p.display()))?;
        let r: RooflineReport = hercules_results::parse_document(&text, p)
            .context("--roofline: not a `hercules roofline --json` report")?;
        if r.host.cpu_model != host.cpu_model {
            bail!(
                "--roofline {}: measured on `{}`, this is `{}`",
                p.display(),
                r.host.cpu_model,
                host.cpu_model
            );
        }
        return Ok(Some(r.ceilings));
    }
    eprintln!("profile: measuring the machine's ceilings (skip with --no-ceilings or reuse with --roofline)");
    let opts = ceilings::RooflineOpts {
        threads: ceilings::thread_counts(crate::host::max_threads(None)?),
        repeats: 3,
        quick: false,
    };
    Ok(Some(ceilings::measure(&opts, host, &ceilings::pools(&opts)?)?))
}

/// Runs `hercules profile`.
pub fn run(a: ProfileArgs) -> Result<()> {
    let models: Vec<String> =
        if a.all { DEEPRECSYS.iter().map(|s| s.to_string()).collect() } else { a.model.clone() };
    let searches: Vec<&str> = match a.search.as_str() {
        "all" => vec!["gradient", "deeprecsched", "random", "exhaustive"],
        s if strategy::by_name(s).is_some() => vec![s],
        s => bail!("--search `{s}` is unknown (gradient, deeprecsched, random, exhaustive, all)"),
    };
    a.check()?;
    // Check every model, its SLA and the measurement settings before hours of measuring start.
    let params: Vec<CapacityParams> = models
        .iter()
        .map(|m| {
            if crate::engine::builtin(m).is_none() {
                hercules_models::zoo::resolve(m)?;
            }
            let s = a.sla.as_deref().or_else(|| default_sla(m)).with_context(|| {
                format!("model `{m}` has no default SLA in SPEC §4: give one with --sla (e.g. p95:10ms)")
            })?;
            let p = capacity_params(&a, Sla::parse(s)?);
            p.check()?;
            Ok(p)
        })
        .collect::<Result<_>>()?;
    let gpu = gpu_plan(&a, &models)?;
    let restrict =
        a.restrict_cores.as_deref().map(parse_core_list).transpose().context("--restrict-cores")?;
    if let Some(r) = &restrict {
        // The fixture checks this too, but only after the ceilings are measured.
        let usable = hercules_kernels::pool::allowed_cores();
        if let Some(c) = r.iter().find(|c| !usable.contains(c)) {
            bail!("--restrict-cores: core {c} is not usable by this process ({usable:?})");
        }
    }
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("--out {}: cannot create it", a.out.display()))?;
    a.summary.check()?;

    let host = crate::host::fingerprint();
    let ceilings = ceilings(&a, &host)?;
    let mut summary = Table::new([
        "model",
        "server",
        "sla",
        "search",
        "best schedule",
        "qps",
        "default qps",
        "speedup",
        "evals",
        "of optimum",
    ]);
    let mut all_rows: Vec<(String, SearchSummary)> = Vec::new();
    let mut unknown_optima = Vec::new();
    for (model, params) in models.iter().zip(params) {
        let serve = ServeArgs {
            model: model.clone(),
            rows_scale: a.rows_scale,
            schedule: String::new(),
            sizes: a.sizes.clone(),
            seed: a.seed,
            warmup: a.warmup,
            spin_us: 100,
            generator_core: None,
            realtime: false,
            idle_watts: a.idle_watts,
            peak_watts: a.peak_watts,
            out: OutputArgs { json: None, csv: None },
        };
        let sla = params.sla;
        let out = profile_model(&a, &serve, &params, restrict.as_deref(), &searches, ceilings.clone(), &gpu)
            .with_context(|| format!("profile {model}"))?;
        for s in &out.searches {
            summary.push([
                model.clone(),
                out.table.server_type.name.clone(),
                sla.to_string(),
                s.algorithm.clone(),
                s.best_schedule.clone(),
                format!("{:.1}", s.best_qps),
                format!("{:.1}", out.table.default_schedule.latency_bounded_qps),
                format!("{:.2}", s.best_qps / out.table.default_schedule.latency_bounded_qps.max(1e-9)),
                format!("{}/{}", s.evaluations, out.space_size),
                match (s.of_optimum, &out.optimum_unknown) {
                    (Some(f), _) => format!("{:.1}%", 100.0 * f),
                    (None, Some(_)) => "unknown".into(),
                    (None, None) => "-".into(),
                },
            ]);
            all_rows.push((model.clone(), s.clone()));
        }
        println!("{}: table written to {}", model, out.path.display());
        if let Some(why) = &out.optimum_unknown {
            unknown_optima.push(format!("{model}: {why}"));
        }
    }
    print!("{}", summary.render());
    for line in unknown_optima {
        println!("{line}");
    }
    a.summary.write(&all_rows, &summary)
}

/// One search's run over the shared measurements.
struct Ran {
    name: String,
    trace: Vec<(space::Point, f64)>,
    best: Option<(space::Point, f64)>,
    measured: usize,
}

/// What profiling one model produced.
struct Profiled {
    table: EfficiencyTable,
    path: PathBuf,
    searches: Vec<SearchSummary>,
    space_size: usize,
    /// Why the optimum is unknown (exhaustive ran but did not cover the grid).
    optimum_unknown: Option<String>,
}

fn profile_model(
    a: &ProfileArgs,
    serve: &ServeArgs,
    params: &CapacityParams,
    restrict: Option<&[usize]>,
    searches: &[&str],
    ceilings: Option<Ceilings>,
    gpu: &GpuPlan,
) -> Result<Profiled> {
    let started = Instant::now();
    let mut fixture = Fixture::new(serve, restrict)?;
    let space = Space::new(fixture.cores.len(), &a.sub_batches, &gpu.thresholds, &gpu.streams);
    let server = match &a.server_type {
        Some(s) => s.clone(),
        None => server_type_name(
            &fixture.host.cpu_model,
            crate::host::microarch(),
            fixture.cores.len(),
            &hercules_kernels::Isa::best().to_string(),
            gpu.gpu_name.as_deref(),
        ),
    };
    // Checked in `run` when given; the derived name is sanitised, so this only guards a regression.
    check_server_type(&server)?;
    let dir = a.out.join(&server);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stem: String = Path::new(&serve.model)
        .file_stem()
        .and_then(|s| s.to_str())
        .map_or_else(|| "model".into(), |s| folder_name(s, "model"));
    let checkpoint = dir.join(format!("{stem}.checkpoint.json"));
    let key = eval::Key::new(serve, params, &fixture.cores, &fixture.host)?;
    let rp = a.repeat.params(3)?;
    let mut evaluator = Evaluator::open(&checkpoint, key, a.fresh, a.time_budget, rp)?;
    let budget = a.budget.unwrap_or(usize::MAX);
    let grid = space.all().len();
    let total: usize = searches.len() * grid.min(budget);
    let bar = output::progress::bar(total as u64, "schedules");
    eprintln!(
        "profile {} on {server} ({} cores: {:?}) under {}: {} schedules in the grid, search {}",
        serve.model,
        fixture.cores.len(),
        fixture.cores,
        params.sla,
        grid,
        searches.join(" + ")
    );

    // The default schedule is the baseline every table reports, searched or not: measured first, so
    // a time budget spent by the search cannot leave a table without it.
    let default = space.default_point();
    let default_eval = {
        strategy::Objective::eval(&mut evaluator.objective(&mut fixture, &space, params, &bar), &default)?;
        evaluator.get(&space.schedule(&default))
    };
    let mut results = Vec::new();
    for name in searches {
        let s = strategy::by_name(name).expect("checked names");
        let measured_before = evaluator.measured();
        // Random is the same-budget baseline: as many evaluations as the gradient search made.
        let own_budget = match results.iter().find(|r: &&Ran| r.name == "gradient") {
            Some(g) if *name == "random" => g.trace.len().clamp(1, budget),
            _ => budget,
        };
        let (trace, best) = {
            let mut objective = evaluator.objective(&mut fixture, &space, params, &bar);
            let mut t = Tracked::new(&mut objective, own_budget);
            s.run(&space, &mut t)?;
            (t.trace().to_vec(), t.best())
        };
        results.push(Ran {
            name: s.name().into(),
            trace,
            best,
            measured: evaluator.measured() - measured_before,
        });
        if evaluator.interrupted() {
            break;
        }
    }
    bar.finish_and_clear();
    if evaluator.interrupted() {
        bail!(
            "interrupted (Ctrl-C) after {} measured schedules; they are in {}: run the same command to resume",
            evaluator.measured_total(),
            checkpoint.display()
        );
    }
    let Some(default_eval) = default_eval else {
        bail!("the time budget ran out before the default schedule was measured; raise --time-budget");
    };

    // Only an exhaustive search that covered the whole grid knows the optimum.
    let exhaustive = results.iter().find(|r| r.name == "exhaustive");
    let optimum_unknown = exhaustive.filter(|r| r.trace.len() < grid).map(|r| {
        let at = if r.trace.len() >= budget { "budget" } else { "the time budget" };
        format!("exhaustive stopped at {at}: {} of {grid} schedules, optimum unknown", r.trace.len())
    });
    let exhaustive_evals = exhaustive.filter(|_| optimum_unknown.is_none()).map(|r| r.trace.len());
    let exhaustive_ix =
        results.iter().position(|r| r.name == "exhaustive").filter(|_| optimum_unknown.is_none());
    // The default and each search's best are measured until each has `--repeats` accepted samples,
    // so the table's and the comparison's figures are medians with intervals.
    let mut finalists = vec![default];
    for p in results.iter().filter_map(|r| r.best.map(|b| b.0)) {
        if !finalists.contains(&p) {
            finalists.push(p);
        }
    }
    // Schedules that already hold enough accepted samples (an earlier run's finalists, from the
    // checkpoint) stay finalists: their medians cost nothing, and a resumed run then ranks as the
    // first one did instead of by the single first trial each search reads.
    let settled = |p: &space::Point| {
        evaluator.get(&space.schedule(p)).is_some_and(|e| e.accepted().count() >= rp.repeats)
    };
    for (p, _) in results.iter().flat_map(|r| r.trace.iter()) {
        if !finalists.contains(p) && settled(p) {
            finalists.push(*p);
        }
    }
    eprintln!("profile: re-measuring {} finalists to {} accepted trials each", finalists.len(), rp.repeats);
    for p in &finalists {
        evaluator.objective(&mut fixture, &space, params, &bar).settle(p, rp.repeats)?;
    }
    if evaluator.interrupted() {
        bail!(
            "interrupted (Ctrl-C) while re-measuring the finalists; the measurements are in {}: run the same command to resume",
            checkpoint.display()
        );
    }
    let interval_of = |p: &space::Point| {
        evaluator.get(&space.schedule(p)).and_then(|e| e.interval(rp.confidence, params.tolerance))
    };
    // A re-measured schedule's median latency-bounded QPS (0 when it met the SLA at no rate).
    let settled_median = |p: &space::Point| {
        evaluator
            .get(&space.schedule(p))
            .filter(|e| e.met_sla)
            .and_then(|_| interval_of(p))
            .map_or(0.0, |i| i.median)
    };
    // Exhaustive measured every finalist too: once they are re-measured, its optimum is the finalist
    // with the highest median, whichever search proposed it (its first trials may have misranked two
    // schedules within the noise).
    if let Some(ix) = exhaustive_ix {
        let top = finalists
            .iter()
            .map(|p| (*p, settled_median(p)))
            .filter(|t| t.1 > 0.0)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let current = results[ix].best.map_or(0.0, |b| settled_median(&b.0));
        if let Some((p, m)) = top.filter(|t| t.1 > current) {
            results[ix].best = Some((p, m));
        }
    }
    let exhaustive = exhaustive_ix.map(|ix| &results[ix]);
    // A search's figure: the median of its best point's accepted samples (0 when it met the SLA at no rate).
    let median_of = |r: &Ran| r.best.map_or(0.0, |b| settled_median(&b.0));
    let exhaustive_best = exhaustive.map(median_of);
    let exhaustive_interval = exhaustive.and_then(|r| r.best).and_then(|b| interval_of(&b.0));
    let summaries: Vec<SearchSummary> = results
        .iter()
        .map(|r| {
            let bp = r.best.map_or(default, |b| b.0);
            let best_qps = median_of(r);
            let interval = r.best.and_then(|b| interval_of(&b.0));
            let significant_vs_optimum = interval
                .as_ref()
                .zip(exhaustive_interval.as_ref())
                .filter(|_| r.name != "exhaustive")
                .map(|(i, e)| i.separated_from(e));
            SearchSummary {
                algorithm: r.name.clone(),
                evaluations: r.trace.len(),
                measured: r.measured,
                best_schedule: space.schedule(&bp).to_string(),
                best_qps,
                of_optimum: exhaustive_best.filter(|&e| e > 0.0).map(|e| best_qps / e),
                evaluations_of_exhaustive: exhaustive_evals.map(|e| r.trace.len() as f64 / e as f64),
                interval,
                significant_vs_optimum,
            }
        })
        .collect();
    // The table records the search whose best has the highest median (exhaustive on a tie: it names
    // the optimum); a best that met the SLA at no rate leaves the default as the table's best.
    let winner = results
        .iter()
        .max_by(|x, y| {
            median_of(x)
                .total_cmp(&median_of(y))
                .then((x.name == "exhaustive").cmp(&(y.name == "exhaustive")))
        })
        .context("no search ran")?;
    let (algo, trace) = (&winner.name, &winner.trace);
    let searched = winner.best.filter(|_| median_of(winner) > 0.0).map_or(default, |b| b.0);
    // Both finalists were re-measured: when the default's median beats the search's pick, the
    // default is the best schedule this run knows.
    let default_won = settled_median(&default) > settled_median(&searched);
    let best_point = if default_won { default } else { searched };
    let trace_evals: Vec<Evaluation> =
        trace.iter().filter_map(|(p, _)| evaluator.get(&space.schedule(p))).collect();
    let default_eval = evaluator.get(&space.schedule(&default)).unwrap_or(default_eval);
    let best_eval = evaluator.get(&space.schedule(&best_point)).unwrap_or_else(|| default_eval.clone());
    if !best_eval.met_sla {
        eprintln!(
            "warning: {} misses {} on every schedule tried here, even at the lowest rate: its table reports 0 QPS",
            serve.model, params.sla
        );
    }

    let stats = model_info(&serve.model, serve.rows_scale)?;
    let mut notes = vec![format!(
        "{} cores ({:?}); the load generator {}",
        fixture.cores.len(),
        fixture.cores,
        if fixture.cores.len() >= fixture.host.usable_cpus.len() {
            "shares a core with the instances when every core is scheduled"
        } else {
            "runs on a core outside the restricted set"
        }
    )];
    if let Some(why) = &optimum_unknown {
        notes.push(why.clone());
    }
    if default_won {
        let why = format!(
            "re-measured, the default beat {algo}'s pick {}: the best is the default",
            space.schedule(&searched)
        );
        eprintln!("profile: {why}");
        notes.push(why);
    }
    if a.search == "all" {
        notes.push(
            "searches gradient, deeprecsched, random (at the gradient's evaluation count) and \
             exhaustive ran over one shared set of measurements; see the .searches.json beside this table"
                .into(),
        );
    }
    let power = best_eval.power.clone().filter(|p| p.watts.is_finite()).unwrap_or_else(|| Power {
        watts: a.idle_watts,
        source: PowerSource::Estimated,
        detail: "no passing trial to measure: the server's idle watts".into(),
    });
    let table = EfficiencyTable {
        schema_version: TABLE_SCHEMA_VERSION,
        kind: TABLE_KIND.into(),
        host: fixture.host.clone(),
        server_type: ServerType {
            name: server.clone(),
            idle_watts: a.idle_watts,
            peak_watts: a.peak_watts,
            price: a.price,
            restricted_cores: restrict.map(|_| fixture.cores.clone()),
        },
        ceilings,
        model: stats,
        sla: hercules_results::table::Sla {
            percentile: params.sla.percentile,
            target_ms: params.sla.target.as_secs_f64() * 1e3,
        },
        query_sizes: fixture.sizes.clone(),
        search: SearchRecord {
            algorithm: algo.clone(),
            evaluations: trace.len(),
            budget: budget.min(grid),
            wall_seconds: started.elapsed().as_secs_f64(),
            trace: trace_evals.iter().map(Evaluation::search_point).collect::<Vec<SearchPoint>>(),
        },
        best: best_eval.result(rp.confidence, params.tolerance),
        default_schedule: default_eval.result(rp.confidence, params.tolerance),
        power,
        counters: best_eval.counters.clone(),
        curve: best_eval.curve.clone(),
        default_curve: default_eval.curve.clone(),
        synthetic: false,
        measured_at: now_rfc3339(),
        notes,
        provenance: Some(Provenance::new(&fixture.host, std::env::args().collect::<Vec<_>>().join(" "))),
        modelled: None,
    };
    table.validate().map_err(|e| anyhow::anyhow!("the table this profile made is invalid: {e}"))?;
    let path = dir.join(format!("{stem}.json"));
    for e in all_exporters() {
        for (name, text) in e.files(&table, &stem) {
            output::write_atomic(&dir.join(name), text.as_bytes())?;
        }
    }
    let comparison = SearchComparison {
        kind: "search-comparison",
        model: serve.model.clone(),
        server_type: server,
        sla: params.sla.to_string(),
        space_size: grid,
        default_schedule: default_eval.schedule.to_string(),
        default_qps: default_eval.qps,
        searches: summaries.clone(),
        optimum_unknown: optimum_unknown.clone(),
        note: "evaluations = distinct schedules a search asked for; each is a latency-bounded-throughput \
               measurement, made once and shared by the searches that ask for it",
    };
    output::write_export(&dir.join(format!("{stem}.searches.json")), &JsonExporter, &comparison)?;
    Ok(Profiled { table, path, searches: summaries, space_size: grid, optimum_unknown })
}

/// The model as the table records it: name, scale, table bytes and parameters.
fn model_info(name: &str, rows_scale: f64) -> Result<ModelInfo> {
    let Ok(spec) = hercules_models::zoo::resolve(name) else {
        // A built-in test model (noop, sleep:...) has no tables.
        return Ok(ModelInfo { name: name.into(), rows_scale, row_cap: None, table_bytes: 0, params: 0 });
    };
    let scale = hercules_models::Scale { rows_scale, max_rows: spec.default_max_rows };
    let scaled = spec.scaled(scale)?;
    let s = hercules_models::stats::stats(&scaled);
    let entries: u64 = scaled.tables.iter().map(|g| g.count as u64 * g.rows * g.dim as u64).sum();
    Ok(ModelInfo {
        name: name.into(),
        rows_scale,
        row_cap: spec.default_max_rows,
        table_bytes: s.table_bytes,
        params: entries + s.dense_weight_bytes / 4,
    })
}

impl Evaluation {
    /// The table's figures: with samples, the median sample's rate and latencies, the interval
    /// over the accepted samples and the median sample's tail interval.
    fn result(&self, confidence: f64, tolerance: f64) -> ScheduleResult {
        let interval = self.interval(confidence, tolerance).filter(|i| i.trials.len() > 1);
        let m = self.median_sample();
        ScheduleResult {
            schedule: self.schedule.clone(),
            latency_bounded_qps: interval.as_ref().map_or(self.qps, |i| i.median),
            p50_ms: m.map_or(self.p50_ms, |s| s.p50_ms),
            p95_ms: m.map_or(self.p95_ms, |s| s.p95_ms),
            p99_ms: m.map_or(self.p99_ms, |s| s.p99_ms),
            achieved_qps: m.map_or(self.achieved_qps, |s| s.achieved_qps),
            interval,
            tail: m.and_then(|s| s.tail.clone()),
        }
    }

    fn search_point(&self) -> SearchPoint {
        SearchPoint {
            schedule: self.schedule.clone(),
            qps: self.qps,
            p50_ms: self.p50_ms,
            p95_ms: self.p95_ms,
            p99_ms: self.p99_ms,
            met_sla: self.met_sla,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hercules_results::MAX_NAME_LEN;

    #[test]
    fn server_type_names_are_short_and_stable() {
        let xeon = "Intel(R) Xeon(R) Processor @ 2.10GHz";
        assert_eq!(
            server_type_name(xeon, Some("emeraldrapids"), 2, "avx512", None),
            "intel-xeon-emeraldrapids-2c-avx512"
        );
        assert_eq!(server_type_name("AMD EPYC", Some("zen1"), 2, "avx2", None), "amd-epyc-zen1-2c-avx2");
        assert_eq!(
            server_type_name("AMD EPYC 9454P 48-Core Processor", Some("zen4"), 48, "avx512", Some("h100")),
            "amd-epyc-9454p-zen4-48c-avx512-h100"
        );
        assert_eq!(
            server_type_name("AMD EPYC Zen4", Some("zen4"), 2, "avx512", None),
            "amd-epyc-zen4-2c-avx512"
        );
        assert_eq!(server_type_name("", None, 1, "scalar", None), "cpu-1c-scalar");
        assert_eq!(gpu_short_name("NVIDIA H100 80GB HBM3"), "h100");
        assert_eq!(gpu_short_name("NVIDIA H200"), "h200");
        assert_eq!(gpu_short_name(""), "gpu");
    }

    #[test]
    fn server_type_names_stay_inside_out() {
        for bad in
            ["", ".", "..", "../../../etc/evil", "a/b", "a b", "é", "x\n", &"a".repeat(MAX_NAME_LEN + 1)]
        {
            let e = check_server_type(bad).unwrap_err().to_string();
            assert!(e.starts_with("--server-type `") && !e.contains('\n'), "{e}");
        }
        for good in ["tiny-1c", "A.b_c-9", "...", "a:b", &"a".repeat(MAX_NAME_LEN)] {
            check_server_type(good).unwrap();
        }
        // Whatever the machine reports, the derived name is a valid server type.
        let long = "Ünïcode/../..\\ ".repeat(40) + &"x".repeat(300);
        let gpu = gpu_short_name(&long);
        for cpu in ["", "..", "/", &long] {
            for g in [None, Some(gpu.as_str()), Some("..")] {
                let n = server_type_name(cpu, Some(cpu), usize::MAX, "avx512", g);
                check_server_type(&n).unwrap_or_else(|e| panic!("{n}: {e}"));
            }
        }
    }

    #[test]
    fn every_deeprecsys_model_has_an_sla() {
        for m in DEEPRECSYS {
            let s = default_sla(m).unwrap();
            Sla::parse(s).unwrap();
        }
        assert!(default_sla("noop").is_none());
    }
}
