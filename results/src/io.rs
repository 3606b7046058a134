//! Reading and writing result documents: version and kind checks, validation, atomic writes.

use crate::table::{EfficiencyTable, OLDEST_TABLE_SCHEMA_VERSION, TABLE_KIND, TABLE_SCHEMA_VERSION};
use serde::Serialize;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a document could not be read or written. Every message is one line that names the file.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The file could not be opened, read, written or renamed.
    #[error("{}: {cause}", one_line(&path.display().to_string()))]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error. Not named `source`: the message already quotes it, and a `source()` would
        /// make `{:#}` (anyhow's chain) print it a second time.
        cause: std::io::Error,
    },
    /// Not JSON, or JSON of the wrong shape.
    #[error("{}: {}", one_line(&path.display().to_string()), one_line(message))]
    Parse {
        /// The file.
        path: PathBuf,
        /// serde's message, with line and column.
        message: String,
    },
    /// Written by a different schema version than this build reads.
    #[error("{}: schema_version {found} but this build reads {}", one_line(&path.display().to_string()), versions(*oldest, *expected))]
    Version {
        /// The file.
        path: PathBuf,
        /// The version in the file (`None` when the field is missing or not a number).
        found: VersionFound,
        /// The oldest version this build reads.
        oldest: u32,
        /// The newest version this build reads.
        expected: u32,
    },
    /// Some other kind of document (a roofline report, a kernel report...).
    #[error("{}: kind is `{}`, expected `{expected}`", one_line(&path.display().to_string()), one_line(found))]
    Kind {
        /// The file.
        path: PathBuf,
        /// The kind in the file.
        found: String,
        /// The kind wanted.
        expected: &'static str,
    },
    /// A field this schema version does not define.
    #[error("{}: unknown field `{}` (line {line}, column {column})", one_line(&path.display().to_string()), one_line(field))]
    UnknownField {
        /// The file.
        path: PathBuf,
        /// The field's name.
        field: String,
        /// Where, 1-based.
        line: usize,
        /// Where, 1-based.
        column: usize,
    },
    /// Well-formed but not valid (a NaN rate, an unsorted curve, ...).
    #[error("{}: invalid table: {}", one_line(&path.display().to_string()), one_line(what))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The value could not be serialised.
    #[error("{}: cannot serialise: {}", one_line(&path.display().to_string()), one_line(message))]
    Serialise {
        /// The file that was to be written.
        path: PathBuf,
        /// serde's message.
        message: String,
    },
}

fn versions(oldest: u32, newest: u32) -> String {
    if oldest == newest {
        format!("version {newest}")
    } else {
        format!("versions {oldest} to {newest}")
    }
}

/// The `schema_version` a file carried, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionFound {
    /// A number.
    Number(u64),
    /// Missing or not a non-negative integer.
    Missing,
}

impl std::fmt::Display for VersionFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionFound::Number(n) => write!(f, "{n}"),
            VersionFound::Missing => f.write_str("missing"),
        }
    }
}

/// Largest result document read, bytes (a real table is a few hundred KiB).
pub const MAX_DOCUMENT_BYTES: u64 = 64 << 20;

/// `s` with control characters escaped (`\n` as the two characters `\` `n`), so that text from a
/// file or a user keeps an error on one line.
pub fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] })
        .collect()
}

/// Reads a text file of at most `max` bytes through a bound (a special file such as /dev/zero
/// reports no size, so its claimed length cannot be trusted).
pub fn read_text_bounded(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    fs::File::open(path)?.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("larger than {max} bytes")));
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Reads, version-checks and validates one efficiency table.
pub fn read_table(path: impl AsRef<Path>) -> Result<EfficiencyTable, SchemaError> {
    let path = path.as_ref();
    let text = read_text_bounded(path, MAX_DOCUMENT_BYTES)
        .map_err(|cause| SchemaError::Io { path: path.into(), cause })?;
    parse_table(&text, path)
}

/// Decodes any result document (a roofline report, a kernel report) from text, with the same
/// one-line errors as a table; `path` only names it in errors.
pub fn parse_document<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, SchemaError> {
    serde_json::from_str(text).map_err(|e| decode_error(e, path))
}

/// Parses an efficiency table from text; `path` only names it in errors.
pub fn parse_table(text: &str, path: &Path) -> Result<EfficiencyTable, SchemaError> {
    check_header(text, path, OLDEST_TABLE_SCHEMA_VERSION..=TABLE_SCHEMA_VERSION, TABLE_KIND)?;
    // Decode from the text, not the Value, so errors carry a line and column.
    let table: EfficiencyTable = serde_json::from_str(text).map_err(|e| decode_error(e, path))?;
    table.validate().map_err(|what| SchemaError::Invalid { path: path.into(), what })?;
    Ok(table)
}

/// Reads a versioned document of `kind` (`roofline`, `kernels`...) written at `version`, checking both
/// before decoding, with the same one-line errors as a table.
pub fn read_document<T: serde::de::DeserializeOwned>(
    path: impl AsRef<Path>,
    kind: &'static str,
    version: u32,
) -> Result<T, SchemaError> {
    let path = path.as_ref();
    let text = read_text_bounded(path, MAX_DOCUMENT_BYTES)
        .map_err(|cause| SchemaError::Io { path: path.into(), cause })?;
    check_header(&text, path, version..=version, kind)?;
    parse_document(&text, path)
}

/// Checks `schema_version` and `kind` before the full decode.
fn check_header(
    text: &str,
    path: &Path,
    versions: std::ops::RangeInclusive<u32>,
    kind: &'static str,
) -> Result<(), SchemaError> {
    // Look at the version and kind first: a document of another version most likely has fields this
    // one lacks, and "unknown field" would hide the real cause.
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| SchemaError::Parse { path: path.into(), message: e.to_string() })?;
    let Some(obj) = value.as_object() else {
        return Err(SchemaError::Parse { path: path.into(), message: "not a JSON object".into() });
    };
    let found = match obj.get("schema_version").and_then(|v| v.as_u64()) {
        Some(n) => VersionFound::Number(n),
        None => VersionFound::Missing,
    };
    if !matches!(found, VersionFound::Number(n) if versions.contains(&(n.min(u64::from(u32::MAX)) as u32))) {
        let (oldest, expected) = versions.into_inner();
        return Err(SchemaError::Version { path: path.into(), found, oldest, expected });
    }
    match obj.get("kind").and_then(|v| v.as_str()) {
        Some(k) if k == kind => Ok(()),
        other => Err(SchemaError::Kind {
            path: path.into(),
            found: other.unwrap_or("(missing)").to_string(),
            expected: kind,
        }),
    }
}

fn decode_error(e: serde_json::Error, path: &Path) -> SchemaError {
    let msg = e.to_string();
    // serde's message is "unknown field `x`, expected one of `a`, `b`, ... at line L column C": keep the
    // field and the place, drop the (long) list.
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        if let Some(end) = rest.find('`') {
            return SchemaError::UnknownField {
                path: path.into(),
                field: rest[..end].to_string(),
                line: e.line(),
                column: e.column(),
            };
        }
    }
    SchemaError::Parse { path: path.into(), message: msg }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `value` as pretty JSON so that `path` holds either its old content or the whole new one,
/// never a torn file: write a temporary file in the same directory, fsync it, rename it over `path`,
/// then fsync the directory so the rename itself survives a crash.
pub fn write_json_atomic<T: Serialize + ?Sized>(
    path: impl AsRef<Path>,
    value: &T,
) -> Result<(), SchemaError> {
    let path = path.as_ref();
    // Serialise first: a value that fails to serialise must not touch the disk at all.
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| SchemaError::Serialise { path: path.into(), message: e.to_string() })?;
    bytes.push(b'\n');
    write_bytes_atomic(path, &bytes)
}

/// Writes `bytes` to `path` atomically (see [`write_json_atomic`]).
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), SchemaError> {
    let io = |cause| SchemaError::Io { path: path.into(), cause };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| io(std::io::Error::other("no file name")))?;
    // Same directory, so the rename never crosses a filesystem; pid + counter, so concurrent writers
    // (threads or processes) never share a temporary.
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    // Directory fsync makes the rename durable; some filesystems refuse it, which loses durability
    // only, not atomicity, so it is not an error.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_os_error_is_quoted_once_even_through_a_cause_chain() {
        let e = read_table("/nonexistent/t.json").unwrap_err();
        // The message quotes the OS error; no `source()` repeats it in a `{:#}` chain.
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(e.to_string().matches("No such file").count(), 1, "{e}");
        assert!(e.to_string().starts_with("/nonexistent/t.json: "), "{e}");
    }
}
