//! The host fingerprint, read from procfs and sysfs (Linux); fields the OS does not expose read as
//! `unknown` or 0 rather than failing.

use hercules_kernels::{pool, Isa};
use hercules_results::{CacheInfo, HostFingerprint};
use std::collections::BTreeSet;
use std::fs;

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

/// Parses a sysfs CPU list such as `0-3,8,10-11` into its CPU count.
fn cpu_list_len(list: &str) -> usize {
    list.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap_or(0).saturating_sub(a.parse().unwrap_or(0)) + 1,
            None => 1,
        })
        .sum()
}

/// Parses sizes such as `48K`, `2048K`, `480M`.
fn parse_size(s: &str) -> u64 {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().unwrap_or(0) * mult
}

fn caches(logical: usize) -> Vec<CacheInfo> {
    let mut out = Vec::new();
    for i in 0..8 {
        let base = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let (Some(level), Some(kind), Some(size)) =
            (read(&format!("{base}/level")), read(&format!("{base}/type")), read(&format!("{base}/size")))
        else {
            continue;
        };
        let sharing = read(&format!("{base}/shared_cpu_list")).map_or(1, |l| cpu_list_len(&l)).max(1);
        out.push(CacheInfo {
            level: level.parse().unwrap_or(0),
            kind,
            size_bytes: parse_size(&size),
            instances: logical.div_ceil(sharing),
        });
    }
    out
}

/// The last-level cache size in bytes summed over its instances (0 when unknown).
pub fn llc_bytes(host: &HostFingerprint) -> u64 {
    host.caches.iter().max_by_key(|c| c.level).map_or(0, |c| c.size_bytes * c.instances as u64)
}

/// Reads this machine's fingerprint.
pub fn fingerprint() -> HostFingerprint {
    let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
    let logical = cpuinfo.lines().filter(|l| l.starts_with("processor")).count().max(1);
    let mut packages = BTreeSet::new();
    let mut cores = BTreeSet::new();
    let mut pkg = String::new();
    for line in cpuinfo.lines() {
        if let Some((k, v)) = line.split_once(':') {
            match k.trim() {
                "physical id" => {
                    pkg = v.trim().to_string();
                    packages.insert(pkg.clone());
                }
                "core id" => {
                    cores.insert((pkg.clone(), v.trim().to_string()));
                }
                _ => {}
            }
        }
    }
    let numa = fs::read_dir("/sys/devices/system/node")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with("node") && n[4..].parse::<u32>().is_ok()
                })
                .count()
        })
        .unwrap_or(0)
        .max(1);
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
        sockets: packages.len().max(1),
        physical_cores: cores.len().max(1),
        logical_cpus: logical,
        usable_cpus: pool::allowed_cores(),
        numa_nodes: numa,
        caches: caches(logical),
        memory_bytes: memory,
        isa: Isa::available().iter().map(|i| i.to_string()).collect(),
        transparent_hugepages: thp,
        hypervisor,
        gpus: Vec::new(),
        kernel: read("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into()),
        rustc: env!("HERCULES_RUSTC").to_string(),
        git_revision: env!("HERCULES_GIT").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sysfs_formats() {
        assert_eq!(cpu_list_len("0-3,8,10-11"), 7);
        assert_eq!(cpu_list_len("5"), 1);
        assert_eq!(parse_size("48K"), 48 * 1024);
        assert_eq!(parse_size("480M"), 480 << 20);
    }

    #[test]
    fn fingerprint_of_this_machine_is_plausible() {
        let h = fingerprint();
        assert!(h.logical_cpus >= 1 && h.physical_cores >= 1);
        assert!(!h.usable_cpus.is_empty());
        assert!(h.isa.contains(&"scalar".to_string()));
        assert!(h.memory_bytes > 0);
    }
}
