//! One trial: offer one load to a running engine, measure every query's latency from its
//! scheduled arrival, and stop early when the verdict is already clear.
//!
//! Early stopping (open loop with an SLA only). "Clearly over": the queries already known to be
//! over the target, counting queries still unfinished more than `target` after their scheduled
//! time, exceed what the SLA allows of the whole trial, or (after the minimum time and count) the
//! 99% Wilson lower bound of the over-target fraction exceeds the allowance. "Clearly under":
//! after the minimum time and count, the 99% Wilson upper bound is below half the allowance and
//! the backlog is small (so a slowly growing queue cannot pass early).

use crate::engine::queue::{TrialState, NOT_DONE};
use crate::engine::{Engine, EngineError};
use crate::latency::{Histogram, Percentiles, Sla};
use crate::load::arrivals;
use crate::load::closed::ClosedLoop;
use crate::load::open::OpenLoop;
use crate::load::sizes::{QuerySizes, SampleSizes};
use hercules_results::table::CurvePoint;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How load is offered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Load {
    /// Poisson arrivals at this rate (queries per second), whatever the engine does.
    Open {
        /// Offered queries per second.
        qps: f64,
    },
    /// This many queries always in flight.
    Closed {
        /// Queries in flight.
        concurrency: usize,
    },
}

/// One trial's settings.
#[derive(Debug, Clone)]
pub struct TrialSpec {
    /// The load.
    pub load: Load,
    /// Queries scheduled in this first stretch run but are not measured.
    pub warmup: Duration,
    /// Measured stretch after the warm-up (planned; early stopping may cut it).
    pub duration: Duration,
    /// Early stopping waits for at least this much measured time...
    pub min_duration: Duration,
    /// ...and at least this many measured queries.
    pub min_queries: usize,
    /// The SLA queries are judged against (none: just measure).
    pub sla: Option<Sla>,
    /// Whether to stop early when the verdict is clear.
    pub early_stop: bool,
    /// After the last arrival, how long to wait for unfinished queries.
    pub drain: Duration,
    /// Seed for arrivals and sizes.
    pub seed: u64,
    /// Query sizes.
    pub sizes: QuerySizes,
    /// The generator spins this long before each arrival instead of sleeping.
    pub spin: Duration,
    /// Core for the generator thread.
    pub generator_core: Option<usize>,
    /// Run the open-loop generator under SCHED_FIFO.
    pub realtime: bool,
    /// Keep every query's record (tests, detailed logs).
    pub keep_records: bool,
    /// Closed loop: most queries issued in one trial (bounds memory).
    pub max_closed_queries: usize,
    /// Open loop: also report latency, schedule error and memory per window of this length.
    pub window: Option<Duration>,
}

impl Default for TrialSpec {
    fn default() -> Self {
        Self {
            load: Load::Open { qps: 100.0 },
            warmup: Duration::from_millis(500),
            duration: Duration::from_secs(5),
            min_duration: Duration::from_secs(1),
            min_queries: 500,
            sla: None,
            early_stop: true,
            drain: Duration::from_secs(2),
            seed: 1,
            sizes: QuerySizes::default(),
            spin: Duration::from_micros(100),
            generator_core: None,
            realtime: false,
            keep_records: false,
            max_closed_queries: 1 << 20,
            window: None,
        }
    }
}

/// Why a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// Every planned query was offered.
    Completed,
    /// Stopped early: the SLA is already missed.
    ClearlyOver,
    /// Stopped early: the SLA is met with a wide margin.
    ClearlyUnder,
    /// Ctrl-C.
    Interrupted,
}

/// One query's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryRecord {
    /// Scheduled arrival, ns from the trial's start.
    pub scheduled_ns: u64,
    /// Latency (a lower bound when not `finished`).
    pub latency_ns: u64,
    /// Whether it finished before the trial ended.
    pub finished: bool,
}

/// One window of a long open-loop trial (a soak run): queries by scheduled arrival.
#[derive(Debug, Clone, Serialize)]
pub struct WindowStats {
    /// Window start, seconds after the warm-up.
    pub start_s: f64,
    /// Measured queries scheduled in the window.
    pub queries: u64,
    /// Of them, finished before the trial ended.
    pub finished: u64,
    /// Latency of the window's queries, milliseconds.
    pub latency_ms: Percentiles,
    /// Generator lateness in the window, microseconds.
    pub schedule_error_us: Option<Percentiles>,
    /// Largest resident set size of this process sampled in the window, MiB.
    pub rss_mib: Option<f64>,
}

/// What one trial measured.
#[derive(Debug, Clone, Serialize)]
pub struct TrialResult {
    /// The load offered.
    pub load: Load,
    /// Measured queries that finished per measured second.
    pub achieved_qps: f64,
    /// Queries measured (after the warm-up), finished or not.
    pub measured_queries: u64,
    /// Measured queries unfinished when the trial ended; their latency counts as a lower bound.
    pub incomplete_queries: u64,
    /// Warm-up queries (run, not measured).
    pub warmup_queries: u64,
    /// Sub-batches run, warm-up included.
    pub sub_batches: u64,
    /// Sub-batches run per second of trial.
    pub sub_batches_per_s: f64,
    /// Queries sent to the GPU lane, warm-up included (0 when the schedule does not offload).
    pub gpu_queries: u64,
    /// Latency from scheduled arrival to last sub-batch done, milliseconds.
    pub latency_ms: Percentiles,
    /// Generator lateness (actual minus scheduled enqueue), microseconds (open loop only).
    pub schedule_error_us: Option<Percentiles>,
    /// Core the generator was pinned to, if it was.
    pub generator_core: Option<usize>,
    /// `fifo` when the generator ran under SCHED_FIFO, else why not (`None`: not asked, or closed loop).
    pub generator_realtime: Option<String>,
    /// Why the trial ended.
    pub stopped: StopReason,
    /// Whether the SLA was met (when one was given).
    pub sla_met: Option<bool>,
    /// Measured seconds (warm-up excluded).
    pub measured_s: f64,
    /// Wall seconds the trial took, drain included.
    pub wall_s: f64,
    /// Per window, when the spec asked for windows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowStats>,
    /// Every measured query (when asked for).
    #[cfg_attr(not(test), allow(dead_code))] // read by tests; a detailed log will write them
    #[serde(skip)]
    pub records: Vec<QueryRecord>,
    /// The latency histogram (ns).
    #[serde(skip)]
    pub histogram: Histogram,
}

impl TrialResult {
    /// The curve point of an open-loop trial (closed-loop trials have no offered rate).
    pub fn curve_point(&self) -> Option<CurvePoint> {
        let Load::Open { qps } = self.load else { return None };
        Some(CurvePoint {
            offered_qps: qps,
            achieved_qps: self.achieved_qps,
            p50_ms: self.latency_ms.p50,
            p95_ms: self.latency_ms.p95,
            p99_ms: self.latency_ms.p99,
        })
    }
}

/// Wilson score interval bounds for `k` successes in `n` trials at `z` standard deviations.
pub fn wilson(k: usize, n: usize, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

const Z99: f64 = 2.576;

/// The longest spin before each arrival that keeps a SCHED_FIFO generator asleep at least 10% of the
/// time at `qps` (Poisson gaps: it sleeps a fraction e^(−qps·spin)). A real-time thread that never
/// sleeps hits the kernel's RT throttling (by default 50 ms of every second), which shows up as
/// stalls of tens of milliseconds in the generator's schedule error (see results/notebook-2026.md).
fn max_realtime_spin(qps: f64) -> Duration {
    // Bounded so a tiny rate cannot overflow the Duration (a second is far above any spin).
    Duration::from_secs_f64((10f64.ln() / qps).min(1.0))
}

/// Runs one trial on `engine`. `interrupt` (Ctrl-C) ends it as [`StopReason::Interrupted`].
pub fn run(engine: &Engine, spec: &TrialSpec, interrupt: &AtomicBool) -> Result<TrialResult, EngineError> {
    let wall = Instant::now();
    // A millisecond of lead-in so the generator thread is up before the first arrival.
    let lead = 1_000_000u64;
    let warmup_ns = lead + spec.warmup.as_nanos() as u64;
    let horizon_ns = warmup_ns + spec.duration.as_nanos() as u64;
    let target_ns = spec.sla.map_or(u64::MAX, |s| s.target.as_nanos() as u64);
    let window_ns =
        spec.window.map(|w| (w.as_nanos() as u64).max(1)).filter(|_| matches!(spec.load, Load::Open { .. }));
    let mut rss: Vec<(u64, f64)> = Vec::new();
    let queues = engine.queues();
    let stop = AtomicBool::new(false);
    let sent = AtomicUsize::new(0);

    let (trial, gen_report, stopped) = match spec.load {
        Load::Open { qps } => {
            if !(qps > 0.0 && qps.is_finite()) {
                return Err(EngineError::Start(format!("offered rate {qps} QPS is not positive")));
            }
            crate::limits::check_arrivals(qps, Duration::from_nanos(horizon_ns - lead))
                .map_err(EngineError::Start)?;
            let arrivals: Vec<u64> =
                arrivals::poisson(qps, horizon_ns - lead, spec.seed).into_iter().map(|t| t + lead).collect();
            let sizes = spec.sizes.sample(arrivals.len(), spec.seed);
            let trial = Arc::new(TrialState::new(arrivals.len(), warmup_ns, target_ns, None));
            for (slot, &a) in trial.scheduled_ns.iter().zip(&arrivals) {
                slot.store(a, Ordering::Relaxed);
            }
            let gen = OpenLoop {
                arrivals: arrivals.clone(),
                sizes,
                spin: if spec.realtime { spec.spin.min(max_realtime_spin(qps)) } else { spec.spin },
                core: spec.generator_core,
                realtime: spec.realtime,
                keep_lateness: window_ns.is_some(),
            };
            let (report, stopped) = std::thread::scope(|s| {
                let h = std::thread::Builder::new()
                    .name("hercules-gen".into())
                    .spawn_scoped(s, || gen.run(&trial, queues, &stop, &sent))
                    .expect("spawning the generator thread");
                let stopped =
                    monitor(&trial, spec, &arrivals, &sent, interrupt, &mut rss, || h.is_finished());
                stop.store(true, Ordering::Relaxed);
                (h.join().expect("generator thread panicked"), stopped)
            });
            (trial, Some(report), stopped)
        }
        Load::Closed { concurrency } => {
            let cap = spec.max_closed_queries.max(concurrency);
            let sizes = spec.sizes.sample(cap, spec.seed);
            let (tx, rx) = crossbeam_channel::unbounded();
            let trial = Arc::new(TrialState::new(cap, warmup_ns, target_ns, Some(tx)));
            let gen =
                ClosedLoop { concurrency: concurrency.max(1), sizes, horizon_ns, core: spec.generator_core };
            let stopped = std::thread::scope(|s| {
                let h = std::thread::Builder::new()
                    .name("hercules-closed".into())
                    .spawn_scoped(s, || gen.run(&trial, queues, &rx, &stop, &sent))
                    .expect("spawning the closed-loop thread");
                let mut stopped = StopReason::Completed;
                while !h.is_finished() {
                    if interrupt.load(Ordering::Relaxed) {
                        stopped = StopReason::Interrupted;
                        break;
                    }
                    if trial.abort.load(Ordering::Acquire) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                stop.store(true, Ordering::Relaxed);
                let _ = h.join();
                stopped
            });
            (trial, None, stopped)
        }
    };

    // Let what was sent finish (not after an interrupt or a clear failure: those results are
    // either discarded or already decided), then drop whatever is still queued.
    if matches!(stopped, StopReason::Completed | StopReason::ClearlyUnder) {
        let until = Instant::now() + spec.drain;
        while trial.inflight.load(Ordering::Acquire) > 0
            && Instant::now() < until
            && !interrupt.load(Ordering::Relaxed)
            && !trial.abort.load(Ordering::Acquire)
        {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    let end_ns = trial.now_ns();
    trial.abort.store(true, Ordering::Release);
    let stuck_limit = Instant::now() + spec.drain + Duration::from_secs(30);
    while trial.inflight.load(Ordering::Acquire) > 0 {
        if Instant::now() > stuck_limit {
            return Err(EngineError::Stuck(format!(
                "{} sub-batches still running {:.0} s after the trial ended",
                trial.inflight.load(Ordering::Acquire),
                spec.drain.as_secs_f64() + 30.0
            )));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    if let Some(e) = trial.error.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(EngineError::Model(e));
    }

    let n_sent = sent.load(Ordering::Acquire);
    let mut hist = Histogram::new();
    let mut records = Vec::new();
    let (mut measured, mut incomplete, mut warm) = (0u64, 0u64, 0u64);
    let mut last_done = warmup_ns;
    let mut finished = 0u64;
    let mut windows: Vec<(Histogram, u64, u64)> = Vec::new();
    for q in 0..n_sent {
        let sched = trial.scheduled_ns[q].load(Ordering::Relaxed);
        if sched < warmup_ns {
            warm += 1;
            continue;
        }
        measured += 1;
        let done = trial.done_ns[q].load(Ordering::Acquire);
        let (lat, ok) = if done == NOT_DONE {
            incomplete += 1;
            (end_ns.saturating_sub(sched), false)
        } else {
            finished += 1;
            last_done = last_done.max(done);
            (done - sched, true)
        };
        hist.record(lat);
        if let Some(w) = window_ns {
            let i = ((sched - warmup_ns) / w) as usize;
            if windows.len() <= i {
                windows.resize_with(i + 1, || (Histogram::new(), 0, 0));
            }
            windows[i].0.record(lat);
            windows[i].1 += 1;
            windows[i].2 += u64::from(ok);
        }
        if spec.keep_records {
            records.push(QueryRecord { scheduled_ns: sched, latency_ns: lat, finished: ok });
        }
    }
    let measured_s = (last_done.max(end_ns.min(horizon_ns)) - warmup_ns.min(end_ns)) as f64 * 1e-9;
    let sub_batches = trial.sub_batches_run.load(Ordering::Relaxed);
    let run_s = (last_done.max(1) as f64 * 1e-9).max(1e-9);
    let sla_met = spec.sla.map(|s| match stopped {
        StopReason::ClearlyOver => false,
        _ => s.met_by(&hist),
    });
    let window_stats = window_ns.map_or_else(Vec::new, |w| {
        // Schedule error per window, from each query's lateness and scheduled time.
        let mut errors: Vec<Histogram> = Vec::new();
        for (q, &late) in gen_report.iter().flat_map(|g| g.lateness_ns.iter().enumerate()) {
            let sched = trial.scheduled_ns[q].load(Ordering::Relaxed);
            if late == u32::MAX || sched < warmup_ns {
                continue;
            }
            let i = ((sched - warmup_ns) / w) as usize;
            if errors.len() <= i {
                errors.resize_with(i + 1, Histogram::new);
            }
            errors[i].record(u64::from(late));
        }
        windows
            .iter()
            .enumerate()
            .map(|(i, (h, queries, done))| {
                let (from, to) = (warmup_ns + i as u64 * w, warmup_ns + (i as u64 + 1) * w);
                WindowStats {
                    start_s: (i as u64 * w) as f64 * 1e-9,
                    queries: *queries,
                    finished: *done,
                    latency_ms: h.summary_ms(),
                    schedule_error_us: errors.get(i).map(Histogram::summary_us),
                    rss_mib: rss
                        .iter()
                        .filter(|(t, _)| (from..to).contains(t))
                        .map(|&(_, m)| m)
                        .reduce(f64::max),
                }
            })
            .collect()
    });
    Ok(TrialResult {
        windows: window_stats,
        load: spec.load,
        achieved_qps: if measured_s > 0.0 { finished as f64 / measured_s } else { 0.0 },
        measured_queries: measured,
        incomplete_queries: incomplete,
        warmup_queries: warm,
        sub_batches,
        sub_batches_per_s: sub_batches as f64 / run_s,
        gpu_queries: trial.offloaded.load(Ordering::Relaxed) as u64,
        latency_ms: hist.summary_ms(),
        schedule_error_us: gen_report.as_ref().map(|g| g.schedule_error.summary_us()),
        generator_core: gen_report.as_ref().and_then(|g| g.pinned.clone()).and_then(Result::ok),
        generator_realtime: gen_report
            .as_ref()
            .and_then(|g| g.realtime.clone())
            .map(|r| r.map_or_else(|e| e, |()| "fifo".to_string())),
        stopped,
        sla_met,
        measured_s,
        wall_s: wall.elapsed().as_secs_f64(),
        records,
        histogram: hist,
    })
}

/// This process's resident set size, MiB (Linux; `None` elsewhere or when unreadable).
fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Watches an open-loop trial until the generator is done, Ctrl-C, a model error, or a clear
/// early verdict.
fn monitor(
    trial: &TrialState,
    spec: &TrialSpec,
    arrivals: &[u64],
    sent: &AtomicUsize,
    interrupt: &AtomicBool,
    rss: &mut Vec<(u64, f64)>,
    generator_done: impl Fn() -> bool,
) -> StopReason {
    let warm = arrivals.partition_point(|&a| a < trial.warmup_ns);
    let planned = arrivals.len() - warm;
    let qps = match spec.load {
        Load::Open { qps } => qps,
        Load::Closed { .. } => 0.0,
    };
    let mut next_rss = 0u64;
    loop {
        if let Some(w) = spec.window.filter(|_| trial.now_ns() >= next_rss) {
            // At most once a second (twice a window): enough to see growth, too rare to disturb.
            if let Some(mib) = rss_mib() {
                rss.push((trial.now_ns(), mib));
            }
            next_rss = trial.now_ns() + (w.as_nanos() as u64 / 2).clamp(1, 1_000_000_000);
        }
        if generator_done() || trial.abort.load(Ordering::Acquire) {
            return StopReason::Completed;
        }
        if interrupt.load(Ordering::Relaxed) {
            return StopReason::Interrupted;
        }
        std::thread::sleep(Duration::from_millis(5));
        let (Some(sla), true) = (spec.sla, spec.early_stop) else { continue };
        let now = trial.now_ns();
        if now <= trial.warmup_ns {
            continue;
        }
        let allowed = sla.allowed_over();
        let completed = trial.completed.load(Ordering::Relaxed);
        let over = trial.over.load(Ordering::Relaxed);
        // Measured queries scheduled more than `target` ago: each one not yet finished is over.
        let old = arrivals.partition_point(|&a| a < now.saturating_sub(trial.target_ns)).saturating_sub(warm);
        let over_lb = over + old.saturating_sub(completed);
        if over_lb as f64 > allowed * planned as f64 {
            return StopReason::ClearlyOver;
        }
        let measured_ns = now - trial.warmup_ns;
        if measured_ns < spec.min_duration.as_nanos() as u64 || completed < spec.min_queries {
            continue;
        }
        let judged = completed.max(old);
        let (lo, hi) = wilson(over_lb, judged, Z99);
        if lo > allowed {
            return StopReason::ClearlyOver;
        }
        let scheduled = arrivals.partition_point(|&a| a < now).saturating_sub(warm);
        let backlog = scheduled.saturating_sub(completed);
        // Little's law: a queue holding more than rate × target/2 means latency is climbing.
        let backlog_ok = backlog as f64 <= (qps * sla.target.as_secs_f64() * 0.5).max(8.0);
        if hi < allowed * 0.5 && backlog_ok && sent.load(Ordering::Relaxed) > warm {
            return StopReason::ClearlyUnder;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{schedule::Schedule, Delay, Noop};
    use hercules_kernels::pool;

    fn engine(model: Arc<dyn crate::engine::Model>, sched: &str) -> Engine {
        let mut s: Schedule = sched.parse().unwrap();
        let allowed = pool::allowed_cores();
        s.place(&allowed, &allowed).unwrap();
        Engine::start(model, None, &s).unwrap()
    }

    #[test]
    fn a_failing_or_panicking_model_ends_the_trial_with_its_error() {
        use std::sync::atomic::AtomicBool;
        for panic in [false, true] {
            let mut s: Schedule = "instances=1,threads=1".parse().unwrap();
            let allowed = hercules_kernels::pool::allowed_cores();
            s.place(&allowed, &allowed).unwrap();
            let e = Engine::start(Arc::new(crate::engine::Broken { panic }), None, &s).unwrap();
            let spec = TrialSpec {
                load: Load::Open { qps: 200.0 },
                warmup: Duration::ZERO,
                duration: Duration::from_millis(300),
                ..TrialSpec::default()
            };
            let t = Instant::now();
            let err = run(&e, &spec, &AtomicBool::new(false)).unwrap_err().to_string();
            let want = if panic { "panicked: index out of bounds" } else { "weights missing" };
            assert!(err.contains(want) && err.contains("instance 0"), "{err}");
            assert!(t.elapsed() < Duration::from_secs(5));
        }
    }

    #[test]
    fn wilson_bounds_bracket_the_rate() {
        let (lo, hi) = wilson(50, 1000, Z99);
        assert!(lo < 0.05 && hi > 0.05 && lo > 0.03 && hi < 0.075, "{lo} {hi}");
        assert_eq!(wilson(0, 0, Z99), (0.0, 1.0));
    }

    #[test]
    fn noop_open_loop_measures_every_query() {
        let e = engine(Arc::new(Noop), "instances=1,threads=1,sub-batch=32");
        let spec = TrialSpec {
            load: Load::Open { qps: 2000.0 },
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(400),
            early_stop: false,
            ..TrialSpec::default()
        };
        let r = run(&e, &spec, &AtomicBool::new(false)).unwrap();
        assert_eq!(r.stopped, StopReason::Completed);
        assert!((r.measured_queries as f64 - 800.0).abs() < 160.0, "{}", r.measured_queries);
        assert_eq!(r.incomplete_queries, 0);
        assert!(r.sub_batches as f64 >= 5.0 * (r.measured_queries + r.warmup_queries) as f64);
        assert!(r.latency_ms.p50 < 5.0, "{:?}", r.latency_ms);
        assert!((r.achieved_qps / 2000.0 - 1.0).abs() < 0.25, "{}", r.achieved_qps);
    }

    #[test]
    fn windows_split_the_measured_queries_by_scheduled_time() {
        let e = engine(Arc::new(Noop), "instances=1,threads=1");
        let spec = TrialSpec {
            load: Load::Open { qps: 1000.0 },
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(1200),
            early_stop: false,
            window: Some(Duration::from_millis(500)),
            ..TrialSpec::default()
        };
        let r = run(&e, &spec, &AtomicBool::new(false)).unwrap();
        // 1.2 s in 0.5 s windows: two full ones and a partial third.
        assert_eq!(r.windows.len(), 3, "{:?}", r.windows);
        assert_eq!(r.windows.iter().map(|w| w.queries).sum::<u64>(), r.measured_queries);
        assert!(r.windows[0].queries > 300 && r.windows[2].queries < r.windows[0].queries);
        assert_eq!(r.windows[1].start_s, 0.5);
        assert!(r.windows.iter().all(|w| w.schedule_error_us.is_some()));
        if cfg!(target_os = "linux") {
            assert!(r.windows[0].rss_mib.is_some_and(|m| m > 1.0), "{:?}", r.windows[0]);
        }
        let closed = TrialSpec { load: Load::Closed { concurrency: 2 }, ..spec };
        assert!(run(&e, &closed, &AtomicBool::new(false)).unwrap().windows.is_empty());
    }

    /// No coordinated omission: the engine stalls for 300 ms; the queries scheduled during the stall
    /// must show it in their latency (measured from their scheduled time), although the generator
    /// kept sending on time throughout.
    #[test]
    fn a_stall_shows_in_the_tail() {
        let stall = Duration::from_millis(300);
        let qps = 500.0;
        // 500 QPS, fixed 1-item queries: sub-batch 200 falls at about 0.4 s into the trial.
        let model = Arc::new(Delay::with_stall(Duration::from_micros(20), 200, stall));
        let e = engine(model, "instances=1,threads=1");
        let spec = TrialSpec {
            load: Load::Open { qps },
            warmup: Duration::ZERO,
            duration: Duration::from_millis(1500),
            early_stop: false,
            sizes: QuerySizes::Fixed { size: 1 },
            keep_records: true,
            seed: 11,
            ..TrialSpec::default()
        };
        let r = run(&e, &spec, &AtomicBool::new(false)).unwrap();
        let recs = &r.records;
        let stall_start = recs[200].scheduled_ns;
        let stall_end = stall_start + stall.as_nanos() as u64;
        let during: Vec<&QueryRecord> =
            recs.iter().filter(|q| q.scheduled_ns > stall_start && q.scheduled_ns < stall_end).collect();
        // ~150 queries arrived during the stall, and each waited at least until it ended.
        assert!(during.len() > 100, "{} queries during the stall", during.len());
        for q in &during {
            let waited_until = q.scheduled_ns + q.latency_ns;
            assert!(
                waited_until + 2_000_000 >= stall_end,
                "query at {} finished before the stall ended",
                q.scheduled_ns
            );
        }
        // The stall fills the tail: 10% of queries, latencies spread over 0–300 ms.
        assert!(r.latency_ms.max >= 290.0, "{:?}", r.latency_ms);
        assert!(r.latency_ms.p99 >= 250.0, "{:?}", r.latency_ms);
        assert!(r.latency_ms.p50 < 20.0, "{:?}", r.latency_ms);
        // The generator did not wait for the engine.
        let err = r.schedule_error_us.unwrap();
        assert!(err.p99 < 5_000.0, "generator fell behind: {err:?}");
    }

    #[test]
    fn overload_stops_early_and_does_not_hang() {
        // 2 ms per query, offered 2000 QPS: four times what one instance can do.
        let e = engine(Arc::new(Delay::new(Duration::from_millis(2))), "instances=1,threads=1");
        let spec = TrialSpec {
            load: Load::Open { qps: 2000.0 },
            warmup: Duration::from_millis(100),
            duration: Duration::from_secs(20),
            sla: Some(Sla::parse("p95:10ms").unwrap()),
            sizes: QuerySizes::Fixed { size: 1 },
            ..TrialSpec::default()
        };
        let t = Instant::now();
        let r = run(&e, &spec, &AtomicBool::new(false)).unwrap();
        assert_eq!(r.stopped, StopReason::ClearlyOver);
        assert_eq!(r.sla_met, Some(false));
        assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
    }

    #[test]
    fn realtime_spin_leaves_room_for_sleep() {
        // 20k QPS keeps the default 100 µs; 50k QPS gets less, so the generator still sleeps 10%.
        assert!(max_realtime_spin(20_000.0) > Duration::from_micros(100));
        let s = max_realtime_spin(50_000.0);
        assert!((-(50_000.0 * s.as_secs_f64())).exp() >= 0.0999, "{s:?}");
    }

    #[test]
    fn closed_loop_measures_saturation() {
        let e = engine(Arc::new(Delay::new(Duration::from_micros(500))), "instances=1,threads=1");
        let spec = TrialSpec {
            load: Load::Closed { concurrency: 2 },
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(500),
            sizes: QuerySizes::Fixed { size: 1 },
            ..TrialSpec::default()
        };
        let r = run(&e, &spec, &AtomicBool::new(false)).unwrap();
        // One instance, 0.5 ms per query: about 2000 QPS.
        assert!(r.achieved_qps > 1200.0 && r.achieved_qps < 2100.0, "{}", r.achieved_qps);
        assert!(r.schedule_error_us.is_none());
    }
}
