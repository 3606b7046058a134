//! `hercules profile`: the offline stage (SPEC §5–§6). For each model, search the schedule space of
//! this machine (or of the cores it is restricted to), each evaluation a latency-bounded-throughput
//! measurement, and write one efficiency table per model.
//! The searches themselves live in `crate::search`.

use crate::args::parse_duration;
use crate::engine::schedule::parse_core_list;
use crate::latency::Sla;
use crate::output::table::Table;
use crate::output::{now_rfc3339, OutputArgs};
use crate::power::estimated;
use crate::search::eval::{self, Evaluation, Evaluator};
use crate::search::space::{self, Space};
use crate::search::strategy::{self, Tracked};
use crate::serve::capacity::CapacityParams;
use crate::serve::fixture::{Fixture, ServeArgs};
use crate::{ceilings, output};
use anyhow::{bail, Context, Result};
use clap::Args;
use hercules_results::table::{
    EfficiencyTable, ModelInfo, Power, PowerSource, ScheduleResult, Search as SearchRecord, SearchPoint,
    ServerType, TABLE_KIND, TABLE_SCHEMA_VERSION,
};
use hercules_results::{all_exporters, Ceilings, RooflineReport};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The eight DeepRecSys models `--all` profiles.
pub const DEEPRECSYS: &[&str] =
    &["dlrm-rmc1", "dlrm-rmc2", "dlrm-rmc3", "wnd", "mt-wnd", "ncf", "din", "dien"];

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
    /// The search: gradient (Hercules), deeprecsched, exhaustive, or all three over one shared set of
    /// measurements (the table then records the exhaustive optimum).
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
    /// Server-type name recorded in the tables (default: from the CPU model and core count).
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
    /// Best QPS over the exhaustive optimum (when exhaustive ran).
    pub of_optimum: Option<f64>,
    /// Evaluations over the exhaustive search's.
    pub evaluations_of_exhaustive: Option<f64>,
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
    note: &'static str,
}

/// A filesystem-friendly name from the CPU model and core count, e.g. `intel-xeon-2c`.
fn server_type_name(cpu_model: &str, cores: usize) -> String {
    let skip = ["r", "tm", "cpu", "processor", "core", "with", "radeon", "graphics"];
    // The clock after `@` is not part of the name.
    let name = cpu_model.split('@').next().unwrap_or_default();
    let words: Vec<String> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(str::to_ascii_lowercase)
        .filter(|w| !w.is_empty() && !skip.contains(&w.as_str()))
        .take(3)
        .collect();
    let base = if words.is_empty() { "cpu".to_string() } else { words.join("-") };
    format!("{base}-{cores}c")
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
    if a.gpu_thresholds.contains(&0) || a.gpu_streams.contains(&0) {
        bail!("--gpu-thresholds/--gpu-streams: values must be at least 1");
    }
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
        let text = std::fs::read_to_string(p).with_context(|| format!("--roofline {}", p.display()))?;
        let r: RooflineReport = serde_json::from_str(&text).with_context(|| {
            format!("--roofline {}: not a `hercules roofline --json` report", p.display())
        })?;
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
        "all" => vec!["gradient", "deeprecsched", "exhaustive"],
        s if strategy::by_name(s).is_some() => vec![s],
        s => bail!("--search `{s}` is unknown (gradient, deeprecsched, exhaustive, all)"),
    };
    if a.budget == Some(0) {
        bail!("--budget must be at least 1");
    }
    if a.sub_batches.contains(&0) {
        bail!("--sub-batches: sizes must be at least 1");
    }
    if let Some(p) = a.price.filter(|p| !(p.is_finite() && *p >= 0.0)) {
        bail!("--price {p} must be a non-negative number");
    }
    // Check every model and its SLA before hours of measuring start.
    let slas: Vec<Sla> = models
        .iter()
        .map(|m| {
            if crate::engine::builtin(m).is_none() {
                hercules_models::zoo::resolve(m)?;
            }
            let s = a.sla.as_deref().or_else(|| default_sla(m)).with_context(|| {
                format!("model `{m}` has no default SLA in SPEC §4: give one with --sla (e.g. p95:10ms)")
            })?;
            Ok(Sla::parse(s)?)
        })
        .collect::<Result<_>>()?;
    let gpu = gpu_plan(&a, &models)?;
    let restrict =
        a.restrict_cores.as_deref().map(parse_core_list).transpose().context("--restrict-cores")?;
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
    for (model, sla) in models.iter().zip(slas) {
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
        let params = CapacityParams {
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
        };
        params.check()?;
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
                s.of_optimum.map_or("-".into(), |f| format!("{:.1}%", 100.0 * f)),
            ]);
            all_rows.push((model.clone(), s.clone()));
        }
        println!("{}: table written to {}", model, out.path.display());
    }
    print!("{}", summary.render());
    if let Some(p) = &a.summary.csv {
        output::write_atomic(p, summary.to_csv().as_bytes())?;
    }
    if let Some(p) = &a.summary.json {
        output::write_json(p, &all_rows)?;
    }
    Ok(())
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
    let server = a.server_type.clone().unwrap_or_else(|| {
        let cpu = server_type_name(&fixture.host.cpu_model, fixture.cores.len());
        gpu.gpu_name.as_ref().map_or(cpu.clone(), |g| format!("{cpu}-{g}"))
    });
    let dir = a.out.join(&server);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stem: String = Path::new(&serve.model)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' })
        .collect();
    let checkpoint = dir.join(format!("{stem}.checkpoint.json"));
    let key = eval::Key::new(serve, params, &fixture.cores, &fixture.host);
    let mut evaluator = Evaluator::open(&checkpoint, key, a.fresh, a.time_budget)?;
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

    let mut results = Vec::new();
    for name in searches {
        let s = strategy::by_name(name).expect("checked names");
        let measured_before = evaluator.measured();
        let (trace, best) = {
            let mut objective = evaluator.objective(&mut fixture, &space, params, &bar);
            let mut t = Tracked::new(&mut objective, budget);
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
    // The default schedule is the baseline every table reports, searched or not.
    let default = space.default_point();
    let default_eval = {
        strategy::Objective::eval(&mut evaluator.objective(&mut fixture, &space, params, &bar), &default)?;
        evaluator.get(&space.schedule(&default))
    };
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

    let exhaustive = results.iter().find(|r| r.name == "exhaustive");
    let exhaustive_best = exhaustive.and_then(|r| r.best).map(|b| b.1);
    let exhaustive_evals = exhaustive.map(|r| r.trace.len());
    let summaries: Vec<SearchSummary> = results
        .iter()
        .map(|r| {
            let (bp, bv) = r.best.unwrap_or((default, 0.0));
            SearchSummary {
                algorithm: r.name.clone(),
                evaluations: r.trace.len(),
                measured: r.measured,
                best_schedule: space.schedule(&bp).to_string(),
                best_qps: bv,
                of_optimum: exhaustive_best.filter(|&e| e > 0.0).map(|e| bv / e),
                evaluations_of_exhaustive: exhaustive_evals.map(|e| r.trace.len() as f64 / e as f64),
            }
        })
        .collect();
    // The table records the best search that ran (the exhaustive optimum when it ran).
    let best_of = |r: &Ran| r.best.map_or(f64::MIN, |b| b.1);
    let Ran { name: algo, trace, .. } = results
        .iter()
        .max_by(|x, y| {
            best_of(x).total_cmp(&best_of(y)).then((x.name == "exhaustive").cmp(&(y.name == "exhaustive")))
        })
        .context("no search ran")?;
    let trace_evals: Vec<Evaluation> =
        trace.iter().filter_map(|(p, _)| evaluator.get(&space.schedule(p))).collect();
    let best_eval = trace_evals
        .iter()
        .filter(|e| e.met_sla)
        .max_by(|x, y| x.qps.total_cmp(&y.qps))
        .cloned()
        .unwrap_or_else(|| default_eval.clone());
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
    if a.search == "all" {
        notes.push(
            "searches gradient, deeprecsched and exhaustive ran over one shared set of measurements; \
             see the .searches.json beside this table"
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
        query_sizes: fixture.sizes.to_schema(),
        search: SearchRecord {
            algorithm: algo.clone(),
            evaluations: trace.len(),
            budget: budget.min(grid),
            wall_seconds: started.elapsed().as_secs_f64(),
            trace: trace_evals.iter().map(Evaluation::search_point).collect::<Vec<SearchPoint>>(),
        },
        best: best_eval.result(),
        default_schedule: default_eval.result(),
        power,
        counters: best_eval.counters.clone(),
        curve: best_eval.curve.clone(),
        default_curve: default_eval.curve.clone(),
        synthetic: false,
        measured_at: now_rfc3339(),
        notes,
    };
    table.validate().map_err(|e| anyhow::anyhow!("the table this profile made is invalid: {e}"))?;
    let path = dir.join(format!("{stem}.json"));
    for e in all_exporters() {
        output::write_atomic(&dir.join(format!("{stem}.{}", e.extension())), e.render(&table).as_bytes())?;
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
        note: "evaluations = distinct schedules a search asked for; each is a latency-bounded-throughput \
               measurement, made once and shared by the searches that ask for it",
    };
    output::write_json(&dir.join(format!("{stem}.searches.json")), &comparison)?;
    Ok(Profiled { table, path, searches: summaries, space_size: grid })
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
    fn result(&self) -> ScheduleResult {
        ScheduleResult {
            schedule: self.schedule.clone(),
            latency_bounded_qps: self.qps,
            p50_ms: self.p50_ms,
            p95_ms: self.p95_ms,
            p99_ms: self.p99_ms,
            achieved_qps: self.achieved_qps,
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

    #[test]
    fn server_type_names_are_short_and_stable() {
        assert_eq!(server_type_name("Intel(R) Xeon(R) Processor @ 2.10GHz", 2), "intel-xeon-2c");
        assert_eq!(server_type_name("AMD EPYC 9454P 48-Core Processor", 48), "amd-epyc-9454p-48c");
        assert_eq!(server_type_name("", 1), "cpu-1c");
        assert_eq!(gpu_short_name("NVIDIA H100 80GB HBM3"), "h100");
        assert_eq!(gpu_short_name("NVIDIA H200"), "h200");
        assert_eq!(gpu_short_name(""), "gpu");
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
