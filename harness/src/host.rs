//! The host fingerprint, read from procfs and sysfs (Linux); fields the OS does not expose read as
//! `unknown` or 0 rather than failing; the cores this process may use and the device kinds.

use anyhow::{bail, Result};
use clap::ValueEnum;
use hercules_kernels::{pool, Isa};
use hercules_results::{CacheInfo, GpuInfo, HostFingerprint};
use std::fs;
use std::sync::OnceLock;

/// Which processor a measurement runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum DeviceKind {
    /// This host's CPU cores.
    #[default]
    Cpu,
    /// CUDA device 0 (the command fails with "no CUDA device: ..." where there is none).
    Cuda,
}

/// Validates a thread count against the cores this process may use.
pub fn max_threads(asked: Option<usize>) -> Result<usize> {
    let usable = pool::allowed_cores().len();
    match asked {
        None => Ok(usable),
        Some(0) => bail!("--threads must be at least 1"),
        Some(t) if t > usable => bail!("--threads {t} exceeds the {usable} cores this process may use"),
        Some(t) => Ok(t),
    }
}

fn read(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// Value of the first `key : value` line of /proc/cpuinfo with this key.
fn cpuinfo_field<'a>(cpuinfo: &'a str, key: &str) -> Option<&'a str> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// This CPU's microarchitecture from `/proc/cpuinfo` (vendor, family, model, stepping), e.g. `zen4`
/// or `sapphirerapids`; `None` where the table below does not know it.
pub fn microarch() -> Option<&'static str> {
    let cpuinfo = read("/proc/cpuinfo")?;
    let num = |k: &str| cpuinfo_field(&cpuinfo, k)?.parse::<u32>().ok();
    microarch_of(
        cpuinfo_field(&cpuinfo, "vendor_id")?,
        num("cpu family")?,
        num("model")?,
        num("stepping").unwrap_or(0),
    )
}

/// The microarchitecture of a (vendor, family, model, stepping), for the server-class parts this tool
/// meets (AMD's and Intel's programming references list the model numbers).
pub fn microarch_of(vendor: &str, family: u32, model: u32, stepping: u32) -> Option<&'static str> {
    Some(match (vendor, family) {
        ("AuthenticAMD", 0x17) => match model {
            0x00..=0x2f => "zen1",
            _ => "zen2",
        },
        ("AuthenticAMD", 0x19) => match model {
            0x10..=0x1f | 0x60..=0xaf => "zen4",
            _ => "zen3",
        },
        ("AuthenticAMD", 0x1a) => "zen5",
        ("GenuineIntel", 6) => match model {
            0x3f => "haswell",
            0x4f | 0x56 => "broadwell",
            0x55 if stepping >= 10 => "cooperlake",
            0x55 if stepping >= 5 => "cascadelake",
            0x55 => "skylake",
            0x6a | 0x6c => "icelake",
            0x8f => "sapphirerapids",
            0xcf => "emeraldrapids",
            0xad | 0xae => "graniterapids",
            0xaf => "sierraforest",
            _ => return None,
        },
        _ => return None,
    })
}

/// Cache levels from the discovered topology: one entry per (level, kind) with its instance count.
fn caches(topo: &crate::topology::Topology) -> Vec<CacheInfo> {
    let mut out: Vec<CacheInfo> = Vec::new();
    for c in &topo.caches {
        match out.iter_mut().find(|o| o.level == c.level && o.kind == c.kind) {
            Some(o) => o.instances += 1,
            None => out.push(CacheInfo {
                level: c.level,
                kind: c.kind.clone(),
                size_bytes: c.size_bytes,
                instances: 1,
            }),
        }
    }
    out.sort_by(|a, b| (a.level, &a.kind).cmp(&(b.level, &b.kind)));
    out
}

/// The last-level cache size in bytes summed over its instances (0 when unknown).
pub fn llc_bytes(host: &HostFingerprint) -> u64 {
    host.caches.iter().max_by_key(|c| c.level).map_or(0, |c| c.size_bytes * c.instances as u64)
}

/// A CUDA device's identity as the fingerprint records it.
pub fn gpu_info(i: &hercules_gpu::DeviceInfo) -> GpuInfo {
    GpuInfo {
        name: i.name.clone(),
        memory_bytes: i.total_memory_bytes,
        compute_capability: format!("{}.{}", i.compute_capability.0, i.compute_capability.1),
        driver: format!("CUDA {}", i.driver_version),
    }
}

/// The CUDA devices of this machine, read once per process (opening a device creates its context, which
/// takes a moment). Empty, without error or delay, where the CUDA libraries are missing or there is no
/// device; a device that will not open is left out.
pub fn gpus() -> Vec<GpuInfo> {
    static GPUS: OnceLock<Vec<GpuInfo>> = OnceLock::new();
    GPUS.get_or_init(|| {
        let n = hercules_gpu::device::device_count().unwrap_or(0);
        (0..n).filter_map(|i| hercules_gpu::Device::open(i).ok().map(|d| gpu_info(d.info()))).collect()
    })
    .clone()
}

/// Reads this machine's fingerprint.
pub fn fingerprint() -> HostFingerprint {
    let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
    // Without a readable topology the counts fall back to one of each, which the fingerprint shows.
    let topo = crate::topology::discover().ok();
    let count = |f: fn(&crate::topology::Topology) -> usize| topo.as_ref().map_or(1, f).max(1);
    let memory = read("/proc/meminfo")
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        })
        .unwrap_or(0)
        * 1024;
    let thp = read("/sys/kernel/mm/transparent_hugepage/enabled")
        .and_then(|s| s.split('[').nth(1).and_then(|r| r.split(']').next()).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let flags = cpuinfo_field(&cpuinfo, "flags").unwrap_or("");
    let hypervisor = flags.split_whitespace().any(|f| f == "hypervisor").then(|| {
        read("/sys/hypervisor/type")
            .or_else(|| read("/sys/devices/virtual/dmi/id/product_name"))
            .unwrap_or_else(|| "unknown hypervisor".into())
    });
    HostFingerprint {
        hostname: read("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".into()),
        cpu_model: cpuinfo_field(&cpuinfo, "model name").unwrap_or("unknown").to_string(),
        cpu_vendor: cpuinfo_field(&cpuinfo, "vendor_id").unwrap_or("unknown").to_string(),
        sockets: count(|t| t.packages()),
        physical_cores: count(|t| t.physical_cores()),
        logical_cpus: count(|t| t.cpus.len()),
        usable_cpus: pool::allowed_cores(),
        numa_nodes: count(|t| t.numa_nodes()),
        caches: topo.as_ref().map(caches).unwrap_or_default(),
        memory_bytes: memory,
        isa: Isa::available().iter().map(|i| i.to_string()).collect(),
        transparent_hugepages: thp,
        hypervisor,
        gpus: gpus(),
        kernel: read("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
        rustc: env!("HERCULES_RUSTC").to_string(),
        git_revision: env!("HERCULES_GIT").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microarchitectures_of_the_hosts_seen() {
        assert_eq!(microarch_of("AuthenticAMD", 0x17, 0x01, 2), Some("zen1"));
        assert_eq!(microarch_of("AuthenticAMD", 0x17, 0x31, 0), Some("zen2"));
        assert_eq!(microarch_of("AuthenticAMD", 0x19, 0x01, 1), Some("zen3"));
        assert_eq!(microarch_of("AuthenticAMD", 0x19, 0x11, 1), Some("zen4"));
        assert_eq!(microarch_of("AuthenticAMD", 0x1a, 0x02, 1), Some("zen5"));
        assert_eq!(microarch_of("GenuineIntel", 6, 207, 2), Some("emeraldrapids"));
        assert_eq!(microarch_of("GenuineIntel", 6, 0x55, 4), Some("skylake"));
        assert_eq!(microarch_of("GenuineIntel", 6, 0x55, 7), Some("cascadelake"));
        assert_eq!(microarch_of("GenuineIntel", 6, 0x01, 0), None);
        assert_eq!(microarch_of("HygonGenuine", 0x18, 0, 0), None);
    }

    #[test]
    fn fingerprint_of_this_machine_is_plausible() {
        let h = fingerprint();
        assert!(h.logical_cpus >= 1 && h.physical_cores >= 1);
        assert!(!h.usable_cpus.is_empty());
        assert!(h.isa.contains(&"scalar".to_string()));
        assert!(h.memory_bytes > 0);
        assert!(h.caches.iter().any(|c| c.level >= 2 && c.size_bytes > 0 && c.instances >= 1));
        assert!(h.physical_cores <= h.logical_cpus);
    }

    #[test]
    fn gpus_match_the_cuda_devices() {
        let t = std::time::Instant::now();
        let g = gpus();
        match hercules_gpu::Device::open(0) {
            Ok(d) => assert_eq!(g.first(), Some(&gpu_info(d.info()))),
            // No CUDA here: empty, and no noticeable delay.
            Err(_) => {
                assert!(g.is_empty(), "{g:?}");
                assert!(t.elapsed() < std::time::Duration::from_secs(1), "{:?}", t.elapsed());
            }
        }
    }

    #[test]
    fn gpu_info_from_a_device() {
        let i = hercules_gpu::DeviceInfo {
            ordinal: 0,
            name: "NVIDIA H100 80GB HBM3".into(),
            uuid: "GPU-x".into(),
            total_memory_bytes: 80 << 30,
            compute_capability: (9, 0),
            sm_count: 132,
            driver_version: "12.8".into(),
        };
        let g = gpu_info(&i);
        assert_eq!((g.compute_capability.as_str(), g.driver.as_str()), ("9.0", "CUDA 12.8"));
        assert_eq!(g.memory_bytes, 80 << 30);
    }
}
