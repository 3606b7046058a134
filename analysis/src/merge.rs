//! Merging the tables many hosts wrote (a campaign's shared folder, copies from several machines) into
//! one folder per server type, refusing what would make the fleet ambiguous: two kinds of host under
//! one server-type name, two tables for one (type, model, SLA), mixed schema versions.

use hercules_results::{all_exporters, is_folder_name, EfficiencyTable, NAME_RULE};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why tables cannot be merged. One line each.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct MergeError(pub String);

/// One table's place in the merged folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// Where it was read.
    pub from: PathBuf,
    /// `<server type>/<model>[-p<pct>-<ms>ms]` (no extension).
    pub stem: String,
}

/// The identity of the kind of machine behind a table (modelled tables name their target).
fn host_kind(t: &EfficiencyTable) -> String {
    t.provenance.as_ref().map_or_else(|| t.host.id(), |p| p.host_id.clone())
}

/// A server-type or model name that is also a safe folder or file name (the rule `profile` names
/// them by).
fn safe(what: &str, s: &str) -> Result<(), MergeError> {
    if is_folder_name(s) {
        Ok(())
    } else {
        Err(MergeError(format!("{what} `{}` is not a safe folder name ({NAME_RULE})", s.escape_debug())))
    }
}

/// Where each table goes, or the first reason the set cannot be merged.
pub fn plan(tables: &[(PathBuf, EfficiencyTable)]) -> Result<Vec<Placed>, MergeError> {
    if tables.is_empty() {
        return Err(MergeError("no efficiency tables to merge".into()));
    }
    let v0 = tables[0].1.schema_version;
    if let Some((p, t)) = tables.iter().find(|(_, t)| t.schema_version != v0) {
        return Err(MergeError(format!(
            "the tables mix schema versions: {} is version {} but {} is version {v0}; re-measure or merge one version",
            p.display(),
            t.schema_version,
            tables[0].0.display()
        )));
    }
    let mut kinds: BTreeMap<&str, (String, &Path)> = BTreeMap::new();
    let mut seen: BTreeMap<(String, String, String), &Path> = BTreeMap::new();
    let mut placed = Vec::new();
    for (path, t) in tables {
        let ty = t.server_type.name.as_str();
        safe("server type", ty).map_err(|e| MergeError(format!("{}: {e}", path.display())))?;
        safe("model", &t.model.name).map_err(|e| MergeError(format!("{}: {e}", path.display())))?;
        let kind = host_kind(t);
        match kinds.get(ty) {
            Some((k, first)) if *k != kind => {
                return Err(MergeError(format!(
                    "server type `{ty}` is claimed by two kinds of host: {} ({k}) and {} ({kind}); \
                     profile one of them with another --server-type",
                    first.display(),
                    path.display()
                )))
            }
            Some(_) => {}
            None => {
                kinds.insert(ty, (kind, path));
            }
        }
        let sla = format!("p{}-{}ms", t.sla.percentile, t.sla.target_ms);
        if let Some(first) = seen.insert((ty.to_string(), t.model.name.clone(), sla.clone()), path) {
            return Err(MergeError(format!(
                "two tables for server type `{ty}`, model `{}`, SLA {sla}: {} and {}; keep one",
                t.model.name,
                first.display(),
                path.display()
            )));
        }
        placed.push((ty.to_string(), t.model.name.clone(), sla, path.clone()));
    }
    // A model with tables at several SLAs in one type gets the SLA in its file name.
    let mut per_model: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (ty, m, _, _) in &placed {
        *per_model.entry((ty, m)).or_default() += 1;
    }
    Ok(placed
        .iter()
        .map(|(ty, m, sla, from)| {
            let stem = if per_model[&(ty.as_str(), m.as_str())] > 1 {
                format!("{ty}/{m}-{sla}")
            } else {
                format!("{ty}/{m}")
            };
            Placed { from: from.clone(), stem }
        })
        .collect())
}

/// Writes the merged folder: every table (JSON, CSV, Markdown, SVG) under `out/<type>/`, built in a
/// sibling folder and renamed into place, so an interrupted merge leaves nothing half-written. `out`
/// must not exist yet.
pub fn write(out: &Path, tables: &[(PathBuf, EfficiencyTable)], placed: &[Placed]) -> Result<(), MergeError> {
    if out.exists() {
        return Err(MergeError(format!("{} exists: merge into a new folder", out.display())));
    }
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "merged".into());
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    let io = |what: &Path, e: std::io::Error| MergeError(format!("{}: {e}", what.display()));
    let result = (|| {
        for (p, (_, t)) in placed.iter().zip(tables) {
            let dir = tmp.join(&p.stem).parent().map(Path::to_path_buf).unwrap_or_else(|| tmp.clone());
            std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
            for e in all_exporters() {
                let file = tmp.join(format!("{}.{}", p.stem, e.extension()));
                hercules_results::write_bytes_atomic(&file, e.render(t).as_bytes())
                    .map_err(|e| MergeError(e.to_string()))?;
            }
        }
        std::fs::rename(&tmp, out).map_err(|e| io(out, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use hercules_results::{read_table, synthetic_table, SyntheticSpec};

    fn table(ty: &str, model: &str, host: &str) -> (PathBuf, EfficiencyTable) {
        let mut t = synthetic_table(&SyntheticSpec {
            server_type: ty.into(),
            idle_watts: 1.0,
            peak_watts: 2.0,
            price: None,
            model: model.into(),
            percentile: 95.0,
            target_ms: 10.0,
            qps: 100.0,
            default_qps: 50.0,
            cores: 2,
        });
        t.host.cpu_model = host.into();
        (PathBuf::from(format!("{host}/{ty}/{model}.json")), t)
    }

    #[test]
    fn tables_of_two_hosts_merge_into_one_folder_per_type() {
        let tables = vec![table("a", "m1", "h1"), table("a", "m2", "h1"), table("b", "m1", "h2")];
        let p = plan(&tables).unwrap();
        let stems: Vec<&str> = p.iter().map(|p| p.stem.as_str()).collect();
        assert_eq!(stems, ["a/m1", "a/m2", "b/m1"]);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("merged");
        write(&out, &tables, &p).unwrap();
        assert_eq!(read_table(out.join("b/m1.json")).unwrap().server_type.name, "b");
        assert!(out.join("a/m2.md").exists() && out.join("a/m2.svg").exists());
        // Nothing is merged over an existing folder, and no partial folder is left behind.
        assert!(write(&out, &tables, &p).unwrap_err().0.contains("exists: merge into a new folder"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn ambiguous_sets_are_refused_in_one_line() {
        let e = plan(&[table("a", "m1", "h1"), table("a", "m2", "h2")]).unwrap_err().0;
        assert!(e.contains("server type `a` is claimed by two kinds of host"), "{e}");
        let e = plan(&[table("a", "m1", "h1"), table("a", "m1", "h1")]).unwrap_err().0;
        assert!(e.contains("two tables for server type `a`, model `m1`, SLA p95-10ms"), "{e}");
        let mut old = table("b", "m1", "h1");
        old.1.schema_version = 1;
        let e = plan(&[table("a", "m1", "h1"), old]).unwrap_err().0;
        assert!(e.contains("mix schema versions"), "{e}");
        let e = plan(&[table("../x", "m1", "h1")]).unwrap_err().0;
        assert!(e.contains("server type `../x` is not a safe folder name"), "{e}");
        let e = plan(&[table("a", &"m".repeat(65), "h1")]).unwrap_err().0;
        assert!(e.contains("is not a safe folder name"), "{e}");
        // The harness's synthetic models are named like `sleep:300`.
        assert_eq!(plan(&[table("a", "sleep:300", "h1")]).unwrap()[0].stem, "a/sleep:300");
        assert!(plan(&[]).is_err());
        assert!(!plan(&[table("a", "m1", "h1"), table("a", "m2", "h2")]).unwrap_err().0.contains('\n'));
    }

    #[test]
    fn a_model_at_two_slas_keeps_both() {
        let mut strict = table("a", "m1", "h1");
        strict.1.sla.target_ms = 5.0;
        let p = plan(&[table("a", "m1", "h1"), strict]).unwrap();
        assert_eq!(p[0].stem, "a/m1-p95-10ms");
        assert_eq!(p[1].stem, "a/m1-p95-5ms");
    }
}
