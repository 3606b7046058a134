//! The serving fixture: what stays fixed while schedules change (the model, the load's shape,
//! the meters, the machine), the engine it places per schedule, and one measured trial.

use super::trial::{self, TrialResult, TrialSpec};
use crate::args::{self, parse_duration};
use crate::counters::{perf::PerfCounters, CounterMap};
use crate::engine::schedule::Schedule;
use crate::engine::{self, Engine, Model, WeightSharing};
use crate::limits::MAX_WATTS;
use crate::load::sizes::{self, QuerySizes};
use crate::noise::{self, Noise};
use crate::output::OutputArgs;
use crate::power::{estimated, nvml, Power, PowerMeter, PowerSource};
use crate::{host, topology};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use hercules_kernels::embedding::PrefetchTuning;
use hercules_kernels::pool;
use hercules_results::HostFingerprint;
use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

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

/// The model and how it was built, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// Name as given.
    pub name: String,
    /// Embedding rows scale.
    pub rows_scale: f64,
    /// How instances hold the weights.
    pub weights: WeightSharing,
    /// The embedding prefetch chosen at build, how, and what each candidate measured (absent: no
    /// table outgrows the cache alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_tuning: Option<PrefetchTuning>,
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

/// Resolves a model name. The zoo hooks in here; until then only the built-in test models exist.
pub fn load_model(name: &str, rows_scale: f64) -> Result<Arc<dyn Model>> {
    // Above 1 a table would outgrow the published model; the memory check bounds it anyway.
    args::positive("--rows-scale", rows_scale, 1.0, "(1 = the published size)")?;
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
pub struct Fixture {
    /// The model, built once; every engine shares it.
    pub model: Arc<dyn Model>,
    /// The model as recorded.
    pub model_info: ModelInfo,
    /// The machine's topology as recorded.
    pub topology: topology::TopologySummary,
    /// Cores schedules may use, in placement order.
    pub cores: Vec<usize>,
    /// Query sizes.
    pub sizes: QuerySizes,
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
    pub(super) engine: Engine,
}

impl Fixture {
    /// Builds the model and opens the meters. `restrict`: use only these cores (they must be usable).
    pub fn new(a: &ServeArgs, restrict: Option<&[usize]>) -> Result<Self> {
        let sizes = sizes::parse(&a.sizes)?;
        a.out.check()?;
        args::in_range("--idle-watts", a.idle_watts, 0.0, MAX_WATTS, "W")?;
        args::in_range("--peak-watts", a.peak_watts, 0.0, MAX_WATTS, "W")?;
        if a.peak_watts < a.idle_watts {
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
        Ok(Fixture {
            model_info: ModelInfo {
                name: a.model.clone(),
                rows_scale: a.rows_scale,
                weights: model.sharing(),
                embedding_tuning: model.embedding_prefetch(),
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

    /// Places `schedule` on this fixture's cores and starts its engine.
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

    /// A trial spec with this fixture's generator settings for `placed`.
    pub fn trial_spec(&self, placed: &Placed, seed: u64) -> TrialSpec {
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
            placed.gpu_uuid.as_deref().map(|u| nvml::Sampler::start(Some(u), Duration::from_millis(20)));
        self.counters.start();
        self.power.start();
        let noise = noise::Snapshot::take();
        let t = trial::run(&placed.engine, spec, interrupt)?;
        let machine = noise.since();
        let gpu_power = gpu_power.map(|s| match s.and_then(|s| s.stop()) {
            Ok(st) => st.power(),
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
