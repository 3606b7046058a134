//! `hercules run` (one load point) and `hercules capacity` (latency-bounded throughput): the
//! serving engine, load generator, counters and power put together, with JSON/CSV output written
//! atomically (after every trial, so Ctrl-C leaves the finished ones on disk).

use crate::capacity::{self, SearchResult, SearchSpec, SearchStatus};
use crate::cli::{now_rfc3339, OutputArgs};
use crate::counters::{perf::PerfCounters, CounterMap};
use crate::engine::schedule::Schedule;
use crate::engine::trial::{self, Load, StopReason, TrialResult, TrialSpec};
use crate::engine::{self, Engine, Model, WeightSharing};
use crate::latency::Sla;
use crate::load::sizes::SizeDist;
use crate::noise::{self, Noise};
use crate::output::table::{num, Table};
use crate::power::{estimated, Power, PowerMeter, PowerSource};
use crate::{host, output, topology};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use hercules_gpu::PowerSampler;
use hercules_kernels::pool;
use hercules_results::table::{CurvePoint, QuerySizes};
use hercules_results::HostFingerprint;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Version of the `serve-run` and `capacity` documents.
pub const SERVE_SCHEMA_VERSION: u32 = 1;

/// Set by Ctrl-C; trials poll it.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler once; the flag it sets.
pub fn interrupt_flag() -> &'static AtomicBool {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // A failure only means Ctrl-C kills the process outright, losing nothing already written.
        let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
    });
    &INTERRUPTED
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration such as 10s or 500ms: {e}"))
}

/// What both subcommands take.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Model to serve: a zoo model, `noop` (no work: harness overhead), or `sleep:<micros>` (busy
    /// this long per sub-batch).
    #[arg(long)]
    pub model: String,
    /// Scale the model's embedding rows by this factor (recorded in the output).
    #[arg(long, default_value_t = 1.0)]
    pub rows_scale: f64,
    /// Schedule, e.g. `instances=1,threads=2,inter-op=off,sub-batch=64[,cores=0-1]`.
    #[arg(long, default_value = "instances=1,threads=1")]
    pub schedule: String,
    /// Query sizes: lognormal[:MU:SIGMA], normal[:MEAN:SD], mlperf, fixed:N, file:PATH.
    #[arg(long, default_value = "lognormal")]
    pub sizes: String,
    /// Seed for arrivals and sizes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Queries scheduled in this first stretch of each trial run but are not measured.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub warmup: Duration,
    /// The generator sleeps until this many microseconds before each arrival, then spins (under
    /// SCHED_FIFO at most ln(10)/QPS, so it still sleeps 10% of the time and RT throttling never stalls it).
    #[arg(long, default_value_t = 100)]
    pub spin_us: u64,
    /// Core for the load generator (default: a usable core the schedule leaves free, else it
    /// shares the schedule's last core).
    #[arg(long)]
    pub generator_core: Option<usize>,
    /// Run the load generator under SCHED_FIFO (needs CAP_SYS_NICE or root) so other processes
    /// sharing its core cannot delay arrivals, even when it shares a core with an instance (which it
    /// may then starve). Without the flag it is used whenever the generator has a core of its own;
    /// whether it took is recorded in the output.
    #[arg(long)]
    pub realtime: bool,
    /// Server idle watts for the power estimate when RAPL is unreadable.
    #[arg(long, default_value_t = estimated::DEFAULT_IDLE_W)]
    pub idle_watts: f64,
    /// Server peak watts for the power estimate when RAPL is unreadable.
    #[arg(long, default_value_t = estimated::DEFAULT_PEAK_W)]
    pub peak_watts: f64,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `hercules run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: ServeArgs,
    /// Offered load, queries per second (open loop, Poisson arrivals).
    #[arg(long, required_unless_present = "closed", conflicts_with = "closed")]
    pub qps: Option<f64>,
    /// Closed loop with this many queries in flight instead (saturation throughput).
    #[arg(long)]
    pub closed: Option<usize>,
    /// Measured time after the warm-up.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Judge the run against this SLA, e.g. `p95:100ms` (no early stopping in `run`).
    #[arg(long)]
    pub sla: Option<String>,
}

/// `hercules capacity` arguments.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub common: ServeArgs,
    /// The SLA: percentile and target, e.g. `p95:100ms`.
    #[arg(long)]
    pub sla: String,
    /// First offered rate (default: half the closed-loop saturation rate).
    #[arg(long)]
    pub start_qps: Option<f64>,
    /// Lowest rate tried before declaring the SLA unreachable.
    #[arg(long, default_value_t = 1.0)]
    pub min_qps: f64,
    /// Highest rate tried (default: 1.5 × the closed-loop saturation rate).
    #[arg(long)]
    pub max_qps: Option<f64>,
    /// Stop when the gap between the best passing and lowest failing rate is this fraction.
    #[arg(long, default_value_t = 0.02)]
    pub tolerance: f64,
    /// Most trials.
    #[arg(long, default_value_t = 20)]
    pub max_trials: usize,
    /// Longest measured time per trial (early stopping usually ends it sooner).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub trial_duration: Duration,
    /// A trial may stop early only after this much measured time...
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub min_duration: Duration,
    /// ...and this many measured queries.
    #[arg(long, default_value_t = 1000)]
    pub min_queries: usize,
    /// Closed-loop calibration time used to pick the start and top rates.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub calibrate: Duration,
}

/// The model and how it was built, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// Name as given.
    pub name: String,
    /// Embedding rows scale.
    pub rows_scale: f64,
    /// How instances hold the weights.
    pub weights: WeightSharing,
    /// The embedding prefetch distance measured at build (absent: no table outgrows the cache alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_prefetch_distance: Option<usize>,
}

/// Where the load generator ran.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratorInfo {
    /// Core it was pinned to.
    pub core: Option<usize>,
    /// Whether that core also runs an instance (a 2-core machine has no spare).
    pub shares_core_with_instances: bool,
    /// Sleep-then-spin margin, µs.
    pub spin_us: u64,
}

/// The curve point of an open-loop trial (closed-loop trials have no offered rate).
fn curve_point(t: &TrialResult) -> Option<CurvePoint> {
    let Load::Open { qps } = t.load else { return None };
    Some(CurvePoint {
        offered_qps: qps,
        achieved_qps: t.achieved_qps,
        p50_ms: t.latency_ms.p50,
        p95_ms: t.latency_ms.p95,
        p99_ms: t.latency_ms.p99,
    })
}

/// A trial with its power and counters.
#[derive(Debug, Clone, Serialize)]
pub struct TrialRecord {
    /// What the trial measured.
    #[serde(flatten)]
    pub trial: TrialResult,
    /// Host power over the trial (RAPL, or the estimate).
    pub power: Power,
    /// GPU board power over the trial (NVML), when the schedule offloads to a real GPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_power: Option<Power>,
    /// Counters over the trial.
    pub counters: CounterMap,
    /// CPU use by other processes during the trial (a noisy machine makes results irreproducible).
    pub machine: Noise,
}

impl TrialRecord {
    /// The server's power: the host's plus the GPU board's when one served. Its source is the host
    /// part's (an estimate stays marked as one), and the detail names both parts.
    pub fn server_power(&self) -> Power {
        match &self.gpu_power {
            None => self.power.clone(),
            Some(g) => Power {
                watts: self.power.watts + g.watts,
                source: self.power.source,
                detail: format!(
                    "host {:.1} W ({}) + GPU board {:.1} W ({})",
                    self.power.watts, self.power.detail, g.watts, g.detail
                ),
            },
        }
    }
}

/// What every serve document opens with: what ran where, under which load.
#[derive(Debug, Serialize)]
pub struct ServeHeader {
    /// [`SERVE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `serve-run` or `capacity`.
    pub kind: &'static str,
    /// `complete`/`interrupted` (run); `running`, then the search status (capacity).
    pub status: String,
    /// The machine.
    pub host: HostFingerprint,
    /// When.
    pub measured_at: String,
    /// The model.
    pub model: ModelInfo,
    /// The schedule, placed.
    pub schedule: Schedule,
    /// What served offloaded queries (absent when the schedule does not offload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_lane: Option<String>,
    /// The machine's topology (and where it was read from).
    pub topology: topology::TopologySummary,
    /// The generator's placement.
    pub generator: GeneratorInfo,
    /// Query sizes.
    pub query_sizes: QuerySizes,
    /// SLA judged against, if any.
    pub sla: Option<Sla>,
    /// Seed.
    pub seed: u64,
}

impl ServeHeader {
    fn new(kind: &'static str, bench: &Bench, placed: &Placed, sla: Option<Sla>, seed: u64) -> Self {
        ServeHeader {
            schema_version: SERVE_SCHEMA_VERSION,
            kind,
            status: "running".into(),
            host: bench.host.clone(),
            measured_at: now_rfc3339(),
            model: bench.model_info.clone(),
            schedule: placed.schedule.clone(),
            gpu_lane: placed.gpu_lane.clone(),
            topology: bench.topology.clone(),
            generator: placed.generator.clone(),
            query_sizes: bench.sizes.to_schema(),
            sla,
            seed,
        }
    }
}

/// The `hercules run` document.
#[derive(Debug, Serialize)]
pub struct RunReport {
    /// What ran.
    #[serde(flatten)]
    pub header: ServeHeader,
    /// The measurement.
    pub result: TrialRecord,
    /// The single curve point (open loop).
    pub curve: Vec<CurvePoint>,
}

/// The `hercules capacity` document.
#[derive(Debug, Serialize)]
pub struct CapacityReport {
    /// What ran.
    #[serde(flatten)]
    pub header: ServeHeader,
    /// The measurement.
    #[serde(flatten)]
    pub run: CapacityRun,
}

/// How a latency-bounded-throughput measurement runs.
#[derive(Debug, Clone)]
pub struct CapacityParams {
    /// The SLA.
    pub sla: Sla,
    /// Seed for arrivals and sizes.
    pub seed: u64,
    /// Warm-up per trial.
    pub warmup: Duration,
    /// First offered rate (default: half the closed-loop saturation rate).
    pub start_qps: Option<f64>,
    /// Lowest rate tried before declaring the SLA unreachable.
    pub min_qps: f64,
    /// Highest rate tried (default: 1.5 × the closed-loop saturation rate).
    pub max_qps: Option<f64>,
    /// Bisection stops at this relative gap.
    pub tolerance: f64,
    /// Most trials.
    pub max_trials: usize,
    /// Longest measured time per trial.
    pub trial_duration: Duration,
    /// Early stopping waits for this much measured time...
    pub min_duration: Duration,
    /// ...and this many measured queries.
    pub min_queries: usize,
    /// Closed-loop calibration time.
    pub calibrate: Duration,
}

impl CapacityParams {
    /// Checks the settings that do not depend on the model.
    pub fn check(&self) -> Result<()> {
        if self.trial_duration.is_zero() || self.min_duration > self.trial_duration {
            bail!("need 0 < --min-duration <= --trial-duration");
        }
        Ok(())
    }
}

/// One latency-bounded-throughput measurement: the search over offered rates and every trial.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityRun {
    /// Closed-loop saturation rate used to seed the search (QPS).
    pub calibration_qps: Option<f64>,
    /// Search settings.
    pub search: SearchSpec,
    /// Search outcome (absent while running).
    pub outcome: Option<SearchResult>,
    /// Latency-bounded throughput: the best passing rate.
    pub best_qps: Option<f64>,
    /// The best passing trial.
    pub best: Option<TrialRecord>,
    /// Every trial in order.
    pub trace: Vec<TrialRecord>,
    /// The curve: every open-loop trial, by offered rate.
    pub curve: Vec<CurvePoint>,
}

/// Finds the latency-bounded throughput of `placed`: closed-loop calibration, then a ramp and a
/// bisection over open-loop trials. `on_trial` sees the run after every trial (to write it out).
/// An interrupted run returns with outcome status `Interrupted`.
pub fn measure_capacity(
    bench: &mut Bench,
    placed: &Placed,
    p: &CapacityParams,
    interrupt: &AtomicBool,
    mut on_trial: impl FnMut(&CapacityRun) -> Result<()>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<CapacityRun> {
    let sla = p.sla;
    let base = TrialSpec {
        warmup: p.warmup,
        duration: p.trial_duration,
        min_duration: p.min_duration,
        min_queries: p.min_queries,
        sla: Some(sla),
        early_stop: true,
        // Long enough for queries that finish just past the SLA to be seen, bounded for a stuck model.
        drain: (sla.target * 4).clamp(Duration::from_millis(200), Duration::from_secs(10)),
        ..bench.trial_spec(placed, p.seed)
    };
    // Calibrate: closed-loop saturation throughput bounds what an open loop can sustain.
    let calibration_qps = if p.start_qps.is_some() && p.max_qps.is_some() {
        None
    } else {
        let spec = TrialSpec {
            load: Load::Closed { concurrency: 2 * placed.schedule.instances },
            warmup: Duration::from_millis(200).min(p.calibrate / 2),
            duration: p.calibrate,
            sla: None,
            ..base.clone()
        };
        let t = trial::run(&placed.engine, &spec, interrupt)?;
        if t.stopped == StopReason::Interrupted {
            bail!("interrupted (Ctrl-C) during calibration: nothing measured yet");
        }
        Some(t.achieved_qps.max(p.min_qps))
    };
    let search = SearchSpec {
        start_qps: p.start_qps.or(calibration_qps.map(|x| x * 0.5)).unwrap_or(100.0).max(p.min_qps),
        min_qps: p.min_qps,
        max_qps: p.max_qps.or(calibration_qps.map(|x| x * 1.5)).unwrap_or(1e7),
        ramp: 1.5,
        tolerance: p.tolerance,
        max_trials: p.max_trials,
    };
    let mut run = CapacityRun {
        calibration_qps,
        search,
        outcome: None,
        best_qps: None,
        best: None,
        trace: Vec::new(),
        curve: Vec::new(),
    };
    let outcome = capacity::search(&search, |qps| -> Result<Option<bool>> {
        let spec = TrialSpec { load: Load::Open { qps }, ..base.clone() };
        let rec = bench.measured(placed, &spec, interrupt)?;
        if rec.trial.stopped == StopReason::Interrupted {
            return Ok(None);
        }
        let pass = rec.trial.sla_met == Some(true);
        if let Some(bar) = bar {
            bar.inc(1);
            bar.set_message(format!(
                "{qps:.1} QPS p{} {:.2} ms {}",
                sla.percentile,
                rec.trial.histogram.percentile_ns(sla.percentile) as f64 * 1e-6,
                if pass { "pass" } else { "fail" }
            ));
        }
        if pass && run.best_qps.is_none_or(|b| qps > b) {
            run.best_qps = Some(qps);
            run.best = Some(rec.clone());
        }
        run.trace.push(rec);
        run.curve = run.trace.iter().filter_map(|r| curve_point(&r.trial)).collect();
        run.curve.sort_by(|x, y| x.offered_qps.total_cmp(&y.offered_qps));
        on_trial(&run)?;
        Ok(Some(pass))
    })?;
    run.outcome = Some(outcome?);
    Ok(run)
}

/// Resolves a model name. The zoo hooks in here; until then only the built-in test models exist.
pub fn load_model(name: &str, rows_scale: f64) -> Result<Arc<dyn Model>> {
    if !(rows_scale > 0.0 && rows_scale.is_finite()) {
        bail!("--rows-scale {rows_scale} must be above zero");
    }
    match engine::builtin(name) {
        Some(m) => m.map_err(|e| anyhow!(e)),
        None if hercules_models::zoo::names().contains(&name)
            || name.ends_with(".json")
            || name.ends_with(".toml") =>
        {
            engine::zoo::ZooModel::build(name, rows_scale, 1)
        }
        None => bail!(
            "unknown model `{name}` (known: {}, {}, or a spec file)",
            engine::BUILTIN_MODELS.join(", "),
            hercules_models::zoo::names().join(", ")
        ),
    }
}

/// What stays fixed while schedules change: the model, the load's shape, the meters, the machine.
pub struct Bench {
    /// The model, built once; every engine shares it.
    pub model: Arc<dyn Model>,
    /// The model as recorded.
    pub model_info: ModelInfo,
    /// The machine's topology as recorded.
    pub topology: topology::TopologySummary,
    /// Cores schedules may use, in placement order.
    pub cores: Vec<usize>,
    /// Query sizes.
    pub sizes: SizeDist,
    counters: PerfCounters,
    power: PowerMeter,
    /// The machine.
    pub host: HostFingerprint,
    generator_core: Option<usize>,
    spin_us: u64,
    realtime: bool,
    /// The GPU lane's model and its description, built on first use (only schedules with a GPU
    /// threshold need it); the error is kept so every such schedule reports it.
    gpu: std::sync::OnceLock<Result<GpuLane, String>>,
}

/// The GPU lane's model, what it is, and the NVML identity of its board (none for a host stand-in).
#[derive(Clone)]
struct GpuLane {
    model: Arc<dyn Model>,
    what: String,
    nvml_uuid: Option<String>,
}

/// An engine running one placed schedule, with its generator's placement.
pub struct Placed {
    /// The schedule, placed on cores.
    pub schedule: Schedule,
    /// Where the load generator runs.
    pub generator: GeneratorInfo,
    /// What serves offloaded queries, when the schedule offloads.
    pub gpu_lane: Option<String>,
    /// The GPU board whose power is sampled during trials.
    gpu_uuid: Option<String>,
    engine: Engine,
}

impl Bench {
    /// Builds the model and opens the meters. `restrict`: use only these cores (they must be usable).
    pub fn new(a: &ServeArgs, restrict: Option<&[usize]>) -> Result<Self> {
        let sizes = SizeDist::parse(&a.sizes)?;
        a.out.check()?;
        if !(a.idle_watts >= 0.0 && a.peak_watts >= a.idle_watts) {
            bail!("--idle-watts {} / --peak-watts {}: need 0 <= idle <= peak", a.idle_watts, a.peak_watts);
        }
        let topo = topology::discover()?;
        let usable = pool::allowed_cores();
        let mut allowed = usable.clone();
        if let Some(r) = restrict {
            if let Some(c) = r.iter().find(|c| !allowed.contains(c)) {
                bail!("--restrict-cores: core {c} is not usable by this process ({allowed:?})");
            }
            allowed.retain(|c| r.contains(c));
        }
        if let Some(c) = a.generator_core.filter(|c| !usable.contains(c)) {
            bail!("--generator-core {c} is not usable by this process ({usable:?})");
        }
        let model = load_model(&a.model, a.rows_scale)?;
        // Counters first: threads started after them (instances, generator) are counted.
        let counters = PerfCounters::open();
        Ok(Bench {
            model_info: ModelInfo {
                name: a.model.clone(),
                rows_scale: a.rows_scale,
                weights: model.sharing(),
                embedding_prefetch_distance: model.embedding_prefetch(),
            },
            model,
            cores: topo.placement_order(&allowed),
            topology: topo.summary(),
            sizes,
            counters,
            power: PowerMeter::new(a.idle_watts, a.peak_watts),
            host: host::fingerprint(),
            generator_core: a.generator_core,
            spin_us: a.spin_us,
            realtime: a.realtime,
            gpu: std::sync::OnceLock::new(),
        })
    }

    /// The GPU lane's model: the zoo model on CUDA device 0, or, for a built-in test model, the same
    /// model on the host (a stand-in that exercises the lane without a GPU; recorded as such).
    fn gpu_model(&self) -> Result<GpuLane> {
        let built = self.gpu.get_or_init(|| {
            let name = &self.model_info.name;
            if engine::builtin(name).is_some() {
                return Ok(GpuLane {
                    model: self.model.clone(),
                    what: format!("host stand-in: the built-in test model `{name}` runs on the CPU"),
                    nvml_uuid: None,
                });
            }
            engine::zoo::GpuZooModel::build(name, self.model_info.rows_scale, 1, 0)
                .map(|m| GpuLane {
                    what: format!("{}, CUDA", m.device_name()),
                    nvml_uuid: Some(m.uuid()),
                    model: m,
                })
                .map_err(|e| format!("{e:#}"))
        });
        built.clone().map_err(|e| anyhow!("gpu-threshold: {e}"))
    }

    /// Places `schedule` on this bench's cores and starts its engine.
    pub fn start(&self, mut schedule: Schedule) -> Result<Placed> {
        let label = schedule.to_string();
        schedule.place(&self.cores, &self.cores).with_context(|| format!("schedule {label}"))?;
        let (gen_core, shares) = match self.generator_core {
            Some(c) => (c, schedule.cores.contains(&c)),
            None => match self.cores.iter().find(|c| !schedule.cores.contains(c)) {
                Some(&c) => (c, false),
                // No spare core: share the last instance core, where the least intra-op work lands.
                None => (*schedule.cores.last().expect("placed schedule has cores"), true),
            },
        };
        let gpu = match schedule.gpu_threshold {
            Some(_) => Some(self.gpu_model()?),
            None => None,
        };
        let engine = Engine::start(self.model.clone(), gpu.as_ref().map(|g| g.model.clone()), &schedule)?;
        Ok(Placed {
            gpu_uuid: gpu.as_ref().and_then(|g| g.nvml_uuid.clone()),
            gpu_lane: gpu.map(|g| g.what),
            schedule,
            generator: GeneratorInfo {
                core: Some(gen_core),
                shares_core_with_instances: shares,
                spin_us: self.spin_us,
            },
            engine,
        })
    }

    /// A trial spec with this bench's generator settings for `placed`.
    fn trial_spec(&self, placed: &Placed, seed: u64) -> TrialSpec {
        TrialSpec {
            seed,
            sizes: self.sizes.clone(),
            spin: Duration::from_micros(self.spin_us),
            generator_core: placed.generator.core,
            realtime: self.realtime || !placed.generator.shares_core_with_instances,
            ..TrialSpec::default()
        }
    }

    /// Runs one trial on `placed` with power, counters and machine noise around it.
    pub fn measured(
        &mut self,
        placed: &Placed,
        spec: &TrialSpec,
        interrupt: &AtomicBool,
    ) -> Result<TrialRecord> {
        let gpu_power =
            placed.gpu_uuid.as_deref().map(|u| PowerSampler::start(Some(u), Duration::from_millis(20)));
        self.counters.start();
        self.power.start();
        let noise = noise::Snapshot::take();
        let t = trial::run(&placed.engine, spec, interrupt)?;
        let machine = noise.since();
        let gpu_power = gpu_power.map(|s| match s.and_then(|s| s.stop()) {
            Ok(st) => Power {
                watts: st.avg_watts,
                source: PowerSource::Nvml,
                detail: format!(
                    "NVML board power, {} samples over {:.1} s{}",
                    st.samples,
                    st.seconds,
                    if st.from_energy_counter { ", average from the energy counter" } else { "" }
                ),
            },
            // A board that will not report is null with the reason, never an invented number.
            Err(e) => Power { watts: f64::NAN, source: PowerSource::Nvml, detail: e.to_string() },
        });
        Ok(TrialRecord {
            trial: t,
            power: self.power.read(),
            gpu_power,
            counters: self.counters.read(),
            machine,
        })
    }
}

fn trial_row(t: &mut Table, r: &TrialRecord) {
    let tr = &r.trial;
    let offered = match tr.load {
        Load::Open { qps } => format!("{qps:.1}"),
        Load::Closed { concurrency } => format!("closed:{concurrency}"),
    };
    t.push([
        offered,
        format!("{:.1}", tr.achieved_qps),
        format!("{:.3}", tr.latency_ms.p50),
        format!("{:.3}", tr.latency_ms.p95),
        format!("{:.3}", tr.latency_ms.p99),
        format!("{:.3}", tr.latency_ms.max),
        tr.measured_queries.to_string(),
        tr.incomplete_queries.to_string(),
        num(tr.schedule_error_us.map(|e| e.p99), 1),
        format!("{:.0}", tr.sub_batches_per_s),
        output::serde_name(&tr.stopped),
        tr.sla_met.map_or("-".into(), |m| if m { "pass".into() } else { "fail".into() }),
        num(r.machine.others_cpu_fraction, 2),
        num(r.machine.steal_fraction, 3),
    ]);
}

fn trial_table() -> Table {
    Table::new([
        "offered_qps",
        "achieved_qps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "queries",
        "incomplete",
        "sched_err_p99_us",
        "sub_batches_per_s",
        "stopped",
        "sla",
        "others_cpu",
        "steal",
    ])
}

fn power_line(p: &Power, c: &CounterMap) -> String {
    let src = output::serde_name(&p.source);
    let counters: Vec<String> = c
        .iter()
        .map(|(k, v)| format!("{k}={}", v.value.map_or_else(|| "null".to_string(), |x| format!("{x:.0}"))))
        .collect();
    format!("power {:.1} W ({src}); counters: {}", p.watts, counters.join(" "))
}

/// Warns when other processes used a noticeable share of the machine during any trial.
fn warn_noise(trials: &[TrialRecord]) {
    let worst = trials.iter().filter_map(|t| t.machine.others_cpu_fraction).fold(0.0f64, f64::max);
    if worst > 0.10 {
        eprintln!(
            "warning: other processes used up to {:.0}% of the machine's CPU time during a trial \
             (column others_cpu): the results reflect that contention and may not reproduce",
            worst * 100.0
        );
    }
    let steal = trials.iter().filter_map(|t| t.machine.steal_fraction).fold(0.0f64, f64::max);
    if steal > 0.01 {
        eprintln!(
            "warning: the hypervisor stole up to {:.1}% of the CPU time during a trial (column steal): \
             stalls of that kind land in the latency and schedule-error tails",
            steal * 100.0
        );
    }
}

/// Runs `hercules run`.
pub fn run(a: RunArgs) -> Result<()> {
    let sla = a.sla.as_deref().map(Sla::parse).transpose()?;
    let load = match (a.qps, a.closed) {
        (Some(q), None) if q > 0.0 && q.is_finite() => Load::Open { qps: q },
        (Some(q), None) => bail!("--qps {q} must be above zero"),
        (None, Some(0)) => bail!("--closed must be at least 1"),
        (None, Some(c)) => Load::Closed { concurrency: c },
        _ => bail!("give exactly one of --qps and --closed"),
    };
    if a.duration.is_zero() {
        bail!("--duration must be above zero");
    }
    let schedule: Schedule =
        a.common.schedule.parse().with_context(|| format!("--schedule {}", a.common.schedule))?;
    let mut bench = Bench::new(&a.common, None)?;
    let placed = bench.start(schedule).context("--schedule")?;
    let interrupt = interrupt_flag();
    let spec = TrialSpec {
        load,
        warmup: a.common.warmup,
        duration: a.duration,
        sla,
        early_stop: false,
        ..bench.trial_spec(&placed, a.common.seed)
    };
    eprintln!(
        "run: {} on {} ({}), {:?} for {:.1} s after {:.1} s warm-up",
        a.common.model,
        placed.schedule,
        if placed.generator.shares_core_with_instances {
            "generator shares a core"
        } else {
            "generator on its own core"
        },
        load,
        a.duration.as_secs_f64(),
        a.common.warmup.as_secs_f64()
    );
    if let Some(lane) = &placed.gpu_lane {
        eprintln!("gpu lane: {lane}");
    }
    let rec = bench.measured(&placed, &spec, interrupt)?;
    if placed.gpu_lane.is_some() {
        eprintln!(
            "{} of {} queries went to the GPU lane",
            rec.trial.gpu_queries,
            rec.trial.measured_queries + rec.trial.warmup_queries
        );
    }
    let interrupted = rec.trial.stopped == StopReason::Interrupted;
    let mut table = trial_table();
    trial_row(&mut table, &rec);
    print!("{}", table.render());
    println!("{}", power_line(&rec.power, &rec.counters));
    warn_noise(std::slice::from_ref(&rec));
    let mut header = ServeHeader::new("serve-run", &bench, &placed, sla, a.common.seed);
    header.status = if interrupted { "interrupted" } else { "complete" }.into();
    let report = RunReport { header, curve: curve_point(&rec.trial).into_iter().collect(), result: rec };
    if let Some(p) = &a.common.out.csv {
        output::write_atomic(p, table.to_csv().as_bytes())?;
    }
    if let Some(p) = &a.common.out.json {
        output::write_json(p, &report)?;
    }
    if interrupted {
        bail!(
            "interrupted (Ctrl-C): the partial trial was {}",
            if a.common.out.json.is_some() { "written" } else { "printed" }
        );
    }
    Ok(())
}

impl CapacityArgs {
    /// The measurement settings these flags give.
    fn params(&self, sla: Sla) -> CapacityParams {
        CapacityParams {
            sla,
            seed: self.common.seed,
            warmup: self.common.warmup,
            start_qps: self.start_qps,
            min_qps: self.min_qps,
            max_qps: self.max_qps,
            tolerance: self.tolerance,
            max_trials: self.max_trials,
            trial_duration: self.trial_duration,
            min_duration: self.min_duration,
            min_queries: self.min_queries,
            calibrate: self.calibrate,
        }
    }
}

/// Runs `hercules capacity`.
pub fn capacity(a: CapacityArgs) -> Result<()> {
    let sla = Sla::parse(&a.sla)?;
    let params = a.params(sla);
    params.check()?;
    let schedule: Schedule =
        a.common.schedule.parse().with_context(|| format!("--schedule {}", a.common.schedule))?;
    let mut bench = Bench::new(&a.common, None)?;
    let placed = bench.start(schedule).context("--schedule")?;
    let interrupt = interrupt_flag();
    let mut report = CapacityReport {
        header: ServeHeader::new("capacity", &bench, &placed, Some(sla), a.common.seed),
        run: CapacityRun {
            calibration_qps: None,
            search: SearchSpec::default(),
            outcome: None,
            best_qps: None,
            best: None,
            trace: Vec::new(),
            curve: Vec::new(),
        },
    };
    let write = |r: &CapacityReport| -> Result<()> {
        if let Some(p) = &a.common.out.json {
            output::write_json(p, r)?;
        }
        if let Some(p) = &a.common.out.csv {
            let mut t = trial_table();
            for rec in &r.run.trace {
                trial_row(&mut t, rec);
            }
            output::write_atomic(p, t.to_csv().as_bytes())?;
        }
        Ok(())
    };
    eprintln!("capacity: {} on {} under {sla}", a.common.model, placed.schedule);
    if let Some(lane) = &placed.gpu_lane {
        eprintln!("gpu lane: {lane}");
    }
    let bar = output::progress::bar(a.max_trials as u64, "trials");
    let run = measure_capacity(
        &mut bench,
        &placed,
        &params,
        interrupt,
        |run| {
            report.run = run.clone();
            write(&report)
        },
        Some(&bar),
    )?;
    bar.finish_and_clear();
    if let Some(c) = run.calibration_qps {
        eprintln!(
            "calibration: closed-loop saturation {c:.1} QPS, search started at {:.1} QPS",
            run.search.start_qps
        );
    }
    let outcome = run.outcome.expect("measure_capacity sets the outcome");
    report.run = run;
    report.header.status = output::serde_name(&outcome.status);
    write(&report)?;

    let mut table = trial_table();
    for rec in &report.run.trace {
        trial_row(&mut table, rec);
    }
    print!("{}", table.render());
    if let Some(b) = &report.run.best {
        println!("{}", power_line(&b.power, &b.counters));
    }
    warn_noise(&report.run.trace);
    match outcome.status {
        SearchStatus::Converged | SearchStatus::AtMaxQps | SearchStatus::OutOfTrials => {
            let best = outcome.best_qps.unwrap_or(0.0);
            println!(
                "latency-bounded throughput: {best:.1} QPS under {sla} ({} trials, {:?}{})",
                outcome.evaluations,
                outcome.status,
                outcome.lowest_failing_qps.map_or(String::new(), |f| format!("; {f:.1} QPS failed"))
            );
            Ok(())
        }
        SearchStatus::Unreachable => {
            let lowest = report.run.trace.last().map(|r| &r.trial);
            bail!(
                "SLA {sla} is unreachable for {} on {}: even {:.2} QPS gave p{} = {:.2} ms ({} trials)",
                a.common.model,
                placed.schedule,
                outcome.lowest_failing_qps.unwrap_or(a.min_qps),
                sla.percentile,
                lowest.map_or(f64::NAN, |t| t.histogram.percentile_ns(sla.percentile) as f64 * 1e-6),
                outcome.evaluations
            )
        }
        SearchStatus::Interrupted => bail!(
            "interrupted (Ctrl-C) after {} finished trials{}",
            report.run.trace.len(),
            a.common.out.json.as_ref().map_or(String::new(), |p| format!("; they are in {}", p.display()))
        ),
    }
}
