//! The per-host file of prefetch choices: one [`PrefetchTuning`] per shape class and thread count
//! (`<shape class>-<threads>t`), valid only on the
//! host that measured it (named by [`host_fingerprint`]). A small JSON file, written atomically.

use super::tune::PrefetchTuning;
use super::EmbeddingTable;
use crate::isa::Isa;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `format` field of a tuning cache this code reads and writes.
/// (2: keys name the thread count the choice was measured on, and the candidates grew to 128 rows
/// ahead.)
const FORMAT: &str = "hercules-embedding-tuning/2";

/// Environment variable naming the cache file (`off` or empty: no cache).
pub const CACHE_ENV: &str = "HERCULES_TUNING_CACHE";

/// The cache file: `$HERCULES_TUNING_CACHE`, else `$XDG_CACHE_HOME/hercules/embedding-tuning.json`,
/// else `$HOME/.cache/hercules/embedding-tuning.json`; `None` when the variable is `off` or empty, or
/// no home is known.
pub fn default_cache_path() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(v) = std::env::var_os(CACHE_ENV) {
        return (!v.is_empty() && v != "off").then(|| PathBuf::from(v));
    }
    let dir = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".cache")))?;
    Some(dir.join("hercules").join("embedding-tuning.json"))
}

/// What makes one host's choices differ from another's: the CPU (name, family, model, stepping), the
/// logical CPU count, the widest ISA, the last-level cache and the memory size (to the GiB).
pub fn host_fingerprint() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let llc = (0..8)
        .rev()
        .find_map(|i| {
            std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu0/cache/index{i}/size")).ok()
        })
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "?".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().find(|l| l.starts_with("MemTotal:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map(|kb| (kb as f64 / (1u64 << 20) as f64).round() as u64);
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!(
        "{} (family {} model {} stepping {}), {cpus} CPUs, {}, LLC {llc}, {} GiB",
        field("model name"),
        field("cpu family"),
        field("model"),
        field("stepping"),
        Isa::best(),
        mem_gib.map_or_else(|| "?".to_string(), |g| g.to_string()),
    )
}

/// The class of tables one choice serves: row format and width, the ISA, and the table size rounded up
/// to a power of two MiB (the prefetch that pays depends on how far the rows are from the core).
pub fn shape_class(table: &EmbeddingTable, isa: Isa) -> String {
    let mib = table.bytes().div_ceil(1 << 20).next_power_of_two();
    format!("{}-d{}-{mib}mib-{isa}", table.dtype(), table.dim())
}

/// The cache's contents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TuningCache {
    format: String,
    host: String,
    entries: BTreeMap<String, PrefetchTuning>,
}

impl TuningCache {
    /// An empty cache for this host.
    fn empty() -> Self {
        Self { format: FORMAT.into(), host: host_fingerprint(), entries: BTreeMap::new() }
    }

    /// The cache at `path`, or an empty one: silently when there is no file yet, with a one-line
    /// warning when the file is unreadable, corrupt, of another format or from another host.
    pub fn load(path: &Path) -> (Self, Option<String>) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Self::empty(), None),
            Err(e) => {
                return (Self::empty(), Some(format!("tuning cache {}: {e}; re-measuring", path.display())))
            }
        };
        let here = Self::empty();
        match serde_json::from_str::<Self>(&text) {
            Err(e) => {
                (here, Some(format!("{} is not a valid tuning cache ({e}); re-measuring", path.display())))
            }
            Ok(c) if c.format != FORMAT => (
                here,
                Some(format!(
                    "tuning cache {} has format {:?}, not {FORMAT:?}; re-measuring",
                    path.display(),
                    c.format
                )),
            ),
            Ok(c) if c.host != here.host => (
                here,
                Some(format!(
                    "tuning cache {} was written on another host ({}); re-measuring",
                    path.display(),
                    c.host
                )),
            ),
            Ok(c) => (c, None),
        }
    }

    /// The choice stored for `key`.
    pub fn get(&self, key: &str) -> Option<&PrefetchTuning> {
        self.entries.get(key)
    }

    /// Stores the choice for `key` (without its warning, which belonged to that run).
    pub fn insert(&mut self, key: String, tuning: PrefetchTuning) {
        self.entries.insert(key, PrefetchTuning { warning: None, ..tuning });
    }

    /// Writes the cache to `path` atomically (a temporary file renamed over it), creating its folder;
    /// the error is a one-line message.
    pub fn save(&self, path: &Path) -> std::result::Result<(), String> {
        let fail =
            |e: &dyn std::fmt::Display| format!("could not write the tuning cache {}: {e}", path.display());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
        let text = serde_json::to_string_pretty(self).map_err(|e| fail(&e))?;
        // A name of its own per writer (process and call), so concurrent writers never share one.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp.{}.{n}", std::process::id()));
        std::fs::write(&tmp, text + "\n").map_err(|e| fail(&e))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(&e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::DType;

    #[test]
    fn shape_classes_and_the_fingerprint_read_well() {
        let t = EmbeddingTable::random(1000, 16, DType::F32, 1).unwrap();
        assert_eq!(shape_class(&t, Isa::Scalar), "fp32-d16-1mib-scalar");
        let h = host_fingerprint();
        assert!(h.contains("CPUs") && h.contains("GiB"), "{h}");
        assert_eq!(h, host_fingerprint());
    }

    #[test]
    fn an_unwritable_cache_is_a_one_line_message() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        // A folder where a file is: the cache cannot be created under it.
        let err = TuningCache::empty().save(&file.join("cache.json")).unwrap_err();
        assert!(err.starts_with("could not write the tuning cache") && !err.contains('\n'), "{err}");
    }
}
