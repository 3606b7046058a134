//! What the harness shows people and writes to disk: the shared `--json`/`--csv` options, tables
//! (terminal / CSV), atomic files, progress. Every output file goes through a
//! [`hercules_results::Exporter`]: `JsonExporter` for documents, `CsvExporter` for [`Table`]s.

pub mod progress;
pub mod table;

use anyhow::{Context, Result};
use clap::Args;
use hercules_results::{CsvExporter, Exporter, JsonExporter};
use std::path::{Path, PathBuf};
pub use table::Table;

/// Where results go besides the terminal.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Write the full JSON document here (atomically).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the table as CSV here (atomically).
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,
}

impl OutputArgs {
    /// Checks both paths before any long measurement starts.
    pub fn check(&self) -> Result<()> {
        for p in self.json.iter().chain(&self.csv) {
            check_writable(p)?;
        }
        Ok(())
    }

    /// Writes `doc` to `--json` and `table` to `--csv`, where given, each through its exporter.
    pub fn write<D: serde::Serialize + ?Sized>(&self, doc: &D, table: &Table) -> Result<()> {
        if let Some(p) = &self.csv {
            write_export(p, &CsvExporter, table)?;
        }
        if let Some(p) = &self.json {
            write_export(p, &JsonExporter, doc)?;
        }
        Ok(())
    }
}

/// Renders `doc` through `exporter` and writes it to `path` atomically.
pub fn write_export<D: ?Sized>(path: &Path, exporter: &impl Exporter<D>, doc: &D) -> Result<()> {
    write_atomic(path, exporter.render(doc).as_bytes())
}

/// Now as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Writes `bytes` to `path` atomically (the results crate's writer: temp file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(hercules_results::io::write_bytes_atomic(path, bytes)?)
}

/// Serialises `value` as pretty JSON and writes it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    Ok(hercules_results::io::write_json_atomic(path, value)?)
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

/// The name a unit enum variant serialises to (`"out-of-trials"`), for tables and statuses that must
/// match the JSON; empty for anything that is not a plain string in JSON.
pub fn serde_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
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
    fn output_args_write_json_and_csv_through_the_exporters() {
        let dir = tempfile::tempdir().unwrap();
        let (json, csv) = (dir.path().join("a.json"), dir.path().join("a.csv"));
        let out = OutputArgs { json: Some(json.clone()), csv: Some(csv.clone()) };
        let mut t = Table::new(["k", "v"]);
        t.push(["x,y", "1"]);
        let doc = serde_json::json!({"k": "x,y", "v": 1});
        out.write(&doc, &t).unwrap();
        // The same bytes as the writers these replaced: pretty JSON plus a newline, RFC 4180 CSV.
        assert_eq!(
            std::fs::read_to_string(&json).unwrap(),
            serde_json::to_string_pretty(&doc).unwrap() + "\n"
        );
        assert_eq!(std::fs::read_to_string(&csv).unwrap(), "k,v\n\"x,y\",1\n");
        OutputArgs { json: None, csv: None }.write(&doc, &t).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn serde_names_match_the_json() {
        assert_eq!(serde_name(&crate::serve::rate_search::SearchStatus::OutOfTrials), "out-of-trials");
        assert_eq!(serde_name(&3), "");
    }

    #[test]
    fn unwritable_path_is_a_clear_error() {
        let p = Path::new("/nonexistent-dir/x.json");
        let e = write_atomic(p, b"x").unwrap_err().to_string();
        assert!(e.contains("/nonexistent-dir/x.json"), "{e}");
        assert!(check_writable(p).is_err());
    }
}
