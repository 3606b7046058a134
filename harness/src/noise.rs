//! How busy the rest of the machine was during a trial: CPU time used by other processes, from
//! `/proc/stat` (whole machine) minus `/proc/self/stat` (this process). A shared or noisy machine
//! makes latency-bounded throughput irreproducible; this is recorded so a reader can tell. On a VM the
//! hypervisor's steal time is recorded too: time the vCPUs were runnable but not running, which shows
//! up in the tail of the latencies and of the generator's schedule error whatever the harness does.

use serde::Serialize;

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
}
