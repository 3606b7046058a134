//! The topology through hwloc (the `hwloc` feature; needs Debian's libhwloc-dev and libudev-dev).
//! hwloc knows more machines than sysfs parsing does (other OSes, odd firmware tables), so it is
//! preferred when built in.

use super::{Cache, Cpu, Topology, TopologyError};
use hwlocality::object::attributes::ObjectAttributes;
use hwlocality::object::types::{CacheType, ObjectType};

/// Reads the topology through hwloc.
pub fn discover() -> Result<Topology, TopologyError> {
    let t = hwlocality::Topology::new().map_err(|e| TopologyError::new("hwloc", e.to_string()))?;
    let nodes: Vec<(usize, Vec<usize>)> = t
        .objects_with_type(ObjectType::NUMANode)
        .map(|n| {
            let cpus = n.cpuset().map(|cs| cs.iter_set().map(usize::from).collect()).unwrap_or_default();
            (n.os_index().unwrap_or(0), cpus)
        })
        .collect();
    let mut cpus = Vec::new();
    for pu in t.objects_with_type(ObjectType::PU) {
        let Some(id) = pu.os_index() else { continue };
        let core = pu.first_ancestor_with_type(ObjectType::Core);
        let smt_index = core
            .and_then(|c| c.cpuset())
            .and_then(|cs| cs.iter_set().map(usize::from).position(|c| c == id))
            .unwrap_or(0);
        cpus.push(Cpu {
            id,
            package: pu.first_ancestor_with_type(ObjectType::Package).and_then(|p| p.os_index()).unwrap_or(0),
            // Logical index: unique over the machine, unlike the OS core id.
            core: core.map_or(id, |c| c.logical_index()),
            node: nodes.iter().find(|(_, cs)| cs.contains(&id)).map_or(0, |(n, _)| *n),
            smt_index,
        });
    }
    if cpus.is_empty() {
        return Err(TopologyError::new("hwloc", "no processing units found"));
    }
    cpus.sort_by_key(|c| c.id);
    let mut caches = Vec::new();
    for ty in [
        ObjectType::L1Cache,
        ObjectType::L1ICache,
        ObjectType::L2Cache,
        ObjectType::L2ICache,
        ObjectType::L3Cache,
        ObjectType::L3ICache,
        ObjectType::L4Cache,
        ObjectType::L5Cache,
    ] {
        for obj in t.objects_with_type(ty) {
            let Some(ObjectAttributes::Cache(c)) = obj.attributes() else { continue };
            let kind = match c.cache_type() {
                CacheType::Unified => "Unified",
                CacheType::Data => "Data",
                CacheType::Instruction => "Instruction",
                _ => "Unknown",
            };
            caches.push(Cache {
                level: c.depth() as u8,
                kind: kind.to_string(),
                size_bytes: c.size().map_or(0, |s| s.get()),
                cpus: obj.cpuset().map(|cs| cs.iter_set().map(usize::from).collect()).unwrap_or_default(),
            });
        }
    }
    Ok(Topology { source: "hwloc", cpus, caches })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwloc_agrees_with_sysfs() {
        let h = discover().unwrap();
        let s =
            super::super::sysfs::discover(super::super::sysfs::SYSFS_CPU, super::super::sysfs::SYSFS_NODE)
                .unwrap();
        let ids = |t: &Topology| t.cpus.iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(&h), ids(&s));
        assert_eq!(h.physical_cores(), s.physical_cores());
        assert_eq!(h.numa_nodes(), s.numa_nodes());
        assert_eq!(h.packages(), s.packages());
    }
}
