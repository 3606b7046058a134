//! Query sizes (candidate items per query, SPEC §4): lognormal, normal, the MLPerf quantile table,
//! fixed, or a file of sizes; always clipped to [1, 1024].

use hercules_results::table::QuerySizes;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};
use std::fmt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Smallest query.
pub const MIN_SIZE: u32 = 1;
/// Largest query.
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

/// A query-size distribution, with a file's sizes loaded; results record it as
/// [`QuerySizes`] (see [`SizeDist::to_schema`]).
#[derive(Debug, Clone, PartialEq)]
pub enum SizeDist {
    /// exp(Normal(mu, sigma)); the default mu 5.1, sigma 0.2 has median 164.
    Lognormal {
        /// Mean of the log.
        mu: f64,
        /// Standard deviation of the log.
        sigma: f64,
    },
    /// Normal(mean, sd), rounded.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
    },
    /// The MLPerf table ([`MLPERF_TABLE`]).
    Mlperf,
    /// Every query this size.
    Fixed {
        /// Items per query.
        size: u32,
    },
    /// Sizes read from a file (whitespace or comma separated), replayed in order and repeated.
    File {
        /// Where they came from.
        path: PathBuf,
        /// The sizes (already clipped).
        sizes: Vec<u32>,
    },
}

impl Default for SizeDist {
    fn default() -> Self {
        SizeDist::Lognormal { mu: 5.1, sigma: 0.2 }
    }
}

fn clip(x: f64) -> u32 {
    if x.is_nan() {
        return MIN_SIZE;
    }
    x.round().clamp(MIN_SIZE as f64, MAX_SIZE as f64) as u32
}

impl SizeDist {
    /// The distribution as the results schema records it.
    pub fn to_schema(&self) -> QuerySizes {
        match self {
            SizeDist::Lognormal { mu, sigma } => QuerySizes::Lognormal { mu: *mu, sigma: *sigma },
            SizeDist::Normal { mean, sd } => QuerySizes::Normal { mean: *mean, sd: *sd },
            SizeDist::Mlperf => QuerySizes::Mlperf,
            SizeDist::Fixed { size } => QuerySizes::Fixed { size: *size as usize },
            SizeDist::File { path, .. } => QuerySizes::File { path: path.display().to_string() },
        }
    }

    /// Parses `lognormal[:MU:SIGMA]`, `normal[:MEAN:SD]`, `mlperf`, `fixed:N` (or just `N`),
    /// `file:PATH`.
    pub fn parse(spec: &str) -> Result<Self, SizeError> {
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
                Ok(SizeDist::Lognormal { mu, sigma })
            }
            "normal" => {
                let (mean, sd) = two((165.0, 16.0))?;
                Ok(SizeDist::Normal { mean, sd })
            }
            "mlperf" if rest.is_none() => Ok(SizeDist::Mlperf),
            "fixed" => {
                let n = rest
                    .and_then(|r| r.trim().parse::<u32>().ok())
                    .ok_or_else(|| err("fixed needs a size"))?;
                Ok(SizeDist::Fixed { size: n.clamp(MIN_SIZE, MAX_SIZE) })
            }
            "file" => {
                let path = rest.ok_or_else(|| err("file needs a path"))?;
                Self::from_file(Path::new(path))
            }
            k if k.parse::<u32>().is_ok() && rest.is_none() => {
                Ok(SizeDist::Fixed { size: k.parse::<u32>().unwrap_or(1).clamp(MIN_SIZE, MAX_SIZE) })
            }
            _ => Err(err("known: lognormal[:MU:SIGMA], normal[:MEAN:SD], mlperf, fixed:N, file:PATH")),
        }
    }

    /// Reads a file of sizes.
    pub fn from_file(path: &Path) -> Result<Self, SizeError> {
        let ferr = |why: String| SizeError::File { path: path.into(), why };
        // Through a bound, not by the size the file claims: /dev/zero claims none.
        let text = hercules_results::read_text_bounded(path, crate::limits::MAX_SIZES_FILE_BYTES)
            .map_err(|e| ferr(e.to_string()))?;
        let sizes = text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|t| !t.is_empty())
            .enumerate()
            .map(|(i, t)| match t.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(clip(x)),
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
        Ok(SizeDist::File { path: path.into(), sizes })
    }

    /// `n` sizes drawn with this seed.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<u32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5157_4553_5a45);
        match self {
            SizeDist::Lognormal { mu, sigma } => {
                let d = LogNormal::new(*mu, *sigma).expect("sigma checked non-negative");
                (0..n).map(|_| clip(d.sample(&mut rng))).collect()
            }
            SizeDist::Normal { mean, sd } => {
                let d = Normal::new(*mean, *sd).expect("sd checked non-negative");
                (0..n).map(|_| clip(d.sample(&mut rng))).collect()
            }
            SizeDist::Mlperf => (0..n)
                .map(|_| {
                    let u: f64 = rng.gen();
                    let mut acc = 0.0;
                    for &(size, p) in MLPERF_TABLE {
                        acc += p;
                        if u < acc {
                            return size;
                        }
                    }
                    MLPERF_TABLE[MLPERF_TABLE.len() - 1].0
                })
                .collect(),
            SizeDist::Fixed { size } => vec![*size; n],
            SizeDist::File { sizes, .. } => sizes.iter().copied().cycle().take(n).collect(),
        }
    }
}

impl fmt::Display for SizeDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SizeDist::Lognormal { mu, sigma } => write!(f, "lognormal:{mu}:{sigma}"),
            SizeDist::Normal { mean, sd } => write!(f, "normal:{mean}:{sd}"),
            SizeDist::Mlperf => write!(f, "mlperf"),
            SizeDist::Fixed { size } => write!(f, "fixed:{size}"),
            SizeDist::File { path, .. } => write!(f, "file:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_record_the_schema_shape() {
        for (spec, want) in [
            ("lognormal", QuerySizes::Lognormal { mu: 5.1, sigma: 0.2 }),
            ("normal:165:16", QuerySizes::Normal { mean: 165.0, sd: 16.0 }),
            ("mlperf", QuerySizes::Mlperf),
            ("fixed:64", QuerySizes::Fixed { size: 64 }),
        ] {
            let got = SizeDist::parse(spec).unwrap().to_schema();
            assert_eq!(got, want, "{spec}");
            let json = serde_json::to_value(&got).unwrap();
            assert!(json.get("distribution").is_some(), "{json}");
            assert_eq!(serde_json::from_value::<QuerySizes>(json).unwrap(), want);
        }
    }

    fn stats(v: &[u32]) -> (f64, f64) {
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let mut s = v.to_vec();
        s.sort_unstable();
        (mean, s[s.len() / 2] as f64)
    }

    #[test]
    fn lognormal_median_is_164() {
        let (mean, median) = stats(&SizeDist::default().sample(100_000, 1));
        assert!((median - 164.0).abs() <= 2.0, "median {median}");
        // exp(mu + sigma²/2) = 167.3
        assert!((mean - 167.3).abs() < 1.5, "mean {mean}");
    }

    #[test]
    fn normal_mean_and_median() {
        let (mean, median) = stats(&SizeDist::parse("normal").unwrap().sample(100_000, 2));
        assert!((mean - 165.0).abs() < 0.5, "mean {mean}");
        assert!((median - 165.0).abs() <= 1.0, "median {median}");
    }

    #[test]
    fn mlperf_table_mean_and_median() {
        let v = SizeDist::Mlperf.sample(100_000, 3);
        let (mean, median) = stats(&v);
        // 0.1·100 + 0.6·200 + 0.1·300 + 0.05·(400+500+600+700) = 270
        assert!((mean - 270.0).abs() < 3.0, "mean {mean}");
        assert_eq!(median, 200.0);
        assert!(v.iter().all(|s| MLPERF_TABLE.iter().any(|(t, _)| t == s)));
    }

    #[test]
    fn clipping_to_1_1024() {
        let wide = SizeDist::parse("normal:500:2000").unwrap().sample(20_000, 4);
        assert!(wide.iter().all(|&s| (MIN_SIZE..=MAX_SIZE).contains(&s)));
        assert!(wide.contains(&1) && wide.contains(&1024));
        let big = SizeDist::parse("lognormal:9:0.1").unwrap().sample(100, 5);
        assert!(big.iter().all(|&s| s == 1024));
        assert_eq!(SizeDist::parse("fixed:5000").unwrap().sample(1, 0), vec![1024]);
        assert_eq!(SizeDist::parse("64").unwrap(), SizeDist::Fixed { size: 64 });
    }

    #[test]
    fn file_sizes_replay_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sizes.txt");
        std::fs::write(&p, "10 20,0\n4000\n").unwrap();
        let d = SizeDist::parse(&format!("file:{}", p.display())).unwrap();
        assert_eq!(d.sample(6, 9), vec![10, 20, 1, 1024, 10, 20]);
        std::fs::write(&p, "ten").unwrap();
        assert!(SizeDist::from_file(&p).unwrap_err().to_string().contains("`ten`"));
        for bad in ["NaN", "inf", "-inf"] {
            std::fs::write(&p, format!("10 {bad} 20")).unwrap();
            let e = SizeDist::from_file(&p).unwrap_err().to_string();
            assert!(e.contains("entry 2") && e.contains("not a finite number"), "{e}");
        }
    }

    #[test]
    fn bad_specs_are_clear() {
        for s in ["zipf", "normal:1", "lognormal:a:b", "fixed", "normal:1:-2"] {
            let e = SizeDist::parse(s).unwrap_err().to_string();
            assert!(e.contains(s), "{e}");
        }
        for s in ["\n", "x\ny", "fixed:\r"] {
            assert!(!SizeDist::parse(s).unwrap_err().to_string().contains(['\n', '\r']), "{s:?}");
        }
    }
}
