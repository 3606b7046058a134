//! The host fingerprint: which machine a measurement came from.

use serde::{Deserialize, Serialize};

/// Everything needed to tell two machines (and two builds) apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFingerprint {
    /// Host name as the OS reports it.
    pub hostname: String,
    /// CPU model string (e.g. from /proc/cpuinfo "model name").
    pub cpu_model: String,
    /// CPU vendor (GenuineIntel, AuthenticAMD, ...).
    pub cpu_vendor: String,
    /// Physical packages.
    pub sockets: usize,
    /// Physical cores in all sockets.
    pub physical_cores: usize,
    /// Logical CPUs the OS shows.
    pub logical_cpus: usize,
    /// CPUs this process may run on (its affinity mask).
    pub usable_cpus: Vec<usize>,
    /// NUMA nodes.
    pub numa_nodes: usize,
    /// Cache levels, smallest first.
    pub caches: Vec<CacheInfo>,
    /// Total memory in bytes.
    pub memory_bytes: u64,
    /// Instruction sets the kernels can use here, least capable first.
    pub isa: Vec<String>,
    /// Transparent huge pages setting (`always`, `madvise`, `never`) or `unknown`.
    pub transparent_hugepages: String,
    /// `Some("KVM")` etc. when running under a hypervisor.
    pub hypervisor: Option<String>,
    /// GPUs found (empty where none or no driver).
    pub gpus: Vec<GpuInfo>,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// rustc version that built the binary.
    pub rustc: String,
    /// Git revision of the source that built the binary (`unknown` outside a checkout).
    pub git_revision: String,
}

/// One level of cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheInfo {
    /// 1, 2, 3...
    pub level: u8,
    /// `Data`, `Instruction` or `Unified`.
    pub kind: String,
    /// Size of one instance in bytes.
    pub size_bytes: u64,
    /// How many instances the machine has.
    pub instances: usize,
}

/// One GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuInfo {
    /// Device name.
    pub name: String,
    /// Device memory in bytes.
    pub memory_bytes: u64,
    /// Compute capability, e.g. "9.0".
    pub compute_capability: String,
    /// Driver version.
    pub driver: String,
}

impl HostFingerprint {
    /// A short stable identity of the machine (not the build): FNV-1a of the CPU model, vendor, core
    /// and CPU counts, memory, NUMA nodes, ISA and GPUs. Two tables with the same id came from the
    /// same kind of machine, configured alike.
    pub fn id(&self) -> String {
        let gpus: Vec<&str> = self.gpus.iter().map(|g| g.name.as_str()).collect();
        let key = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.cpu_model,
            self.cpu_vendor,
            self.sockets,
            self.physical_cores,
            self.logical_cpus,
            self.memory_bytes,
            self.numa_nodes,
            self.isa.join(","),
            gpus.join(",")
        );
        format!("fnv1a64:{:016x}", fnv1a64(key.as_bytes()))
    }
}

/// FNV-1a, 64 bits: tiny and stable across Rust versions and platforms (std's hashers are not
/// promised to be), which a hash kept in a file must be.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
