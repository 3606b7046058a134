//! Query sizes (candidate items per query, SPEC §4): the one type the harness parses `--sizes` into,
//! samples from (the sampling, which needs `rand`, is the harness's), and records in every document.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Smallest query, items.
pub const MIN_SIZE: u32 = 1;
/// Largest query, items.
pub const MAX_SIZE: u32 = 1024;

/// The MLPerf query-size table: (items, probability).
pub const MLPERF_TABLE: &[(u32, f64)] =
    &[(100, 0.10), (200, 0.60), (300, 0.10), (400, 0.05), (500, 0.05), (600, 0.05), (700, 0.05)];

/// Why a size distribution was refused.
#[derive(Debug, Error)]
pub enum SizeError {
    /// The string names no distribution or has bad parameters.
    #[error("query sizes `{}`: {why}", .spec.escape_debug())]
    Spec {
        /// What was given.
        spec: String,
        /// What is wrong.
        why: String,
    },
    /// The sizes file could not be read or parsed.
    #[error("query sizes file {}: {why}", .path.display().to_string().escape_debug())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Query-size distribution (candidate items per query), clipped to [[`MIN_SIZE`], [`MAX_SIZE`]].
/// Written as `lognormal[:MU:SIGMA]`, `normal[:MEAN:SD]`, `mlperf`, `fixed:N` or `file:PATH`
/// ([`QuerySizes::parse`], [`fmt::Display`]); recorded in JSON as `{"distribution": ..., ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "distribution", rename_all = "lowercase", deny_unknown_fields)]
pub enum QuerySizes {
    /// exp(N(mu, sigma)); the default mu 5.1, sigma 0.2 has median 164.
    Lognormal {
        /// Mean of the underlying normal.
        mu: f64,
        /// Standard deviation of the underlying normal.
        sigma: f64,
    },
    /// N(mean, sd), rounded.
    Normal {
        /// Mean size.
        mean: f64,
        /// Standard deviation.
        sd: f64,
    },
    /// The MLPerf quantile table ([`MLPERF_TABLE`]).
    Mlperf,
    /// Every query the same size.
    Fixed {
        /// Items per query.
        size: u32,
    },
    /// Sizes read from a file (whitespace or comma separated), replayed in order and repeated.
    File {
        /// The file, as given to the harness.
        path: String,
        /// The sizes, clipped. Not recorded: empty in a document read back.
        #[serde(skip)]
        sizes: Vec<u32>,
    },
}

impl Default for QuerySizes {
    fn default() -> Self {
        QuerySizes::Lognormal { mu: 5.1, sigma: 0.2 }
    }
}

/// `x` rounded and clipped to [[`MIN_SIZE`], [`MAX_SIZE`]]; NaN becomes [`MIN_SIZE`].
pub fn clip_size(x: f64) -> u32 {
    if x.is_nan() {
        return MIN_SIZE;
    }
    x.round().clamp(MIN_SIZE as f64, MAX_SIZE as f64) as u32
}

impl QuerySizes {
    /// Parses `lognormal[:MU:SIGMA]`, `normal[:MEAN:SD]`, `mlperf`, `fixed:N` (or just `N`),
    /// `file:PATH`; a file is read through a bound of `max_file_bytes`.
    pub fn parse(spec: &str, max_file_bytes: u64) -> Result<Self, SizeError> {
        let err = |why: &str| SizeError::Spec { spec: spec.into(), why: why.into() };
        let mut parts = spec.splitn(2, ':');
        let kind = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let rest = parts.next();
        let two = |def: (f64, f64)| -> Result<(f64, f64), SizeError> {
            match rest {
                None => Ok(def),
                Some(r) => {
                    let v: Vec<f64> = r
                        .split(':')
                        .map(|x| x.trim().parse::<f64>())
                        .collect::<Result<_, _>>()
                        .map_err(|_| err("parameters must be numbers"))?;
                    match v[..] {
                        [a, b] if a.is_finite() && b.is_finite() && b >= 0.0 => Ok((a, b)),
                        _ => Err(err("expected two parameters, the second non-negative")),
                    }
                }
            }
        };
        match kind.as_str() {
            "lognormal" => {
                let (mu, sigma) = two((5.1, 0.2))?;
                Ok(QuerySizes::Lognormal { mu, sigma })
            }
            "normal" => {
                let (mean, sd) = two((165.0, 16.0))?;
                Ok(QuerySizes::Normal { mean, sd })
            }
            "mlperf" if rest.is_none() => Ok(QuerySizes::Mlperf),
            "fixed" => {
                let n = rest
                    .and_then(|r| r.trim().parse::<u32>().ok())
                    .ok_or_else(|| err("fixed needs a size"))?;
                Ok(QuerySizes::Fixed { size: n.clamp(MIN_SIZE, MAX_SIZE) })
            }
            "file" => {
                let path = rest.ok_or_else(|| err("file needs a path"))?;
                Self::from_file(Path::new(path), max_file_bytes)
            }
            k if rest.is_none() => match k.parse::<u32>() {
                Ok(n) => Ok(QuerySizes::Fixed { size: n.clamp(MIN_SIZE, MAX_SIZE) }),
                Err(_) => Err(err(KNOWN)),
            },
            _ => Err(err(KNOWN)),
        }
    }

    /// Reads a file of sizes (whitespace or comma separated) through a bound of `max_bytes`.
    pub fn from_file(path: &Path, max_bytes: u64) -> Result<Self, SizeError> {
        let ferr = |why: String| SizeError::File { path: path.into(), why };
        // Through a bound, not by the size the file claims: /dev/zero claims none.
        let text = crate::io::read_text_bounded(path, max_bytes).map_err(|e| ferr(e.to_string()))?;
        let sizes = text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .enumerate()
            .map(|(i, t)| match t.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(clip_size(x)),
                Ok(_) => Err(ferr(format!(
                    "entry {}: `{}` is not a finite number of items",
                    i + 1,
                    t.escape_debug()
                ))),
                Err(_) => Err(ferr(format!("entry {}: `{}` is not a number", i + 1, t.escape_debug()))),
            })
            .collect::<Result<Vec<u32>, _>>()?;
        if sizes.is_empty() {
            return Err(ferr("holds no sizes".into()));
        }
        Ok(QuerySizes::File { path: path.display().to_string(), sizes })
    }
}

/// The distributions `parse` knows, for its error.
const KNOWN: &str = "known: lognormal[:MU:SIGMA], normal[:MEAN:SD], mlperf, fixed:N, file:PATH";

impl fmt::Display for QuerySizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuerySizes::Lognormal { mu, sigma } => write!(f, "lognormal:{mu}:{sigma}"),
            QuerySizes::Normal { mean, sd } => write!(f, "normal:{mean}:{sd}"),
            QuerySizes::Mlperf => write!(f, "mlperf"),
            QuerySizes::Fixed { size } => write!(f, "fixed:{size}"),
            QuerySizes::File { path, .. } => write!(f, "file:{path}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: u64 = 1 << 20;

    #[test]
    fn json_shape_is_the_recorded_one() {
        for (spec, json) in [
            ("lognormal", r#"{"distribution":"lognormal","mu":5.1,"sigma":0.2}"#),
            ("normal:165:16", r#"{"distribution":"normal","mean":165.0,"sd":16.0}"#),
            ("mlperf", r#"{"distribution":"mlperf"}"#),
            ("fixed:64", r#"{"distribution":"fixed","size":64}"#),
        ] {
            let d = QuerySizes::parse(spec, BOUND).unwrap();
            assert_eq!(serde_json::to_string(&d).unwrap(), json, "{spec}");
            assert_eq!(serde_json::from_str::<QuerySizes>(json).unwrap(), d);
        }
        assert!(serde_json::from_str::<QuerySizes>(r#"{"distribution":"fixed","size":1,"x":2}"#).is_err());
    }

    #[test]
    fn a_file_records_its_path_not_its_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sizes.txt");
        std::fs::write(&p, "10 20,0\n4000\n").unwrap();
        let d = QuerySizes::parse(&format!("file:{}", p.display()), BOUND).unwrap();
        let QuerySizes::File { sizes, .. } = &d else { panic!("{d:?}") };
        assert_eq!(sizes, &[10, 20, 1, 1024]);
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json, serde_json::json!({"distribution": "file", "path": p.display().to_string()}));
        let back: QuerySizes = serde_json::from_value(json).unwrap();
        assert_eq!(back, QuerySizes::File { path: p.display().to_string(), sizes: vec![] });
        assert!(
            serde_json::from_str::<QuerySizes>(r#"{"distribution":"file","path":"p","sizes":[1]}"#).is_err()
        );
    }

    #[test]
    fn display_parses_back_and_sizes_are_clipped() {
        for s in ["lognormal:5.1:0.2", "normal:500:2000", "mlperf", "fixed:64"] {
            let d = QuerySizes::parse(s, BOUND).unwrap();
            assert_eq!(QuerySizes::parse(&d.to_string(), BOUND).unwrap(), d, "{s}");
        }
        assert_eq!(QuerySizes::parse("64", BOUND).unwrap(), QuerySizes::Fixed { size: 64 });
        assert_eq!(QuerySizes::parse("fixed:5000", BOUND).unwrap(), QuerySizes::Fixed { size: 1024 });
        assert_eq!(QuerySizes::parse("fixed:0", BOUND).unwrap(), QuerySizes::Fixed { size: 1 });
        assert_eq!((clip_size(f64::NAN), clip_size(-3.0), clip_size(1e9)), (1, 1, 1024));
    }

    #[test]
    fn bad_files_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sizes.txt");
        std::fs::write(&p, "ten").unwrap();
        assert!(QuerySizes::from_file(&p, BOUND).unwrap_err().to_string().contains("`ten`"));
        for bad in ["NaN", "inf", "-inf"] {
            std::fs::write(&p, format!("10 {bad} 20")).unwrap();
            let e = QuerySizes::from_file(&p, BOUND).unwrap_err().to_string();
            assert!(e.contains("entry 2") && e.contains("not a finite number"), "{e}");
        }
        std::fs::write(&p, " ,\n").unwrap();
        assert!(QuerySizes::from_file(&p, BOUND).unwrap_err().to_string().contains("holds no sizes"));
        std::fs::write(&p, "1 2 3").unwrap();
        assert!(QuerySizes::from_file(&p, 3).unwrap_err().to_string().contains("larger than 3 bytes"));
    }

    #[test]
    fn bad_specs_are_clear() {
        for s in ["zipf", "normal:1", "lognormal:a:b", "fixed", "normal:1:-2", "mlperf:3"] {
            let e = QuerySizes::parse(s, BOUND).unwrap_err().to_string();
            assert!(e.contains(s), "{e}");
        }
        for s in ["\n", "x\ny", "fixed:\r"] {
            assert!(!QuerySizes::parse(s, BOUND).unwrap_err().to_string().contains(['\n', '\r']), "{s:?}");
        }
    }
}
