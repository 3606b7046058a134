//! RAPL package energy through `/sys/class/powercap/*/energy_uj` (Intel, and AMD Zen through the
//! same `intel-rapl` driver). Counters wrap at `max_energy_range_uj`; a window shorter than one wrap
//! (minutes at server power) is read correctly.

use super::{Power, PowerSource};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where powercap lives.
pub const POWERCAP: &str = "/sys/class/powercap";

/// One package domain.
#[derive(Debug)]
struct Domain {
    name: String,
    energy: PathBuf,
    max_uj: u64,
    start_uj: u64,
}

/// The package domains of every socket.
#[derive(Debug)]
pub struct Rapl {
    domains: Vec<Domain>,
    t0: Instant,
}

fn read_u64(p: &Path) -> Result<u64, String> {
    std::fs::read_to_string(p)
        .map_err(|e| format!("{}: {e}", p.display()))?
        .trim()
        .parse()
        .map_err(|_| format!("{}: not a number", p.display()))
}

impl Rapl {
    /// Finds the package domains under `root` (top-level `intel-rapl:N` zones) and checks that
    /// their energy counters are readable.
    pub fn open(root: &str) -> Result<Self, String> {
        let dir = std::fs::read_dir(root).map_err(|e| format!("{root}: {e}"))?;
        let mut domains = Vec::new();
        for e in dir.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            // Top-level zones are packages (`intel-rapl:0`); sub-zones (`intel-rapl:0:0`) are
            // parts of them and would double count.
            if !n.starts_with("intel-rapl:") || n.matches(':').count() != 1 {
                continue;
            }
            let p = e.path();
            let name = std::fs::read_to_string(p.join("name")).map(|s| s.trim().to_string()).unwrap_or(n);
            let energy = p.join("energy_uj");
            let start_uj = read_u64(&energy)?;
            let max_uj = read_u64(&p.join("max_energy_range_uj")).unwrap_or(u64::MAX);
            domains.push(Domain { name, energy, max_uj, start_uj });
        }
        if domains.is_empty() {
            return Err(format!("{root} has no RAPL package zones"));
        }
        domains.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self { domains, t0: Instant::now() })
    }

    /// Marks the start of a window.
    pub fn start(&mut self) {
        for d in &mut self.domains {
            d.start_uj = read_u64(&d.energy).unwrap_or(d.start_uj);
        }
        self.t0 = Instant::now();
    }

    /// Package energy since [`Rapl::start`], joules.
    pub fn joules(&self) -> Result<f64, String> {
        let mut joules = 0.0;
        for d in &self.domains {
            let now = read_u64(&d.energy)?;
            // One wrap at most: the counter wrapped when it reads below its start.
            let delta = if now >= d.start_uj { now - d.start_uj } else { d.max_uj - d.start_uj + now };
            joules += delta as f64 * 1e-6;
        }
        Ok(joules)
    }

    /// Average package power since [`Rapl::start`].
    pub fn read(&self) -> Result<Power, String> {
        let secs = self.t0.elapsed().as_secs_f64().max(1e-9);
        let joules = self.joules()?;
        let names: Vec<&str> = self.domains.iter().map(|d| d.name.as_str()).collect();
        Ok(Power {
            watts: joules / secs,
            source: PowerSource::Rapl,
            detail: format!(
                "powercap energy_uj of {} over {secs:.2} s (CPU packages only)",
                names.join(", ")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fake_powercap_tree_with_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let zone = dir.path().join("intel-rapl:0");
        std::fs::create_dir_all(zone.join("intel-rapl:0:0")).unwrap();
        std::fs::write(zone.join("name"), "package-0\n").unwrap();
        std::fs::write(zone.join("energy_uj"), "999000000\n").unwrap();
        std::fs::write(zone.join("max_energy_range_uj"), "1000000000\n").unwrap();
        let mut r = Rapl::open(dir.path().to_str().unwrap()).unwrap();
        r.start();
        // Wrapped: 1 J to the top of the range, then 4 J more.
        std::fs::write(zone.join("energy_uj"), "4000000\n").unwrap();
        assert!((r.joules().unwrap() - 5.0).abs() < 1e-9);
        let p = r.read().unwrap();
        assert!(p.watts > 0.0, "{p:?}");
        assert_eq!(p.source, PowerSource::Rapl);
        assert!(p.detail.contains("package-0"));
    }

    #[test]
    fn missing_powercap_is_an_error_with_the_path() {
        let e = Rapl::open("/nonexistent/powercap").unwrap_err();
        assert!(e.contains("/nonexistent/powercap"), "{e}");
    }
}
