//! The machine's shape: packages, NUMA nodes, cores, SMT siblings and caches, read from sysfs (or
//! from hwloc with the `hwloc` feature), and the order in which a schedule's cores are placed.

#[cfg(feature = "hwloc")]
pub mod hwloc;
pub mod sysfs;

use serde::Serialize;
use thiserror::Error;

/// Why the topology could not be read.
#[derive(Debug, Error)]
#[error("topology ({source_name}): {why}")]
pub struct TopologyError {
    source_name: &'static str,
    why: String,
}

impl TopologyError {
    /// An error from `source_name` (sysfs, hwloc).
    pub fn new(source_name: &'static str, why: impl Into<String>) -> Self {
        Self { source_name, why: why.into() }
    }
}

/// One logical CPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cpu {
    /// OS index (what affinity masks use).
    pub id: usize,
    /// Physical package (socket).
    pub package: usize,
    /// Physical core index, unique over the machine.
    pub core: usize,
    /// NUMA node.
    pub node: usize,
    /// 0 for the first hardware thread of its core, 1 for the second...
    pub smt_index: usize,
}

/// One cache instance and the CPUs sharing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cache {
    /// 1, 2, 3...
    pub level: u8,
    /// `Data`, `Instruction` or `Unified`.
    pub kind: String,
    /// Bytes.
    pub size_bytes: u64,
    /// CPUs sharing it.
    pub cpus: Vec<usize>,
}

/// The machine's topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// `sysfs` or `hwloc`.
    pub source: &'static str,
    /// Every logical CPU, by id.
    pub cpus: Vec<Cpu>,
    /// Cache instances.
    pub caches: Vec<Cache>,
}

/// The figures a results document records about the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopologySummary {
    /// `sysfs` or `hwloc`.
    pub source: &'static str,
    /// Packages.
    pub packages: usize,
    /// NUMA nodes.
    pub numa_nodes: usize,
    /// Physical cores.
    pub physical_cores: usize,
    /// Logical CPUs.
    pub logical_cpus: usize,
    /// Whether any core has more than one hardware thread.
    pub smt: bool,
}

impl Topology {
    /// The summary recorded in results.
    pub fn summary(&self) -> TopologySummary {
        TopologySummary {
            source: self.source,
            packages: self.packages(),
            numa_nodes: self.numa_nodes(),
            physical_cores: self.physical_cores(),
            logical_cpus: self.cpus.len(),
            smt: self.cpus.iter().any(|c| !self.smt_siblings(c.id).is_empty()),
        }
    }

    /// Packages (sockets).
    pub fn packages(&self) -> usize {
        let mut p: Vec<usize> = self.cpus.iter().map(|c| c.package).collect();
        p.sort_unstable();
        p.dedup();
        p.len()
    }

    /// NUMA nodes.
    pub fn numa_nodes(&self) -> usize {
        let mut n: Vec<usize> = self.cpus.iter().map(|c| c.node).collect();
        n.sort_unstable();
        n.dedup();
        n.len()
    }

    /// Physical cores.
    pub fn physical_cores(&self) -> usize {
        let mut c: Vec<usize> = self.cpus.iter().map(|c| c.core).collect();
        c.sort_unstable();
        c.dedup();
        c.len()
    }

    /// The other hardware threads of `cpu`'s core.
    pub fn smt_siblings(&self, cpu: usize) -> Vec<usize> {
        let Some(me) = self.cpus.iter().find(|c| c.id == cpu) else { return Vec::new() };
        self.cpus.iter().filter(|c| c.core == me.core && c.id != cpu).map(|c| c.id).collect()
    }

    /// `allowed` CPUs in placement order: one hardware thread per physical core first (SMT
    /// siblings share a core's units, so they come last), node by node, so consecutive cores (one
    /// instance) stay on one NUMA node and share its caches.
    pub fn placement_order(&self, allowed: &[usize]) -> Vec<usize> {
        let mut v: Vec<&Cpu> = self.cpus.iter().filter(|c| allowed.contains(&c.id)).collect();
        v.sort_by_key(|c| (c.smt_index, c.node, c.package, c.core, c.id));
        let mut out: Vec<usize> = v.into_iter().map(|c| c.id).collect();
        // Allowed CPUs the topology did not list still get used, last.
        out.extend(allowed.iter().filter(|a| !out.contains(a)).copied().collect::<Vec<_>>());
        out
    }
}

/// Reads the topology: through hwloc when built with the `hwloc` feature, from sysfs otherwise (or
/// when hwloc fails).
pub fn discover() -> Result<Topology, TopologyError> {
    #[cfg(feature = "hwloc")]
    {
        if let Ok(t) = hwloc::discover() {
            return Ok(t);
        }
    }
    sysfs::discover(sysfs::SYSFS_CPU, sysfs::SYSFS_NODE)
}

/// Parses a kernel CPU list such as `0-3,8,10-11`.
pub fn parse_cpu_list(list: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.trim().parse::<usize>().ok()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(id: usize, core: usize, node: usize, smt: usize) -> Cpu {
        Cpu { id, package: node, core, node, smt_index: smt }
    }

    #[test]
    fn placement_prefers_physical_cores_then_siblings() {
        // 2 nodes × 2 cores × 2 threads; siblings are id and id+4.
        let t = Topology {
            source: "test",
            cpus: vec![
                cpu(0, 0, 0, 0),
                cpu(1, 1, 0, 0),
                cpu(2, 2, 1, 0),
                cpu(3, 3, 1, 0),
                cpu(4, 0, 0, 1),
                cpu(5, 1, 0, 1),
                cpu(6, 2, 1, 1),
                cpu(7, 3, 1, 1),
            ],
            caches: vec![],
        };
        assert_eq!(t.placement_order(&[0, 1, 2, 3, 4, 5, 6, 7]), vec![0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(t.placement_order(&[4, 5, 1]), vec![1, 4, 5]);
        assert_eq!(t.smt_siblings(1), vec![5]);
        assert_eq!((t.packages(), t.numa_nodes(), t.physical_cores()), (2, 2, 4));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list(""), Vec::<usize>::new());
    }

    #[test]
    fn this_machine_has_a_topology() {
        let t = discover().unwrap();
        let allowed = hercules_kernels::pool::allowed_cores();
        assert!(!t.cpus.is_empty());
        let order = t.placement_order(&allowed);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, allowed);
        assert!(t.caches.iter().any(|c| c.level >= 2), "{:?}", t.caches);
    }
}
