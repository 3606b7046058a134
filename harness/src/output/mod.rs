//! What the harness shows people and writes to disk: tables (terminal / CSV), atomic files, progress.

pub mod progress;
pub mod table;

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename. An
/// interrupted run leaves the old file (or none), never a torn one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().with_context(|| format!("output path {} has no file name", path.display()))?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("cannot write {}: {e}", path.display())
    })
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("serialising results")?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Fails early, before a long measurement, when `path` cannot be written.
pub fn check_writable(path: &Path) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let probe = dir.join(format!(".hercules-probe-{}", std::process::id()));
    std::fs::File::create(&probe)
        .map(|_| {
            let _ = std::fs::remove_file(&probe);
        })
        .with_context(|| format!("output path {} is not writable", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_atomic(&p, b"old").unwrap();
        write_json(&p, &serde_json::json!({"a": 1})).unwrap();
        assert!(std::fs::read_to_string(&p).unwrap().contains("\"a\": 1"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn unwritable_path_is_a_clear_error() {
        let p = Path::new("/nonexistent-dir/x.json");
        let e = write_atomic(p, b"x").unwrap_err().to_string();
        assert!(e.contains("/nonexistent-dir/x.json"), "{e}");
        assert!(check_writable(p).is_err());
    }
}
