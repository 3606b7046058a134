//! The topology from `/sys/devices/system/cpu` and `/sys/devices/system/node` (Linux).

use super::{parse_cpu_list, Cache, Cpu, Topology, TopologyError};
use std::collections::BTreeMap;
use std::path::Path;

/// Where the CPUs are described.
pub const SYSFS_CPU: &str = "/sys/devices/system/cpu";
/// Where the NUMA nodes are described.
pub const SYSFS_NODE: &str = "/sys/devices/system/node";

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

fn parse_size(s: &str) -> u64 {
    let (num, mult) = match s.chars().last() {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().unwrap_or(0) * mult
}

/// Reads the topology under `cpu_root` and `node_root` (parameters so tests can use a fake tree).
pub fn discover(cpu_root: &str, node_root: &str) -> Result<Topology, TopologyError> {
    let cpu_root = Path::new(cpu_root);
    let online = read(&cpu_root.join("online"))
        .map(|l| parse_cpu_list(&l))
        .ok_or_else(|| TopologyError::new("sysfs", format!("{}/online is unreadable", cpu_root.display())))?;
    // NUMA node of each CPU (node 0 for all when the kernel has no NUMA directory).
    let mut node_of = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(node_root) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(n) = name.strip_prefix("node").and_then(|n| n.parse::<usize>().ok()) else { continue };
            for c in read(&e.path().join("cpulist")).map(|l| parse_cpu_list(&l)).unwrap_or_default() {
                node_of.insert(c, n);
            }
        }
    }
    let mut cpus = Vec::new();
    let mut core_ids: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut caches: Vec<Cache> = Vec::new();
    for &id in &online {
        let topo = cpu_root.join(format!("cpu{id}/topology"));
        let package = read(&topo.join("physical_package_id")).and_then(|s| s.parse().ok()).unwrap_or(0);
        let core_id = read(&topo.join("core_id")).and_then(|s| s.parse().ok()).unwrap_or(id);
        let siblings =
            read(&topo.join("thread_siblings_list")).map(|l| parse_cpu_list(&l)).unwrap_or_else(|| vec![id]);
        let next = core_ids.len();
        let core = *core_ids.entry((package, core_id)).or_insert(next);
        let smt_index = siblings.iter().position(|&s| s == id).unwrap_or(0);
        cpus.push(Cpu { id, package, core, node: node_of.get(&id).copied().unwrap_or(0), smt_index });
        for k in 0..8 {
            let base = cpu_root.join(format!("cpu{id}/cache/index{k}"));
            let (Some(level), Some(kind), Some(size)) =
                (read(&base.join("level")), read(&base.join("type")), read(&base.join("size")))
            else {
                continue;
            };
            let shared =
                read(&base.join("shared_cpu_list")).map(|l| parse_cpu_list(&l)).unwrap_or_else(|| vec![id]);
            let c = Cache {
                level: level.parse().unwrap_or(0),
                kind,
                size_bytes: parse_size(&size),
                cpus: shared,
            };
            if !caches.contains(&c) {
                caches.push(c);
            }
        }
    }
    if cpus.is_empty() {
        return Err(TopologyError::new("sysfs", "no online CPUs listed"));
    }
    caches.sort_by(|a, b| (a.level, &a.kind, &a.cpus).cmp(&(b.level, &b.kind, &b.cpus)));
    Ok(Topology { source: "sysfs", cpus, caches })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fake_two_thread_core() {
        let d = tempfile::tempdir().unwrap();
        let cpu = d.path().join("cpu");
        let node = d.path().join("node");
        std::fs::create_dir_all(node.join("node0")).unwrap();
        std::fs::write(node.join("node0/cpulist"), "0-1\n").unwrap();
        std::fs::create_dir_all(&cpu).unwrap();
        std::fs::write(cpu.join("online"), "0-1\n").unwrap();
        for id in 0..2 {
            let t = cpu.join(format!("cpu{id}/topology"));
            std::fs::create_dir_all(&t).unwrap();
            std::fs::write(t.join("physical_package_id"), "0").unwrap();
            std::fs::write(t.join("core_id"), "0").unwrap();
            std::fs::write(t.join("thread_siblings_list"), "0-1").unwrap();
            let c = cpu.join(format!("cpu{id}/cache/index0"));
            std::fs::create_dir_all(&c).unwrap();
            std::fs::write(c.join("level"), "2").unwrap();
            std::fs::write(c.join("type"), "Unified").unwrap();
            std::fs::write(c.join("size"), "1024K").unwrap();
            std::fs::write(c.join("shared_cpu_list"), "0-1").unwrap();
        }
        let t = discover(cpu.to_str().unwrap(), node.to_str().unwrap()).unwrap();
        assert_eq!(t.physical_cores(), 1);
        assert_eq!(t.smt_siblings(0), vec![1]);
        assert_eq!(t.cpus[1].smt_index, 1);
        assert_eq!(t.caches.len(), 1);
        assert_eq!(t.caches[0].size_bytes, 1 << 20);
        assert!(discover("/nonexistent", "/nonexistent")
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/online"));
    }
}
