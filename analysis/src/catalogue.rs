//! The server catalogue (TOML): server types nobody measured here, described by the few figures a
//! projection scales by, each with its source.

use crate::limits;
use hercules_results::one_line;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Most cores of one catalogue SKU.
pub const MAX_SKU_CORES: u32 = 4096;

/// Why a catalogue is unusable. One line each, naming the file and the SKU.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// The file could not be read.
    #[error("{}: {cause}", one_line(&path.display().to_string()))]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        cause: std::io::Error,
    },
    /// Not TOML of the expected shape.
    #[error("{}: {}", one_line(&path.display().to_string()), one_line(message))]
    Toml {
        /// The file.
        path: PathBuf,
        /// toml's message, flattened.
        message: String,
    },
    /// A figure is out of range or unsourced.
    #[error("{}: sku `{sku}`: {}", one_line(&path.display().to_string()), one_line(message))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The SKU.
        sku: String,
        /// What.
        message: String,
    },
}

/// `[[sku]]` entries of a catalogue file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// The SKUs.
    pub sku: Vec<Sku>,
}

/// One server type described by its figures rather than measured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sku {
    /// Unique name, used as the server type of its projected tables.
    pub name: String,
    /// What it is (CPU, sockets, memory, accelerator).
    pub description: String,
    /// Cores that serve (all sockets); for an accelerator host, concurrent streams on the device.
    pub cores: u32,
    /// FP32 FMA peak of one core (or of the device per stream), GFLOP/s.
    pub fma_gflops_per_core: f64,
    /// Random 256 B-row gather bandwidth with every core gathering, GB/s (absent: the SKU cannot run
    /// a model with embeddings).
    pub gather_gbs: Option<f64>,
    /// The same with one core gathering, GB/s (default: `gather_gbs / cores`, which assumes the memory
    /// is the bound even for one core).
    pub gather_gbs_per_core: Option<f64>,
    /// Multiplier on embedding gather bandwidth from near-memory processing (RecNMP-style); 1 = none.
    #[serde(default = "one")]
    pub embedding_multiplier: f64,
    /// Fixed time per query outside compute and gathers (an accelerator's transfers and launches), ms.
    #[serde(default)]
    pub per_query_overhead_ms: f64,
    /// Power at idle, watts.
    pub idle_watts: f64,
    /// Power at full load, watts.
    pub peak_watts: f64,
    /// Optional price of one server.
    pub price: Option<f64>,
    /// Where each figure comes from, by field name: every figure given must have one.
    pub sources: BTreeMap<String, String>,
}

fn one() -> f64 {
    1.0
}

impl Sku {
    /// One core's gather bandwidth alone, GB/s, with the near-memory multiplier; `None` without a
    /// gather figure.
    pub fn gather_one_core(&self) -> Option<f64> {
        let all = self.gather_gbs?;
        Some(self.gather_gbs_per_core.unwrap_or(all / self.cores as f64).min(all) * self.embedding_multiplier)
    }

    /// Checks ranges and sources; the message names the field.
    fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("empty name".into());
        }
        if self.cores == 0 || self.cores > MAX_SKU_CORES {
            return Err(format!("cores must be 1 to {MAX_SKU_CORES}, got {}", self.cores));
        }
        let positive = |what: &str, x: f64| {
            if x.is_finite() && x > 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be a positive number, got {}", limits::num(x)))
            }
        };
        let nonneg = |what: &str, x: f64| {
            if x.is_finite() && x >= 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be a finite non-negative number, got {}", limits::num(x)))
            }
        };
        positive("fma_gflops_per_core", self.fma_gflops_per_core)?;
        if let Some(g) = self.gather_gbs {
            positive("gather_gbs", g)?;
        }
        if let Some(g) = self.gather_gbs_per_core {
            positive("gather_gbs_per_core", g)?;
            if self.gather_gbs.is_none() {
                return Err("gather_gbs_per_core is given without gather_gbs".into());
            }
        }
        positive("embedding_multiplier", self.embedding_multiplier)?;
        nonneg("per_query_overhead_ms", self.per_query_overhead_ms)?;
        nonneg("idle_watts", self.idle_watts)?;
        nonneg("peak_watts", self.peak_watts)?;
        if self.idle_watts > self.peak_watts {
            return Err(format!("idle_watts {} exceeds peak_watts {}", self.idle_watts, self.peak_watts));
        }
        if let Some(p) = self.price {
            nonneg("price", p)?;
        }
        let mut need = vec!["cores", "fma_gflops_per_core", "watts"];
        if self.gather_gbs.is_some() {
            need.push("gather_gbs");
        }
        if self.gather_gbs_per_core.is_some() {
            need.push("gather_gbs_per_core");
        }
        if self.embedding_multiplier != 1.0 {
            need.push("embedding_multiplier");
        }
        if self.per_query_overhead_ms > 0.0 {
            need.push("per_query_overhead_ms");
        }
        if let Some(missing) = need.iter().find(|k| self.sources.get(**k).is_none_or(|s| s.trim().is_empty()))
        {
            return Err(format!("figure `{missing}` has no source (add it under [sku.sources])"));
        }
        Ok(())
    }
}

/// Reads and checks a catalogue.
pub fn read_catalogue(path: &Path) -> Result<Catalogue, CatalogueError> {
    let text = hercules_results::read_text_bounded(path, hercules_results::MAX_DOCUMENT_BYTES)
        .map_err(|cause| CatalogueError::Io { path: path.into(), cause })?;
    parse_catalogue(&text, path)
}

/// Parses and checks catalogue text (`path` only names it in errors).
pub fn parse_catalogue(text: &str, path: &Path) -> Result<Catalogue, CatalogueError> {
    let cat: Catalogue = toml::from_str(text)
        .map_err(|e| CatalogueError::Toml { path: path.into(), message: e.to_string() })?;
    let invalid =
        |sku: &str, message: String| CatalogueError::Invalid { path: path.into(), sku: sku.into(), message };
    if cat.sku.is_empty() {
        return Err(invalid("-", "no [[sku]] entries".into()));
    }
    let mut seen = BTreeSet::new();
    for s in &cat.sku {
        s.check().map_err(|m| invalid(&s.name, m))?;
        if !seen.insert(s.name.as_str()) {
            return Err(invalid(&s.name, "listed twice".into()));
        }
    }
    Ok(cat)
}

impl Catalogue {
    /// The SKU called `name`, or an error listing the names there are.
    pub fn get(&self, name: &str) -> Result<&Sku, String> {
        self.sku.iter().find(|s| s.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.sku.iter().map(|s| s.name.as_str()).collect();
            format!("no sku `{name}` in the catalogue (it has {})", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[sku]]
name = "big"
description = "two sockets"
cores = 40
fma_gflops_per_core = 120.0
gather_gbs = 80.0
idle_watts = 100
peak_watts = 400
[sku.sources]
cores = "datasheet"
fma_gflops_per_core = "datasheet"
gather_gbs = "STREAM x ratio"
watts = "TDP"
"#;

    fn err(text: &str) -> String {
        parse_catalogue(text, Path::new("cat.toml")).unwrap_err().to_string()
    }

    #[test]
    fn a_good_catalogue_reads() {
        let c = parse_catalogue(GOOD, Path::new("cat.toml")).unwrap();
        let s = c.get("big").unwrap();
        assert_eq!(s.cores, 40);
        assert_eq!(s.embedding_multiplier, 1.0);
        assert!((s.gather_one_core().unwrap() - 2.0).abs() < 1e-12);
        assert!(c.get("small").unwrap_err().contains("it has big"));
    }

    #[test]
    fn bad_figures_are_one_line_errors_naming_the_sku() {
        for (from, to, want) in [
            ("cores = 40", "cores = 0", "cores must be 1 to"),
            ("gather_gbs = 80.0", "gather_gbs = -3.0", "gather_gbs must be a positive number"),
            ("fma_gflops_per_core = 120.0", "fma_gflops_per_core = nan", "fma_gflops_per_core must be"),
            ("idle_watts = 100", "idle_watts = 500", "idle_watts 500 exceeds"),
            ("watts = \"TDP\"", "", "figure `watts` has no source"),
            ("cores = 40", "cores = 40\nbogus = 1", "unknown field"),
        ] {
            let e = err(&GOOD.replace(from, to));
            assert!(e.starts_with("cat.toml: ") && e.contains(want) && !e.contains('\n'), "{e}");
        }
        assert!(err(&format!("{GOOD}{GOOD}")).contains("sku `big`: listed twice"));
        assert!(err("").contains("missing field `sku`"));
        assert!(err("sku = []").contains("no [[sku]] entries"));
    }

    #[test]
    fn the_committed_catalogue_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results/fleet/catalogue.toml");
        let c = read_catalogue(&path).unwrap();
        assert!(c.sku.len() >= 4);
        assert!(
            c.sku.iter().any(|s| s.embedding_multiplier > 1.0)
                && c.sku.iter().any(|s| s.per_query_overhead_ms > 0.0)
        );
    }

    #[test]
    fn near_memory_multiplies_the_loaded_gather_and_needs_a_source() {
        let nmp = GOOD.replace("peak_watts = 400", "peak_watts = 400\nembedding_multiplier = 4.0");
        assert!(err(&nmp).contains("figure `embedding_multiplier` has no source"));
        let nmp = nmp.replace("watts = \"TDP\"", "watts = \"TDP\"\nembedding_multiplier = \"RecNMP\"");
        let c = parse_catalogue(&nmp, Path::new("c")).unwrap();
        assert!((c.sku[0].gather_one_core().unwrap() - 8.0).abs() < 1e-12);
    }
}
