//! The cluster inventory (TOML) and the fleet it resolves to once matched with efficiency tables.

use crate::limits::{self, MAX_SERVERS_PER_TYPE, MAX_SERVER_QPS};
use hercules_results::{
    one_line, parse_table, read_table, CurvePoint, EfficiencyTable, SchemaError, TABLE_KIND,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Why an inventory, a table set or their match is unusable. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The inventory file could not be read.
    #[error("{}: {cause}", one_line(&path.display().to_string()))]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error. Not named `source`: the message already quotes it, and a `source()` would
        /// make `{:#}` (anyhow's chain) print it a second time.
        cause: std::io::Error,
    },
    /// The inventory is not valid TOML of the expected shape.
    #[error("{}: {}", one_line(&path.display().to_string()), one_line(message))]
    Toml {
        /// The file.
        path: PathBuf,
        /// toml's message, flattened to one line.
        message: String,
    },
    /// Something in the inventory is wrong.
    #[error("{}: {}", one_line(&path.display().to_string()), one_line(message))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What.
        message: String,
    },
    /// A table could not be read.
    #[error(transparent)]
    Table(#[from] SchemaError),
    /// A table is valid but beyond what the analysis handles.
    #[error("{}: {}", one_line(&path.display().to_string()), one_line(message))]
    TableBound {
        /// The table.
        path: PathBuf,
        /// Which bound, and the value.
        message: String,
    },
    /// Tables and inventory do not fit together.
    #[error("{}", one_line(.0))]
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
    let text = hercules_results::read_text_bounded(path, hercules_results::MAX_DOCUMENT_BYTES)
        .map_err(|cause| ClusterError::Io { path: path.into(), cause })?;
    let file: ClusterFile = toml::from_str(&text)
        .map_err(|e| ClusterError::Toml { path: path.into(), message: e.to_string() })?;
    let invalid = |message: String| ClusterError::Invalid { path: path.into(), message };
    if file.server.is_empty() {
        return Err(invalid("no [[server]] entries".into()));
    }
    limits::TYPES.check_count("[[server]] entries", file.server.len()).map_err(|e| invalid(e.to_string()))?;
    let mut seen = BTreeSet::new();
    for s in &file.server {
        if s.name.trim().is_empty() {
            return Err(invalid("a server type has an empty name".into()));
        }
        if !seen.insert(s.name.as_str()) {
            return Err(invalid(format!("server type `{}` is listed twice", s.name)));
        }
        if s.count > MAX_SERVERS_PER_TYPE {
            return Err(invalid(format!(
                "server type `{}`: count {} exceeds the bound of {MAX_SERVERS_PER_TYPE} (MAX_SERVERS_PER_TYPE)",
                s.name, s.count
            )));
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
    /// `MODELLED from <source type> at <commit>` when the type's tables are projections, not
    /// measurements (the first table's basis); every report shows it.
    pub modelled: Option<String>,
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
    /// Which figure of each table the capacities are.
    pub capacity: Capacity,
    /// What a planner should know about the tables used (no intervals, mixed commits, dirty trees),
    /// one line each.
    pub warnings: Vec<String>,
}

/// Which figure of a table a server's capacity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capacity {
    /// The lower end of the latency-bounded QPS's confidence interval (the median where a table has no
    /// interval): a plan that holds unless the host is slower than its trials showed.
    Low,
    /// The median over trials (the single measurement where there is one).
    Median,
}

/// Tables read, each with its file.
pub type TablePool = Vec<(PathBuf, EfficiencyTable)>;

/// What [`load_tables`] does with a file in a directory that is not a usable table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableLoad {
    /// It is an error naming the file.
    Strict,
    /// It is skipped, and listed in the answer (`--skip-invalid`).
    SkipInvalid,
}

/// Loads every efficiency table named: files as given, directories searched recursively for `*.json`.
/// In a directory, well-formed JSON documents of another `kind` or none (roofline reports,
/// checkpoints, peer comparisons) are skipped silently; a file that is not valid JSON (truncated, `NaN`), or a table that fails its checks,
/// is an error naming the file, or with [`TableLoad::SkipInvalid`] is skipped and returned, one line
/// each, as the second element. Files named explicitly are always read as tables.
pub fn load_tables(inputs: &[PathBuf], policy: TableLoad) -> Result<(TablePool, Vec<String>), ClusterError> {
    let mut files = Vec::new();
    for p in inputs {
        if p.is_dir() {
            walk(p, &mut files).map_err(|cause| ClusterError::Io { path: p.clone(), cause })?;
        } else {
            files.push((p.clone(), true));
        }
    }
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for (f, explicit) in files {
        let got = if explicit { read_checked(&f).map(Some) } else { read_if_table(&f) };
        match got {
            Ok(Some(t)) => out.push((f, t)),
            Ok(None) => {}
            Err(e) if !explicit && policy == TableLoad::SkipInvalid => skipped.push(e.to_string()),
            Err(e) => return Err(e),
        }
    }
    Ok((out, skipped))
}

/// A directory entry: `None` for a well-formed document that is not a table, else the checked table.
fn read_if_table(f: &Path) -> Result<Option<EfficiencyTable>, ClusterError> {
    let text = hercules_results::read_text_bounded(f, hercules_results::MAX_DOCUMENT_BYTES)
        .map_err(|cause| ClusterError::Io { path: f.into(), cause })?;
    // Only a document that parses and names another kind is known not to be a table: anything else
    // (truncated, NaN) might be one, and skipping it unannounced would silently change the plan.
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        if v.get("kind").and_then(|k| k.as_str()) != Some(TABLE_KIND) {
            return Ok(None);
        }
    }
    let t = parse_table(&text, f)?;
    check_bounds(f, &t)?;
    Ok(Some(t))
}

/// Reads a table and checks it against the analysis's bounds.
fn read_checked(f: &Path) -> Result<EfficiencyTable, ClusterError> {
    let t = read_table(f)?;
    check_bounds(f, &t)?;
    Ok(t)
}

fn check_bounds(f: &Path, t: &EfficiencyTable) -> Result<(), ClusterError> {
    let q = t.best.latency_bounded_qps;
    if q > MAX_SERVER_QPS {
        return Err(ClusterError::TableBound {
            path: f.into(),
            message: format!(
                "best.latency_bounded_qps {} exceeds the bound of {} QPS per server (MAX_SERVER_QPS)",
                limits::num(q),
                limits::num(MAX_SERVER_QPS)
            ),
        });
    }
    Ok(())
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
    capacity: Capacity,
) -> Result<Fleet, ClusterError> {
    let base = cluster_path.parent().unwrap_or(Path::new("."));
    let index: BTreeMap<&str, usize> = models.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
    let mut tables = vec![vec![None; cluster.server.len()]; models.len()];
    let mut synthetic = false;
    let mut modelled: Vec<Option<String>> = vec![None; cluster.server.len()];
    let mut used: Vec<(PathBuf, EfficiencyTable)> = Vec::new();
    for (s, entry) in cluster.server.iter().enumerate() {
        let own: Vec<(PathBuf, EfficiencyTable)>;
        let candidates: Vec<&(PathBuf, EfficiencyTable)> = match &entry.tables {
            Some(list) => {
                let mut files = Vec::new();
                for pat in list.items() {
                    let found = expand(base, &pat)
                        .map_err(|cause| ClusterError::Io { path: base.join(&pat), cause })?;
                    if found.is_empty() {
                        return Err(ClusterError::Match(format!(
                            "server type `{}`: `{pat}` matches no file (relative to {})",
                            entry.name,
                            base.display()
                        )));
                    }
                    files.extend(found);
                }
                own =
                    files.into_iter().map(|f| read_checked(&f).map(|t| (f, t))).collect::<Result<_, _>>()?;
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
            if modelled[s].is_none() {
                modelled[s] = t.modelled.as_ref().map(crate::project::type_label);
            }
            used.push((path.clone(), t.clone()));
            tables[m][s] = Some(TableRef {
                path: path.clone(),
                qps: t.best.planning_qps(capacity == Capacity::Low),
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
    let warnings = check_comparable(&used, capacity)?;
    let types = cluster
        .server
        .iter()
        .zip(modelled)
        .map(|(e, modelled)| TypeSpec {
            name: e.name.clone(),
            count: e.count,
            idle_watts: e.idle_watts,
            peak_watts: e.peak_watts,
            price: e.price,
            modelled,
        })
        .collect();
    Ok(Fleet { types, models: models.to_vec(), tables, synthetic, capacity, warnings })
}

/// Refuses tables of different schema versions in one plan (their figures mean different things: a
/// version-2 best is a median over trials, a version-1 best one measurement), and returns a warning
/// line for each other way the tables are not like for like.
fn check_comparable(
    used: &[(PathBuf, EfficiencyTable)],
    capacity: Capacity,
) -> Result<Vec<String>, ClusterError> {
    let first_of = |pick: &dyn Fn(&EfficiencyTable) -> String| {
        let mut seen: BTreeMap<String, (&Path, usize)> = BTreeMap::new();
        for (p, t) in used {
            seen.entry(pick(t)).or_insert((p.as_path(), 0)).1 += 1;
        }
        seen
    };
    let versions = first_of(&|t| t.schema_version.to_string());
    if versions.len() > 1 {
        let each: Vec<String> = versions
            .iter()
            .map(|(v, (p, n))| format!("version {v} ({n} tables, e.g. {})", p.display()))
            .collect();
        return Err(ClusterError::Match(format!(
            "the tables mix schema versions: {}; re-measure or pass one version's tables",
            each.join(" and ")
        )));
    }
    let mut warnings = Vec::new();
    let unsure: Vec<&Path> = used
        .iter()
        .filter(|(_, t)| !t.synthetic && t.best.interval.is_none())
        .map(|(p, _)| p.as_path())
        .collect();
    if capacity == Capacity::Low && !unsure.is_empty() {
        warnings.push(format!(
            "{} of {} tables have no confidence interval (one trial, or schema version 1): their capacity \
             is a single measurement, not a lower bound (e.g. {})",
            unsure.len(),
            used.len(),
            unsure[0].display()
        ));
    }
    let commits = first_of(&|t| match &t.provenance {
        Some(p) => p.commit.clone(),
        None => t.host.git_revision.trim_end_matches("-dirty").to_string(),
    });
    if commits.len() > 1 {
        let each: Vec<String> =
            commits.iter().map(|(c, (p, n))| format!("{c} ({n}, e.g. {})", p.display())).collect();
        warnings.push(format!("the tables come from different commits: {}", each.join(", ")));
    }
    let dirty: Vec<&Path> = used
        .iter()
        .filter(|(_, t)| t.provenance.as_ref().map_or(t.host.git_revision.ends_with("-dirty"), |p| p.dirty))
        .map(|(p, _)| p.as_path())
        .collect();
    if let Some(first) = dirty.first() {
        warnings.push(format!(
            "{} of {} tables were measured from a source tree with uncommitted changes, so their commit \
             does not reproduce them (e.g. {})",
            dirty.len(),
            used.len(),
            first.display()
        ));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hercules_results::{synthetic_table, write_json_atomic, SyntheticSpec};

    fn table(qps: f64) -> EfficiencyTable {
        synthetic_table(&SyntheticSpec {
            server_type: "t".into(),
            idle_watts: 50.0,
            peak_watts: 100.0,
            price: None,
            model: "m".into(),
            percentile: 95.0,
            target_ms: 10.0,
            qps,
            default_qps: 1.0,
            cores: 4,
        })
    }

    #[test]
    fn broken_tables_in_a_directory_are_errors_or_listed_skips() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_json_atomic(d.join("a.json"), &table(100.0)).unwrap();
        std::fs::write(d.join("b.json"), "{\"kind\": \"efficiency_ta").unwrap();
        std::fs::write(d.join("c.json"), "{\"kind\": \"roofline_report\"}").unwrap();
        std::fs::write(d.join("e.json"), "[1, 2]").unwrap();
        write_json_atomic(d.join("d.json"), &table(1e15)).unwrap();
        let inputs = [d.to_path_buf()];
        let e = load_tables(&inputs, TableLoad::Strict).unwrap_err().to_string();
        assert!(e.contains("b.json") && !e.contains('\n'), "{e}");
        let (tables, skipped) = load_tables(&inputs, TableLoad::SkipInvalid).unwrap();
        assert_eq!(tables.len(), 1, "only a.json; c.json is another kind, silently");
        assert_eq!(skipped.len(), 2, "{skipped:?}");
        assert!(skipped[0].contains("b.json"));
        assert!(skipped[1].contains("d.json") && skipped[1].contains("MAX_SERVER_QPS"), "{skipped:?}");
        // A file named explicitly is always a table, and always an error when it is not one.
        let e = load_tables(&[d.join("c.json")], TableLoad::SkipInvalid).unwrap_err().to_string();
        assert!(e.contains("c.json"), "{e}");
    }

    #[test]
    fn inventory_bounds_are_checked_at_parse_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[[server]]\nname = \"a\"\ncount = 4000000000\nidle_watts = 1\npeak_watts = 2\n")
            .unwrap();
        let e = read_cluster(&p).unwrap_err().to_string();
        assert!(e.contains("count 4000000000 exceeds the bound of 1000000 (MAX_SERVERS_PER_TYPE)"), "{e}");
        let many: String = (0..=limits::MAX_TYPES)
            .map(|i| format!("[[server]]\nname = \"t{i}\"\ncount = 1\nidle_watts = 1\npeak_watts = 2\n"))
            .collect();
        std::fs::write(&p, many).unwrap();
        let e = read_cluster(&p).unwrap_err().to_string();
        assert!(e.contains("[[server]] entries must be in [1, 100] (MAX_TYPES), got 101"), "{e}");
    }

    #[test]
    fn a_missing_file_quotes_the_os_error_once() {
        let e = read_cluster(Path::new("/nonexistent/c.toml")).unwrap_err();
        let chain = anyhow_like(&e);
        assert_eq!(chain.matches("No such file").count(), 1, "{chain}");
    }

    /// What anyhow's `{:#}` prints: the message, then each source's.
    fn anyhow_like(e: &dyn std::error::Error) -> String {
        let mut s = e.to_string();
        let mut cur = e.source();
        while let Some(c) = cur {
            s.push_str(&format!(": {c}"));
            cur = c.source();
        }
        s
    }
}
