//! The measured objective the searches share: each schedule's latency-bounded throughput, measured
//! once per profile and kept in a checkpoint beside the table, so an interrupted profile resumes
//! where it stopped and no schedule is measured twice.

use super::space::{Point, Space};
use super::strategy::Objective;
use crate::output;
use crate::serve::capacity::{self, CapacityParams, CapacityRun, Repeat, RepeatParams};
use crate::serve::fixture::{Fixture, ServeArgs};
use anyhow::{bail, Context, Result};
use hercules_results::stats::{QpsInterval, TailInterval};
use hercules_results::table::{Counter, CurvePoint, Power};
use hercules_results::{fnv1a64, Schedule};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CHECKPOINT_KIND: &str = "profile-checkpoint";
/// Version 2: every evaluation keeps its samples (repeated measurements with the guard's verdicts).
const CHECKPOINT_VERSION: u32 = 2;

/// What a checkpoint's measurements depend on: resuming with any of it changed would mix runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    model: String,
    rows_scale: f64,
    sla: String,
    sizes: String,
    seed: u64,
    cores: Vec<usize>,
    measurement: String,
    /// The build and machine that measured (revision, rustc, CPU model): a checkpoint from another
    /// one is measured afresh rather than resumed. (Absent in checkpoints written before it was
    /// recorded, which therefore never match.)
    #[serde(default)]
    measured_by: String,
    /// For a model given as a spec file, a hash of the file's content: the path alone would resume
    /// the old measurements after the spec was edited. Empty for zoo and built-in test models (and
    /// in checkpoints written before it was recorded).
    #[serde(default)]
    spec_content: String,
}

/// `fnv1a64:<hex>` of the spec file `model` names, or an empty string when `model` is a zoo or
/// built-in test model rather than a file.
pub fn spec_content_hash(model: &str) -> Result<String> {
    use std::io::Read;
    let path = Path::new(model);
    if hercules_models::zoo::builtin(model).is_some() || !path.is_file() {
        return Ok(String::new());
    }
    // The spec was already read and checked, so its size is bounded; the bound guards a file
    // swapped since.
    let max = hercules_models::limits::MAX_SPEC_BYTES;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        .with_context(|| format!("--model {model}: cannot read the spec file"))?;
    if bytes.len() as u64 > max {
        bail!("--model {model}: the spec file is larger than {max} bytes");
    }
    Ok(format!("fnv1a64:{:016x}", fnv1a64(&bytes)))
}

impl Key {
    /// The key of a profile of `serve.model` on `cores` of `host` with `params` (reads the model's
    /// spec file, if it is one, to hash it).
    pub fn new(
        serve: &ServeArgs,
        params: &CapacityParams,
        cores: &[usize],
        host: &hercules_results::HostFingerprint,
    ) -> Result<Self> {
        Ok(Key {
            spec_content: spec_content_hash(&serve.model)?,
            measured_by: format!("{} built by {} on {}", host.git_revision, host.rustc, host.cpu_model),
            model: serve.model.clone(),
            rows_scale: serve.rows_scale,
            sla: params.sla.to_string(),
            sizes: serve.sizes.clone(),
            seed: serve.seed,
            cores: cores.to_vec(),
            measurement: format!(
                "warmup {:?}, trials {:?}..{:?} and {} queries, tolerance {}, at most {} trials",
                params.warmup,
                params.min_duration,
                params.trial_duration,
                params.min_queries,
                params.tolerance,
                params.max_trials
            ),
        })
    }
}

/// One schedule's measured latency-bounded throughput.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The schedule, placed on cores.
    pub schedule: Schedule,
    /// Highest offered rate that met the SLA (0 when none did).
    pub qps: f64,
    /// Whether any rate met the SLA.
    pub met_sla: bool,
    /// How the rate search ended.
    pub status: String,
    /// Latencies at `qps` (at the lowest rate tried when none met the SLA), ms.
    pub p50_ms: f64,
    /// p95, ms.
    pub p95_ms: f64,
    /// p99, ms.
    pub p99_ms: f64,
    /// Completed queries per second at that rate.
    pub achieved_qps: f64,
    /// Every open-loop trial, by offered rate.
    pub curve: Vec<CurvePoint>,
    /// Power during the trial at `qps`.
    pub power: Option<Power>,
    /// Counters during the trial at `qps`.
    pub counters: BTreeMap<String, Counter>,
    /// Trials the rate search ran.
    pub trials: usize,
    /// Seconds the measurement took.
    pub wall_s: f64,
    /// Every measurement of the schedule in order (the first is the one above), with the host-noise
    /// guard's verdicts.
    pub samples: Vec<Sample>,
}

/// One latency-bounded-throughput measurement of a schedule and the host's state around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seed of its arrivals and sizes.
    pub seed: u64,
    /// Its latency-bounded QPS (0 when no rate met the SLA).
    pub qps: f64,
    /// Latencies at that rate, ms.
    pub p50_ms: f64,
    /// p95, ms.
    pub p95_ms: f64,
    /// p99, ms.
    pub p99_ms: f64,
    /// Completed queries per second at that rate.
    pub achieved_qps: f64,
    /// The SLA percentile's interval from the query count at that rate.
    pub tail: Option<TailInterval>,
    /// Host probe drift between before and after.
    pub drift: f64,
    /// Hypervisor steal over it.
    pub steal: Option<f64>,
    /// Why the guard rejected it (`None`: accepted).
    pub rejected: Option<String>,
}

impl Sample {
    fn from_repeat(r: &Repeat, params: &CapacityParams, confidence: f64) -> Self {
        let at = r.run.best.as_ref().or(r.run.trace.last());
        Sample {
            seed: r.seed,
            qps: r.qps(),
            p50_ms: at.map_or(0.0, |t| t.trial.latency_ms.p50),
            p95_ms: at.map_or(0.0, |t| t.trial.latency_ms.p95),
            p99_ms: at.map_or(0.0, |t| t.trial.latency_ms.p99),
            achieved_qps: at.map_or(0.0, |t| t.trial.achieved_qps),
            tail: r
                .run
                .best
                .as_ref()
                .and_then(|b| b.trial.histogram.tail_interval(params.sla.percentile, confidence)),
            drift: r.probe_before.drift(&r.probe_after),
            steal: r.machine.steal_fraction,
            rejected: r.rejected.clone(),
        }
    }
}

impl Evaluation {
    /// The accepted samples.
    pub fn accepted(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter().filter(|s| s.rejected.is_none())
    }

    /// The median and interval over the accepted samples (over all of them, marked, when the guard
    /// rejected every one).
    pub fn interval(&self, confidence: f64, tolerance: f64) -> Option<QpsInterval> {
        let mut qps: Vec<f64> = self.accepted().map(|s| s.qps).collect();
        let none_accepted = qps.is_empty();
        if none_accepted {
            qps = self.samples.iter().map(|s| s.qps).collect();
        }
        let rejected = self
            .samples
            .iter()
            .filter_map(|s| s.rejected.as_ref().map(|w| format!("seed {}: {w}", s.seed)))
            .collect();
        let mut iv = QpsInterval::from_trials(&qps, confidence, tolerance, rejected)?;
        if none_accepted {
            capacity::mark_all_rejected(&mut iv);
        }
        Some(iv)
    }

    /// The accepted sample whose QPS is the median (lower middle for an even count), else the first.
    pub fn median_sample(&self) -> Option<&Sample> {
        let mut v: Vec<&Sample> = self.accepted().collect();
        if v.is_empty() {
            v = self.samples.iter().collect();
        }
        v.sort_by(|a, b| a.qps.total_cmp(&b.qps));
        v.get(v.len().saturating_sub(1) / 2).copied()
    }

    fn from_run(schedule: Schedule, run: &CapacityRun, wall_s: f64) -> Self {
        // At the best passing rate, else at the last (lowest failing) rate the search tried.
        let at = run.best.as_ref().or(run.trace.last());
        let status = run.outcome.map(|o| crate::output::serde_name(&o.status)).unwrap_or_default();
        Evaluation {
            schedule,
            qps: run.best_qps.unwrap_or(0.0),
            met_sla: run.best_qps.is_some(),
            status,
            p50_ms: at.map_or(0.0, |r| r.trial.latency_ms.p50),
            p95_ms: at.map_or(0.0, |r| r.trial.latency_ms.p95),
            p99_ms: at.map_or(0.0, |r| r.trial.latency_ms.p99),
            achieved_qps: at.map_or(0.0, |r| r.trial.achieved_qps),
            curve: run.curve.clone(),
            power: at.map(|r| r.server_power()),
            counters: at.map(|r| r.counters.clone()).unwrap_or_default(),
            trials: run.trace.len(),
            wall_s,
            samples: Vec::new(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkpoint {
    kind: String,
    version: u32,
    key: Key,
    evaluations: Vec<Evaluation>,
}

/// The measured points of one model's profile, with their checkpoint.
pub struct Evaluator {
    path: PathBuf,
    key: Key,
    /// By the unplaced schedule's string form.
    evals: BTreeMap<String, Evaluation>,
    order: Vec<String>,
    measured_now: usize,
    interrupted: bool,
    time_budget: Option<Duration>,
    started: Instant,
    repeat: RepeatParams,
    /// Re-measurements asked for per schedule in this process (a resumed profile replays the
    /// checkpoint's samples in the same order before measuring new ones).
    remeasured: BTreeMap<String, usize>,
}

impl Evaluator {
    /// Opens the checkpoint at `path` (resuming it when its key matches), or starts an empty one.
    pub fn open(
        path: &Path,
        key: Key,
        fresh: bool,
        time_budget: Option<Duration>,
        repeat: RepeatParams,
    ) -> Result<Self> {
        let mut e = Evaluator {
            repeat,
            remeasured: BTreeMap::new(),
            path: path.into(),
            key,
            evals: BTreeMap::new(),
            order: Vec::new(),
            measured_now: 0,
            interrupted: false,
            time_budget,
            started: Instant::now(),
        };
        if fresh || !path.exists() {
            return Ok(e);
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("checkpoint {}", path.display()))?;
        let c: Checkpoint = serde_json::from_str(&text).with_context(|| {
            format!("checkpoint {} is not a profile checkpoint (remove it, or pass --fresh)", path.display())
        })?;
        if c.kind != CHECKPOINT_KIND || c.version != CHECKPOINT_VERSION {
            bail!(
                "checkpoint {} is a `{}` v{}, not a {CHECKPOINT_KIND} v{CHECKPOINT_VERSION} (pass --fresh)",
                path.display(),
                c.kind,
                c.version
            );
        }
        if c.key.measured_by != e.key.measured_by {
            eprintln!(
                "profile: checkpoint {} was measured by {}, not this build and machine ({}); measuring afresh",
                path.display(),
                if c.key.measured_by.is_empty() { "an unrecorded build" } else { &c.key.measured_by },
                e.key.measured_by
            );
            return Ok(e);
        }
        if c.key.spec_content != e.key.spec_content && c.key.model == e.key.model {
            eprintln!(
                "profile: spec file {} changed since checkpoint {} was measured ({} -> {}); measuring afresh",
                e.key.model,
                path.display(),
                if c.key.spec_content.is_empty() { "content unrecorded" } else { &c.key.spec_content },
                e.key.spec_content
            );
            return Ok(e);
        }
        if c.key != e.key {
            bail!(
                "checkpoint {} was made with other settings ({:?}); pass --fresh to start over",
                path.display(),
                c.key
            );
        }
        eprintln!("profile: resuming {} measured schedules from {}", c.evaluations.len(), path.display());
        for ev in c.evaluations {
            let k = unplaced(&ev.schedule);
            e.order.push(k.clone());
            e.evals.insert(k, ev);
        }
        Ok(e)
    }

    /// Schedules measured in this process.
    pub fn measured(&self) -> usize {
        self.measured_now
    }

    /// Schedules measured in all, the checkpoint's included.
    pub fn measured_total(&self) -> usize {
        self.evals.len()
    }

    /// Whether Ctrl-C stopped a measurement.
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// The evaluation of `schedule` (unplaced), if measured.
    pub fn get(&self, schedule: &Schedule) -> Option<Evaluation> {
        self.evals.get(&unplaced(schedule)).cloned()
    }

    /// The objective over `space`, measuring on `fixture`.
    pub fn objective<'a>(
        &'a mut self,
        fixture: &'a mut Fixture,
        space: &'a Space,
        params: &'a CapacityParams,
        bar: &'a ProgressBar,
    ) -> Measure<'a> {
        Measure { ev: self, fixture, space, params, bar }
    }

    fn save(&self) -> Result<()> {
        let c = Checkpoint {
            kind: CHECKPOINT_KIND.into(),
            version: CHECKPOINT_VERSION,
            key: self.key.clone(),
            evaluations: self.order.iter().filter_map(|k| self.evals.get(k).cloned()).collect(),
        };
        output::write_json(&self.path, &c)
    }
}

/// A schedule's identity without its core placement (the same schedule placed the same way).
fn unplaced(s: &Schedule) -> String {
    Schedule { cores: Vec::new(), ..s.clone() }.to_string()
}

/// [`Objective`] backed by measurements.
pub struct Measure<'a> {
    ev: &'a mut Evaluator,
    fixture: &'a mut Fixture,
    space: &'a Space,
    params: &'a CapacityParams,
    bar: &'a ProgressBar,
}

impl Measure<'_> {
    /// One guarded measurement of `p` with arrivals from `seed`; `None` when Ctrl-C or the time
    /// budget stops it.
    fn measure_once(&mut self, p: &Point, seed: u64) -> Result<Option<(Schedule, Repeat, f64)>> {
        if self.ev.interrupted {
            return Ok(None);
        }
        if let Some(t) = self.ev.time_budget.filter(|t| self.ev.started.elapsed() >= *t) {
            self.bar.suspend(|| eprintln!("time budget {t:?} spent: no new measurements"));
            return Ok(None);
        }
        let schedule = self.space.schedule(p);
        self.bar.set_message(format!("measuring {}", unplaced(&schedule)));
        let t0 = Instant::now();
        let placed = self.fixture.start(schedule)?;
        let params = CapacityParams { seed, ..self.params.clone() };
        let rep = capacity::measure_guarded(
            self.fixture,
            &placed,
            &params,
            self.ev.repeat.guard.as_ref(),
            crate::serve::interrupt_flag(),
            |_| Ok(()),
            None,
        )?;
        let placed_schedule = placed.schedule.clone();
        drop(placed);
        if rep.interrupted() {
            self.ev.interrupted = true;
            return Ok(None);
        }
        let secs = t0.elapsed().as_secs_f64();
        let key = unplaced(&placed_schedule);
        let verdict = rep.rejected.as_ref().map_or(String::new(), |w| format!(", REJECTED: {w}"));
        self.bar.suspend(|| eprintln!("  {key}: {:.1} QPS (seed {seed}, {secs:.0} s{verdict})", rep.qps()));
        Ok(Some((placed_schedule, rep, secs)))
    }

    /// Most measurements one request makes to get an accepted one.
    fn attempts(&self) -> usize {
        if self.ev.repeat.guard.is_some() {
            2
        } else {
            1
        }
    }

    /// Adds one accepted sample to the measured point `p` (retrying a rejected one); its QPS, or
    /// `None` when stopped.
    fn add_sample(&mut self, p: &Point) -> Result<Option<f64>> {
        let key = unplaced(&self.space.schedule(p));
        for _ in 0..self.attempts() {
            let n = self.ev.evals.get(&key).map_or(0, |e| e.samples.len());
            let Some((_, rep, _)) = self.measure_once(p, self.params.seed.wrapping_add(n as u64))? else {
                return Ok(None);
            };
            let sample = Sample::from_repeat(&rep, self.params, self.ev.repeat.confidence);
            let e = self.ev.evals.get_mut(&key).context("re-measuring a schedule never measured")?;
            e.samples.push(sample.clone());
            self.ev.save()?;
            if sample.rejected.is_none() {
                return Ok(Some(sample.qps));
            }
        }
        Ok(self.ev.evals.get(&key).and_then(|e| e.samples.last()).map(|s| s.qps))
    }

    /// Measures `p` until it has `n` accepted samples (at most twice as many attempts); the
    /// evaluation, or `None` when `p` was never measured.
    pub fn settle(&mut self, p: &Point, n: usize) -> Result<Option<Evaluation>> {
        let key = unplaced(&self.space.schedule(p));
        for _ in 0..2 * n {
            let Some(e) = self.ev.evals.get(&key) else { return Ok(None) };
            if e.accepted().count() >= n || self.add_sample(p)?.is_none() {
                break;
            }
        }
        Ok(self.ev.evals.get(&key).cloned())
    }
}

impl Objective for Measure<'_> {
    fn eval(&mut self, p: &Point) -> Result<Option<f64>> {
        let key = unplaced(&self.space.schedule(p));
        if let Some(e) = self.ev.evals.get(&key) {
            self.bar.inc(1);
            return Ok(Some(e.qps));
        }
        let mut samples = Vec::new();
        let mut chosen = None;
        for attempt in 0..self.attempts() {
            let Some((placed, rep, secs)) =
                self.measure_once(p, self.params.seed.wrapping_add(attempt as u64))?
            else {
                return Ok(None);
            };
            samples.push(Sample::from_repeat(&rep, self.params, self.ev.repeat.confidence));
            let accepted = rep.rejected.is_none();
            chosen = Some(Evaluation::from_run(placed, &rep.run, secs));
            if accepted {
                break;
            }
        }
        let mut e = chosen.context("no measurement was made")?;
        e.samples = samples;
        let qps = e.qps;
        self.ev.order.push(key.clone());
        self.ev.evals.insert(key, e);
        self.ev.measured_now += 1;
        self.ev.save()?;
        self.bar.inc(1);
        let best = self.ev.evals.values().map(|e| e.qps).fold(0.0, f64::max);
        self.bar.set_message(format!("best so far {best:.1} QPS"));
        Ok(Some(qps))
    }

    /// The next accepted sample of `p`: replayed from the checkpoint while it has one not yet used
    /// in this process, else measured afresh with the next seed.
    fn remeasure(&mut self, p: &Point) -> Result<Option<f64>> {
        let key = unplaced(&self.space.schedule(p));
        let k = {
            let c = self.ev.remeasured.entry(key.clone()).or_default();
            *c += 1;
            *c
        };
        if let Some(s) = self.ev.evals.get(&key).and_then(|e| e.accepted().nth(k)) {
            return Ok(Some(s.qps));
        }
        self.add_sample(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn spec_files_are_hashed_and_zoo_models_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        std::fs::write(&p, "{}").unwrap();
        let model = p.to_str().unwrap();
        assert_eq!(spec_content_hash(model).unwrap(), format!("fnv1a64:{:016x}", fnv1a64(b"{}")));
        std::fs::write(&p, "{ }").unwrap();
        assert_ne!(spec_content_hash(model).unwrap(), format!("fnv1a64:{:016x}", fnv1a64(b"{}")));
        assert_eq!(spec_content_hash("ncf").unwrap(), "");
        assert_eq!(spec_content_hash("sleep:300").unwrap(), "");
    }

    fn repeat() -> RepeatParams {
        RepeatParams { repeats: 1, confidence: 0.9, guard: None }
    }

    fn key(spec_content: &str) -> Key {
        Key {
            model: "m.json".into(),
            rows_scale: 1.0,
            sla: "p95:10ms".into(),
            sizes: "lognormal".into(),
            seed: 1,
            cores: vec![0],
            measurement: "m".into(),
            measured_by: "b".into(),
            spec_content: spec_content.into(),
        }
    }

    /// A checkpoint of one measured schedule under `key`.
    fn write_checkpoint(path: &Path, key: Key) {
        let schedule: Schedule = "instances=1,threads=1".parse().unwrap();
        let ev = Evaluation {
            schedule,
            qps: 10.0,
            met_sla: true,
            status: "converged".into(),
            p50_ms: 1.0,
            p95_ms: 2.0,
            p99_ms: 3.0,
            achieved_qps: 10.0,
            curve: Vec::new(),
            power: None,
            counters: BTreeMap::new(),
            trials: 1,
            wall_s: 1.0,
            samples: Vec::new(),
        };
        let c = Checkpoint {
            kind: CHECKPOINT_KIND.into(),
            version: CHECKPOINT_VERSION,
            key,
            evaluations: vec![ev],
        };
        output::write_json(path, &c).unwrap();
    }

    #[test]
    fn an_edited_spec_file_is_measured_afresh_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.checkpoint.json");
        write_checkpoint(&p, key("fnv1a64:0000000000000001"));
        let same = Evaluator::open(&p, key("fnv1a64:0000000000000001"), false, None, repeat()).unwrap();
        assert_eq!(same.measured_total(), 1);
        let edited = Evaluator::open(&p, key("fnv1a64:0000000000000002"), false, None, repeat()).unwrap();
        assert_eq!(edited.measured_total(), 0);
        // A checkpoint from before the content was recorded cannot vouch for it either.
        write_checkpoint(&p, key(""));
        assert_eq!(
            Evaluator::open(&p, key("fnv1a64:0000000000000002"), false, None, repeat())
                .unwrap()
                .measured_total(),
            0
        );
    }
}
