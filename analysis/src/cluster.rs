//! The cluster inventory (TOML) and the fleet it resolves to once matched with efficiency tables.

use hercules_results::{read_table, CurvePoint, EfficiencyTable, SchemaError, TABLE_KIND};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Why an inventory, a table set or their match is unusable. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The inventory file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The inventory is not valid TOML of the expected shape.
    #[error("{}: {}", path.display(), message.replace('\n', " "))]
    Toml {
        /// The file.
        path: PathBuf,
        /// toml's message, flattened to one line.
        message: String,
    },
    /// Something in the inventory is wrong.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What.
        message: String,
    },
    /// A table could not be read.
    #[error(transparent)]
    Table(#[from] SchemaError),
    /// Tables and inventory do not fit together.
    #[error("{0}")]
    Match(String),
}

/// `[[server]]` entries of `cluster.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// The server types.
    pub server: Vec<ServerEntry>,
}

/// One server type of the inventory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    /// Unique name.
    pub name: String,
    /// Table files or globs (`*`, `?` in the file name), relative to the inventory file. When absent,
    /// the tables given with `--tables` whose `server_type.name` equals `server_type` (or `name`).
    pub tables: Option<OneOrMany>,
    /// Which `server_type.name` in the tables this entry stands for (default: `name`).
    pub server_type: Option<String>,
    /// Servers of this type available.
    pub count: u32,
    /// Power at idle, watts.
    pub idle_watts: f64,
    /// Power at full load, watts (what a provisioned server is charged in the power objective).
    pub peak_watts: f64,
    /// Optional price of one server.
    pub price: Option<f64>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// Reads and checks `cluster.toml`.
pub fn read_cluster(path: &Path) -> Result<ClusterFile, ClusterError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ClusterError::Io { path: path.into(), source })?;
    let file: ClusterFile = toml::from_str(&text)
        .map_err(|e| ClusterError::Toml { path: path.into(), message: e.to_string() })?;
    let invalid = |message: String| ClusterError::Invalid { path: path.into(), message };
    if file.server.is_empty() {
        return Err(invalid("no [[server]] entries".into()));
    }
    let mut seen = BTreeSet::new();
    for s in &file.server {
        if s.name.trim().is_empty() {
            return Err(invalid("a server type has an empty name".into()));
        }
        if !seen.insert(s.name.as_str()) {
            return Err(invalid(format!("server type `{}` is listed twice", s.name)));
        }
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        if !ok(s.idle_watts) || !ok(s.peak_watts) || s.idle_watts > s.peak_watts {
            return Err(invalid(format!(
                "server type `{}`: watts must be finite, non-negative, idle ≤ peak (got idle {}, peak {})",
                s.name, s.idle_watts, s.peak_watts
            )));
        }
        if s.price.is_some_and(|p| !ok(p)) {
            return Err(invalid(format!("server type `{}`: price must be finite and non-negative", s.name)));
        }
    }
    Ok(file)
}

/// A server type as the analysis uses it.
#[derive(Debug, Clone, Serialize)]
pub struct TypeSpec {
    /// Name from the inventory.
    pub name: String,
    /// Servers available.
    pub count: u32,
    /// Idle watts.
    pub idle_watts: f64,
    /// Peak watts.
    pub peak_watts: f64,
    /// Price of one server, if given.
    pub price: Option<f64>,
}

/// What the analysis keeps of one efficiency table.
#[derive(Debug, Clone, Serialize)]
pub struct TableRef {
    /// The file.
    pub path: PathBuf,
    /// Latency-bounded QPS of one server at the best schedule.
    pub qps: f64,
    /// The best schedule, as a label.
    pub schedule: String,
    /// SLA percentile.
    pub percentile: f64,
    /// SLA target, ms.
    pub target_ms: f64,
    /// The best schedule's curve.
    #[serde(skip)]
    pub curve: Vec<CurvePoint>,
    /// Made by `synth`.
    pub synthetic: bool,
}

/// Server types × models, each pair with its table where one exists.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// Server types, inventory order.
    pub types: Vec<TypeSpec>,
    /// Models, load order.
    pub models: Vec<String>,
    /// `tables[m][s]`.
    pub tables: Vec<Vec<Option<TableRef>>>,
    /// Whether any table used is synthetic.
    pub synthetic: bool,
}

/// Loads every efficiency table named: files as given, directories searched recursively for `*.json`
/// whose `kind` is `efficiency_table` (other documents, such as roofline reports, are skipped).
pub fn load_tables(inputs: &[PathBuf]) -> Result<Vec<(PathBuf, EfficiencyTable)>, ClusterError> {
    let mut files = Vec::new();
    for p in inputs {
        if p.is_dir() {
            walk(p, &mut files).map_err(|source| ClusterError::Io { path: p.clone(), source })?;
        } else {
            files.push((p.clone(), true));
        }
    }
    let mut out = Vec::new();
    for (f, explicit) in files {
        if !explicit && !is_table(&f) {
            continue;
        }
        let t = read_table(&f)?;
        out.push((f, t));
    }
    Ok(out)
}

fn is_table(f: &Path) -> bool {
    // Cheap check of the kind, so a directory of mixed results only contributes its tables.
    std::fs::read_to_string(f)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("kind").and_then(|k| k.as_str()) == Some(TABLE_KIND))
}

fn walk(dir: &Path, out: &mut Vec<(PathBuf, bool)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push((p, false));
        }
    }
    Ok(())
}

/// Files matching `pattern` (`*` and `?` allowed in the last component), relative to `base`.
fn expand(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, std::io::Error> {
    let full = base.join(pattern);
    let name = full.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if !name.contains(['*', '?']) {
        return Ok(vec![full]);
    }
    let dir = full.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| glob_match(&name, &n.to_string_lossy())))
        .collect();
    out.sort();
    Ok(out)
}

/// `*` matches any run, `?` one character.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(st) = star {
            i = st + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// Matches inventory and tables for the models of the load.
pub fn build_fleet(
    cluster: &ClusterFile,
    cluster_path: &Path,
    pool: &[(PathBuf, EfficiencyTable)],
    models: &[String],
) -> Result<Fleet, ClusterError> {
    let base = cluster_path.parent().unwrap_or(Path::new("."));
    let index: BTreeMap<&str, usize> = models.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    let mut tables = vec![vec![None; cluster.server.len()]; models.len()];
    let mut synthetic = false;
    for (s, entry) in cluster.server.iter().enumerate() {
        let own: Vec<(PathBuf, EfficiencyTable)>;
        let candidates: Vec<&(PathBuf, EfficiencyTable)> = match &entry.tables {
            Some(list) => {
                let mut files = Vec::new();
                for pat in list.items() {
                    let found = expand(base, &pat)
                        .map_err(|source| ClusterError::Io { path: base.join(&pat), source })?;
                    if found.is_empty() {
                        return Err(ClusterError::Match(format!(
                            "server type `{}`: `{pat}` matches no file (relative to {})",
                            entry.name,
                            base.display()
                        )));
                    }
                    files.extend(found);
                }
                own = files.into_iter().map(|f| read_table(&f).map(|t| (f, t))).collect::<Result<_, _>>()?;
                own.iter().collect()
            }
            None => {
                let want = entry.server_type.as_deref().unwrap_or(&entry.name);
                pool.iter().filter(|(_, t)| t.server_type.name == want).collect()
            }
        };
        if candidates.is_empty() {
            let want = entry.server_type.as_deref().unwrap_or(&entry.name);
            return Err(ClusterError::Match(format!(
                "server type `{}` has no efficiency tables (none with server_type.name `{want}` in --tables)",
                entry.name
            )));
        }
        for (path, t) in candidates {
            let Some(&m) = index.get(t.model.name.as_str()) else { continue };
            if let Some(prev) = &tables[m][s] {
                let prev: &TableRef = prev;
                return Err(ClusterError::Match(format!(
                    "server type `{}`, model `{}`: two tables ({} and {}); keep one",
                    entry.name,
                    t.model.name,
                    prev.path.display(),
                    path.display()
                )));
            }
            synthetic |= t.synthetic;
            tables[m][s] = Some(TableRef {
                path: path.clone(),
                qps: t.best.latency_bounded_qps,
                schedule: t.best.schedule.label(),
                percentile: t.sla.percentile,
                target_ms: t.sla.target_ms,
                curve: t.curve.clone(),
                synthetic: t.synthetic,
            });
        }
    }
    for (m, name) in models.iter().enumerate() {
        if tables[m].iter().all(|t| t.is_none()) {
            return Err(ClusterError::Match(format!(
                "model `{name}` has load but no efficiency table on any server type"
            )));
        }
    }
    let types = cluster
        .server
        .iter()
        .map(|e| TypeSpec {
            name: e.name.clone(),
            count: e.count,
            idle_watts: e.idle_watts,
            peak_watts: e.peak_watts,
            price: e.price,
        })
        .collect();
    Ok(Fleet { types, models: models.to_vec(), tables, synthetic })
}
