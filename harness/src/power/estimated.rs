//! Estimated power: idle + (peak − idle) × utilisation, where utilisation is the machine's busy
//! CPU fraction over the window from `/proc/stat`. A model, not a measurement: always reported as
//! `"source": "estimated"` with the assumed watts in the detail.

use super::{Power, PowerSource};

/// Default idle watts when the server spec is not given (a typical 2-socket server at idle).
pub const DEFAULT_IDLE_W: f64 = 100.0;
/// Default peak watts when the server spec is not given.
pub const DEFAULT_PEAK_W: f64 = 300.0;

/// Jiffies summed over all CPUs, from the aggregate `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuJiffies {
    /// Everything but idle and iowait.
    pub busy: u64,
    /// user + nice + system + idle + iowait + irq + softirq + steal (guest time is already in user).
    pub total: u64,
    /// Time the hypervisor ran something else while a vCPU was runnable (part of `busy`); None
    /// where the kernel does not report it.
    pub steal: Option<u64>,
}

/// Parses the text of `/proc/stat`.
pub fn cpu_jiffies(stat: &str) -> Option<CpuJiffies> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some(CpuJiffies { busy: total.saturating_sub(idle), total, steal: v.get(7).copied() })
}

/// The idle/peak model.
#[derive(Debug, Clone)]
pub struct Estimated {
    idle: f64,
    peak: f64,
    start: Option<CpuJiffies>,
}

impl Estimated {
    /// A model with these watts.
    pub fn new(idle: f64, peak: f64) -> Self {
        Self { idle, peak, start: Self::now() }
    }

    fn now() -> Option<CpuJiffies> {
        cpu_jiffies(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// Marks the start of a window.
    pub fn start(&mut self) {
        self.start = Self::now();
    }

    /// Power for a given utilisation (0–1).
    pub fn at(&self, utilisation: f64) -> f64 {
        self.idle + (self.peak - self.idle) * utilisation.clamp(0.0, 1.0)
    }

    /// Estimated average power since [`Estimated::start`].
    pub fn read(&self) -> Power {
        let util = match (self.start, Self::now()) {
            (Some(a), Some(b)) if b.total > a.total => {
                Some((b.busy - a.busy) as f64 / (b.total - a.total) as f64)
            }
            _ => None,
        };
        let (u, how) = match util {
            Some(u) => (u, format!("utilisation {u:.3} from /proc/stat")),
            None => {
                (1.0, "utilisation unknown (/proc/stat unreadable or window too short), taken as 1".into())
            }
        };
        Power {
            watts: self.at(u),
            source: PowerSource::Estimated,
            detail: format!("idle {} W + (peak {} W − idle) × {how}", self.idle, self.peak),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_is_linear_between_idle_and_peak() {
        let e = Estimated::new(100.0, 300.0);
        assert_eq!(e.at(0.0), 100.0);
        assert_eq!(e.at(0.5), 200.0);
        assert_eq!(e.at(2.0), 300.0);
    }

    #[test]
    fn parses_proc_stat() {
        let stat = "cpu  100 0 50 800 50 0 0 7 0 0\ncpu0 1 2 3\n";
        assert_eq!(cpu_jiffies(stat), Some(CpuJiffies { busy: 157, total: 1007, steal: Some(7) }));
        assert_eq!(cpu_jiffies("cpu  1 2 3\n").map(|j| j.steal), Some(None), "no steal field");
    }

    #[test]
    fn this_machine_reports_estimated_power_honestly() {
        let mut m = super::super::PowerMeter::new(100.0, 300.0);
        m.start();
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_millis(60) {
            std::hint::spin_loop();
        }
        let p = m.read();
        if std::path::Path::new("/sys/class/powercap/intel-rapl:0/energy_uj").exists() {
            assert_eq!(p.source, PowerSource::Rapl);
        } else {
            assert_eq!(p.source, PowerSource::Estimated);
            assert!(p.watts >= 100.0 && p.watts <= 300.0, "{p:?}");
            assert!(p.detail.contains("idle 100 W") && p.detail.contains("RAPL not used"), "{p:?}");
        }
    }
}
