//! How busy the rest of the machine was during a trial: CPU time used by other processes, from
//! `/proc/stat` (whole machine) minus `/proc/self/stat` (this process). A shared or noisy machine
//! makes latency-bounded throughput irreproducible; this is recorded so a reader can tell. On a VM the
//! hypervisor's steal time is recorded too: time the vCPUs were runnable but not running, which shows
//! up in the tail of the latencies and of the generator's schedule error whatever the harness does.

use crate::engine::{Instance, Model};
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// (machine busy ticks, machine total ticks, this process's ticks, machine steal ticks).
#[derive(Debug, Clone, Copy)]
pub struct Snapshot(Option<(u64, u64, u64, u64)>);

/// CPU use by other processes over a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Noise {
    /// Fraction of the machine's CPU time (all CPUs) other processes used, 0–1.
    pub others_cpu_fraction: Option<f64>,
    /// Fraction this process used.
    pub own_cpu_fraction: Option<f64>,
    /// Fraction of the machine's CPU time the hypervisor stole (0 on bare metal), 0–1.
    pub steal_fraction: Option<f64>,
    /// 1-minute load average at the end.
    pub loadavg_1m: Option<f64>,
}

fn machine() -> Option<(u64, u64, u64)> {
    let j = crate::power::estimated::cpu_jiffies(&std::fs::read_to_string("/proc/stat").ok()?)?;
    Some((j.busy, j.total, j.steal?))
}

fn own() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line: 12 and 13 here.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

impl Snapshot {
    /// Now.
    pub fn take() -> Self {
        Self(machine().zip(own()).map(|((b, t, st), o)| (b, t, o, st)))
    }

    /// Use between `self` and now.
    pub fn since(&self) -> Noise {
        let loadavg_1m = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()));
        let now = Snapshot::take();
        match (self.0, now.0) {
            (Some((b0, t0, o0, s0)), Some((b1, t1, o1, s1))) if t1 > t0 => {
                let total = (t1 - t0) as f64;
                let busy = (b1 - b0) as f64;
                let mine = o1.saturating_sub(o0) as f64;
                Noise {
                    others_cpu_fraction: Some(((busy - mine) / total).clamp(0.0, 1.0)),
                    own_cpu_fraction: Some((mine / total).clamp(0.0, 1.0)),
                    steal_fraction: Some((s1.saturating_sub(s0) as f64 / total).clamp(0.0, 1.0)),
                    loadavg_1m,
                }
            }
            _ => {
                Noise { others_cpu_fraction: None, own_cpu_fraction: None, steal_fraction: None, loadavg_1m }
            }
        }
    }
}

/// A few milliseconds' reading of the host's speed: floating-point throughput, memory read
/// bandwidth and, where there is a model, the model's own work. Taken before and after a trial, a
/// change between the two says the host itself changed speed during it (a neighbour, frequency,
/// migration), which the trial's numbers then carry.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Probe {
    /// Multiply-adds of eight independent scalar chains, GFLOP/s (best of five ~2 ms runs).
    pub fma_gflops: f64,
    /// Sequential read of a 16 MiB buffer, GB/s (best of five). Cache-resident after the first pass
    /// on most hosts, on purpose: a buffer past the last-level cache reads at whatever the trial
    /// left in the cache, which is drift of the probe's own making, not the host's. It is a drift
    /// indicator, not a DRAM figure (`hercules roofline` measures that).
    pub read_gbs: f64,
    /// Milliseconds per forward pass of the model being measured ([`WorkProbe`]), when it ran. Where
    /// present it replaces the read probe in [`Probe::drift`]: the read probe's cache residency drifted
    /// without the trials doing so (results/trust/guard-2026-12-05.md); the model's own work reads
    /// what the trial reads.
    pub work_ms: Option<f64>,
}

/// Items per forward pass of the work probe: about one median query (lognormal mu 5.1).
pub const WORK_PROBE_BATCH: usize = 128;

/// The model's own work as a host probe: forward passes of [`WORK_PROBE_BATCH`] items by one
/// instance on one core, the first core of the trial's schedule, with the trial's engine idle.
pub struct WorkProbe {
    model: Arc<dyn Model>,
    core: usize,
    /// Built on first use and kept, so before and after time the same instance.
    instance: Option<Box<dyn Instance>>,
}

impl WorkProbe {
    /// A probe of `model` on `core` (nothing is built yet).
    pub fn new(model: Arc<dyn Model>, core: usize) -> Self {
        Self { model, core, instance: None }
    }

    /// Milliseconds per forward pass: best of five rounds of at least 3 ms, on a thread pinned to
    /// the probe's core (unpinned where the pin fails: the reading is then noisier, not wrong).
    pub fn time(&mut self) -> anyhow::Result<f64> {
        let (model, core, instance) = (self.model.clone(), self.core, self.instance.take());
        let (instance, ms) = std::thread::scope(|s| {
            s.spawn(move || -> anyhow::Result<(Box<dyn Instance>, f64)> {
                let _ = hercules_kernels::pool::pin_current(core);
                let mut inst = match instance {
                    Some(i) => i,
                    None => model.instance(&[core], false)?,
                };
                let mut best = f64::INFINITY;
                for _ in 0..5 {
                    let (t, mut n) = (Instant::now(), 0u32);
                    while n == 0 || t.elapsed() < Duration::from_millis(3) {
                        inst.run(WORK_PROBE_BATCH)?;
                        n += 1;
                    }
                    best = best.min(t.elapsed().as_secs_f64() * 1e3 / f64::from(n));
                }
                Ok((inst, best))
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the work probe's thread panicked"))?
        })?;
        self.instance = Some(instance);
        Ok(ms)
    }
}

/// Bytes the read probe streams.
const PROBE_BYTES: usize = 16 << 20;

fn probe_buffer() -> &'static [u64] {
    static BUF: std::sync::OnceLock<Vec<u64>> = std::sync::OnceLock::new();
    // Written once (not zero pages: those can map to one shared page and read from cache).
    BUF.get_or_init(|| (0..PROBE_BYTES as u64 / 8).map(|i| i.wrapping_mul(0x9e37_79b9)).collect())
}

impl Probe {
    /// Measures now, on the calling thread (~15 ms).
    pub fn take() -> Self {
        const ITERS: usize = 1_000_000;
        let best = |f: &mut dyn FnMut() -> f64| (0..5).map(|_| f()).fold(0.0, f64::max);
        let fma_gflops = best(&mut || {
            let mut acc = std::hint::black_box([1.0f64, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7]);
            let (a, b) = std::hint::black_box((0.999_999_9f64, 1e-9f64));
            let t = std::time::Instant::now();
            for _ in 0..ITERS {
                // Not `mul_add`: without FMA enabled at compile time that is a libm call.
                for x in &mut acc {
                    *x = *x * a + b;
                }
            }
            std::hint::black_box(acc);
            (ITERS * 8 * 2) as f64 / t.elapsed().as_secs_f64().max(1e-9) * 1e-9
        });
        let buf = probe_buffer();
        let read_gbs = best(&mut || {
            let t = std::time::Instant::now();
            let sum = buf.chunks_exact(4).fold(0u64, |s, c| s ^ c[0] ^ c[1] ^ c[2] ^ c[3]);
            std::hint::black_box(sum);
            PROBE_BYTES as f64 / t.elapsed().as_secs_f64().max(1e-9) * 1e-9
        });
        Probe { fma_gflops, read_gbs, work_ms: None }
    }

    /// This reading with the model's own work timed (`None` when the work probe failed).
    pub fn with_work(self, work_ms: Option<f64>) -> Self {
        Self { work_ms: work_ms.filter(|ms| ms.is_finite() && *ms > 0.0), ..self }
    }

    /// The larger relative change in speed from `self` to `after`: of the FMA loop, and of the
    /// model's work where both readings have it (of the read probe otherwise).
    pub fn drift(&self, after: &Probe) -> f64 {
        let rel = |a: f64, b: f64| if a > 0.0 { (b - a).abs() / a } else { 0.0 };
        let memory = match (self.work_ms, after.work_ms) {
            (Some(a), Some(b)) => rel(1.0 / a, 1.0 / b),
            _ => rel(self.read_gbs, after.read_gbs),
        };
        rel(self.fma_gflops, after.fma_gflops).max(memory)
    }
}

/// When a trial is not to be trusted: the host changed speed, other processes used the CPUs, or
/// the hypervisor took too much.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Guard {
    /// Largest accepted [`Probe::drift`] between before and after, e.g. 0.15.
    pub max_drift: f64,
    /// Largest accepted fraction of the machine's CPU time used by other processes, e.g. 0.05.
    pub max_others: f64,
    /// Largest accepted steal fraction over the trial, e.g. 0.05.
    pub max_steal: f64,
}

impl Guard {
    /// Why a trial with these readings is rejected, or `None` when it is accepted.
    pub fn verdict(&self, before: &Probe, after: &Probe, noise: &Noise) -> Option<String> {
        let drift = before.drift(after);
        if drift > self.max_drift {
            let memory = match (before.work_ms, after.work_ms) {
                (Some(a), Some(b)) => format!("model work {a:.2} -> {b:.2} ms"),
                _ => format!("read {:.1} -> {:.1} GB/s", before.read_gbs, after.read_gbs),
            };
            return Some(format!(
                "host drifted {:.0}% (FMA {:.1} -> {:.1} GFLOP/s, {memory}; limit {:.0}%)",
                drift * 100.0,
                before.fma_gflops,
                after.fma_gflops,
                self.max_drift * 100.0
            ));
        }
        if let Some(o) = noise.others_cpu_fraction.filter(|&o| o > self.max_others) {
            return Some(format!(
                "other processes used {:.1}% of the machine's CPU time (limit {:.1}%)",
                o * 100.0,
                self.max_others * 100.0
            ));
        }
        match noise.steal_fraction {
            Some(st) if st > self.max_steal => Some(format!(
                "hypervisor stole {:.1}% of the CPU time (limit {:.1}%)",
                st * 100.0,
                self.max_steal * 100.0
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_work_shows_as_own() {
        let s = Snapshot::take();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(200) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let n = s.since();
        let own = n.own_cpu_fraction.expect("procfs readable");
        let cpus = hercules_kernels::pool::allowed_cores().len().max(1) as f64;
        // One busy thread is up to 1/cpus of the machine (less when the machine is contended).
        assert!(own > 0.1 / cpus && own <= 1.0, "{n:?}");
        assert!(n.others_cpu_fraction.unwrap() <= 1.0);
        assert!(n.steal_fraction.unwrap() <= 1.0);
    }

    #[test]
    fn the_guard_rejects_drift_and_steal_and_accepts_a_steady_host() {
        let g = Guard { max_drift: 0.15, max_others: 0.05, max_steal: 0.05 };
        let p = Probe { fma_gflops: 10.0, read_gbs: 8.0, work_ms: None };
        let calm = Noise {
            others_cpu_fraction: None,
            own_cpu_fraction: None,
            steal_fraction: Some(0.01),
            loadavg_1m: None,
        };
        assert_eq!(g.verdict(&p, &Probe { fma_gflops: 9.5, read_gbs: 8.4, work_ms: None }, &calm), None);
        let slow = g.verdict(&p, &Probe { fma_gflops: 10.0, read_gbs: 6.0, work_ms: None }, &calm).unwrap();
        assert!(slow.starts_with("host drifted 25%"), "{slow}");
        // With the model's work timed on both sides, it judges memory instead of the read probe.
        let w = p.with_work(Some(2.0));
        let read_only = Probe { read_gbs: 6.0, ..w };
        assert_eq!(g.verdict(&w, &read_only, &calm), None);
        let slower = g.verdict(&w, &Probe { work_ms: Some(2.5), ..w }, &calm).unwrap();
        assert!(
            slower.starts_with("host drifted 20%") && slower.contains("model work 2.00 -> 2.50 ms"),
            "{slower}"
        );
        let stolen = Noise { steal_fraction: Some(0.2), ..calm };
        assert!(g.verdict(&p, &p, &stolen).unwrap().starts_with("hypervisor stole 20.0%"));
        // A neighbour process busy through the whole trial slows both probes alike: no drift, but
        // its CPU time shows.
        let quiet = Noise { others_cpu_fraction: Some(0.02), ..calm };
        assert_eq!(g.verdict(&p, &p, &quiet), None);
        let busy = Noise { others_cpu_fraction: Some(0.45), ..calm };
        assert!(g.verdict(&p, &p, &busy).unwrap().starts_with("other processes used 45.0%"));
        let one_core_part_time = Noise { others_cpu_fraction: Some(0.07), ..calm };
        assert!(g.verdict(&p, &p, &one_core_part_time).unwrap().contains("(limit 5.0%)"));
    }

    #[test]
    fn the_probe_reads_positive_speeds() {
        let p = Probe::take();
        assert!(p.fma_gflops > 0.01 && p.read_gbs > 0.01, "{p:?}");
        assert_eq!(p.drift(&p), 0.0);
    }

    #[test]
    fn the_work_probe_times_the_model_and_reports_its_errors() {
        use crate::engine::{Broken, Delay};
        let mut w = WorkProbe::new(Arc::new(Delay::new(Duration::from_micros(200))), 0);
        let (a, b) = (w.time().unwrap(), w.time().unwrap());
        // Best of five: a busy-wait of 0.2 ms, plus little (more on a loaded host).
        assert!((0.2..1.0).contains(&a) && (0.2..1.0).contains(&b), "{a} {b}");
        let err = WorkProbe::new(Arc::new(Broken { panic: false }), 0).time().unwrap_err();
        assert!(err.to_string().contains("weights missing"), "{err}");
        let err = WorkProbe::new(Arc::new(Broken { panic: true }), 0).time().unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
    }
}
