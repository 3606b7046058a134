//! Query sizes (candidate items per query, SPEC §4): `--sizes` parsed into the results schema's
//! [`QuerySizes`], the one type the load generator samples from and every document records. The
//! sampling lives here, as [`SampleSizes`], so that `rand` stays out of the schema crate.

pub use hercules_results::sizes::{clip_size, QuerySizes, SizeError, MAX_SIZE, MIN_SIZE, MLPERF_TABLE};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Normal};

/// Parses `--sizes`: `lognormal[:MU:SIGMA]`, `normal[:MEAN:SD]`, `mlperf`, `fixed:N` (or just `N`),
/// `file:PATH` (read through [`crate::limits::MAX_SIZES_FILE_BYTES`]).
pub fn parse(spec: &str) -> Result<QuerySizes, SizeError> {
    QuerySizes::parse(spec, crate::limits::MAX_SIZES_FILE_BYTES)
}

/// Drawing query sizes from a distribution.
pub trait SampleSizes {
    /// `n` sizes drawn with this seed, each in [[`MIN_SIZE`], [`MAX_SIZE`]].
    fn sample(&self, n: usize, seed: u64) -> Vec<u32>;
}

impl SampleSizes for QuerySizes {
    fn sample(&self, n: usize, seed: u64) -> Vec<u32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x5157_4553_5a45);
        match self {
            QuerySizes::Lognormal { mu, sigma } => match LogNormal::new(*mu, *sigma) {
                Ok(d) => (0..n).map(|_| clip_size(d.sample(&mut rng))).collect(),
                // Only a hand-built value gets here (parsing refuses a negative or non-finite sigma).
                Err(_) => vec![clip_size(mu.exp()); n],
            },
            QuerySizes::Normal { mean, sd } => match Normal::new(*mean, *sd) {
                Ok(d) => (0..n).map(|_| clip_size(d.sample(&mut rng))).collect(),
                Err(_) => vec![clip_size(*mean); n],
            },
            QuerySizes::Mlperf => (0..n)
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
            QuerySizes::Fixed { size } => vec![(*size).clamp(MIN_SIZE, MAX_SIZE); n],
            // A file distribution read back from a document holds no sizes (they are not recorded).
            QuerySizes::File { sizes, .. } if sizes.is_empty() => vec![MIN_SIZE; n],
            QuerySizes::File { sizes, .. } => sizes.iter().copied().cycle().take(n).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_record_the_parsed_value() {
        for (spec, want) in [
            ("lognormal", QuerySizes::Lognormal { mu: 5.1, sigma: 0.2 }),
            ("normal:165:16", QuerySizes::Normal { mean: 165.0, sd: 16.0 }),
            ("mlperf", QuerySizes::Mlperf),
            ("fixed:64", QuerySizes::Fixed { size: 64 }),
        ] {
            let got = parse(spec).unwrap();
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
        let (mean, median) = stats(&QuerySizes::default().sample(100_000, 1));
        assert!((median - 164.0).abs() <= 2.0, "median {median}");
        // exp(mu + sigma²/2) = 167.3
        assert!((mean - 167.3).abs() < 1.5, "mean {mean}");
    }

    #[test]
    fn normal_mean_and_median() {
        let (mean, median) = stats(&parse("normal").unwrap().sample(100_000, 2));
        assert!((mean - 165.0).abs() < 0.5, "mean {mean}");
        assert!((median - 165.0).abs() <= 1.0, "median {median}");
    }

    #[test]
    fn mlperf_table_mean_and_median() {
        let v = QuerySizes::Mlperf.sample(100_000, 3);
        let (mean, median) = stats(&v);
        // 0.1·100 + 0.6·200 + 0.1·300 + 0.05·(400+500+600+700) = 270
        assert!((mean - 270.0).abs() < 3.0, "mean {mean}");
        assert_eq!(median, 200.0);
        assert!(v.iter().all(|s| MLPERF_TABLE.iter().any(|(t, _)| t == s)));
    }

    #[test]
    fn clipping_to_1_1024() {
        let wide = parse("normal:500:2000").unwrap().sample(20_000, 4);
        assert!(wide.iter().all(|&s| (MIN_SIZE..=MAX_SIZE).contains(&s)));
        assert!(wide.contains(&1) && wide.contains(&1024));
        let big = parse("lognormal:9:0.1").unwrap().sample(100, 5);
        assert!(big.iter().all(|&s| s == 1024));
        assert_eq!(parse("fixed:5000").unwrap().sample(1, 0), vec![1024]);
        assert_eq!(parse("64").unwrap(), QuerySizes::Fixed { size: 64 });
        // Hand-built values the parser would refuse still sample inside the bounds.
        assert_eq!(QuerySizes::Fixed { size: 0 }.sample(2, 0), vec![1, 1]);
        assert_eq!(QuerySizes::Normal { mean: 64.0, sd: f64::NAN }.sample(1, 0), vec![64]);
    }

    #[test]
    fn file_sizes_replay_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sizes.txt");
        std::fs::write(&p, "10 20,0\n4000\n").unwrap();
        let d = parse(&format!("file:{}", p.display())).unwrap();
        assert_eq!(d.sample(6, 9), vec![10, 20, 1, 1024, 10, 20]);
        let bound = crate::limits::MAX_SIZES_FILE_BYTES;
        assert_eq!(QuerySizes::from_file(&p, bound).unwrap(), d);
        let read_back = QuerySizes::File { path: p.display().to_string(), sizes: Vec::new() };
        assert_eq!(read_back.sample(3, 9), vec![MIN_SIZE; 3]);
        std::fs::write(&p, "ten").unwrap();
        assert!(QuerySizes::from_file(&p, bound).unwrap_err().to_string().contains("`ten`"));
    }

    #[test]
    fn bad_specs_are_clear() {
        for s in ["zipf", "normal:1", "lognormal:a:b", "fixed", "normal:1:-2"] {
            let e = parse(s).unwrap_err().to_string();
            assert!(e.contains(s), "{e}");
        }
        for s in ["\n", "x\ny", "fixed:\r"] {
            assert!(!parse(s).unwrap_err().to_string().contains(['\n', '\r']), "{s:?}");
        }
    }
}
