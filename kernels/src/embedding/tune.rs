//! Choosing the software prefetch (distance and hint) on the machine at hand. The best setting is a
//! property of the memory system and differs between the hosts measured so far
//! (results/notebook-2026.md), so a DRAM-sized table is measured once with each candidate, interleaved
//! round by round so that drift spreads evenly, and the choice is kept in a per-host cache
//! ([`super::tune_cache`]) so the next run reuses it. The measurement runs on the pool the caller will
//! run on: a setting that is best on one core can lose badly when every core gathers at once (on a Zen 5
//! guest, `t1t0` won on one core and ran at 0.6x `nta` on two).

use super::tune_cache::{self, TuningCache};
use super::{embedding_bag_par, random_bags, Bags, EmbeddingOpts, EmbeddingTable, Indices, Pooling};
use super::{PrefetchHint, DEFAULT_HINT, DEFAULT_PREFETCH_DISTANCE, PREFETCH_MIN_TABLE_BYTES};
use crate::error::Result;
use crate::pool::PinnedPool;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Distances tried with each hint of [`HINTS`], in rows ahead (no software prefetch is tried too).
pub const DISTANCES: [usize; 6] = [8, 16, DEFAULT_PREFETCH_DISTANCE, 64, 96, 128];

/// Hints tried at each distance of [`DISTANCES`].
pub const HINTS: [PrefetchHint; 4] =
    [PrefetchHint::T1, PrefetchHint::T0, PrefetchHint::Nta, PrefetchHint::T1T0];

/// Bags of [`LOOKUPS`] lookups each worker pools per timed call.
const BAGS_PER_WORKER: usize = 1024;

/// Lookups per bag in the timed calls.
const LOOKUPS: usize = 80;

/// A candidate replaces the default only when its median time is at least this much lower, so that
/// noise does not flip the choice between runs.
const MIN_GAIN: f64 = 0.05;

/// One prefetch setting and its median time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CandidateTime {
    /// Rows ahead (0 = no software prefetch).
    pub distance: usize,
    /// Cache level the prefetch targets.
    pub hint: PrefetchHint,
    /// Median seconds per call over the rounds.
    pub median_s: f64,
}

/// Where a [`PrefetchTuning`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TuningSource {
    /// Measured in this process.
    Measured,
    /// Read from the per-host tuning cache (measured by an earlier run on this host).
    Cached,
    /// Not measured: the table stays in cache, where software prefetch only costs instructions.
    CacheResident,
    /// Fixed by the user (e.g. `--prefetch`).
    Fixed,
}

/// What [`tune_prefetch`] measured and chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefetchTuning {
    /// The chosen distance (0 = no software prefetch).
    pub distance: usize,
    /// The chosen hint.
    pub hint: PrefetchHint,
    /// How the choice was made.
    pub source: TuningSource,
    /// The default setting's median time over the chosen one's, from the confirming rounds of the two
    /// alone (1 when the default was kept; absent when nothing was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gain_over_default: Option<f64>,
    /// Every candidate's median time, as measured (also when read back from the cache).
    #[serde(default)]
    pub medians: Vec<CandidateTime>,
    /// When the measurement was made, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_at_unix: Option<u64>,
    /// Why an existing tuning cache was not used (corrupt, another host's, unwritable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl PrefetchTuning {
    /// A setting chosen without measuring.
    pub fn fixed(distance: usize, hint: PrefetchHint, source: TuningSource) -> Self {
        Self {
            distance,
            hint,
            source,
            gain_over_default: None,
            medians: Vec::new(),
            measured_at_unix: None,
            warning: None,
        }
    }

    /// `base` with this prefetch setting.
    pub fn apply(&self, base: EmbeddingOpts) -> EmbeddingOpts {
        EmbeddingOpts { prefetch_distance: self.distance, prefetch_hint: self.hint, ..base }
    }
}

impl std::fmt::Display for PrefetchTuning {
    /// `32 rows ahead, T1 (Measured, 1.00x the default)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} rows ahead, {:?} ({:?}", self.distance, self.hint, self.source)?;
        if let Some(g) = self.gain_over_default {
            write!(f, ", {g:.2}x the default")?;
        }
        f.write_str(")")
    }
}

/// Every candidate setting: no prefetch, then each of [`DISTANCES`] with each of [`HINTS`].
pub fn candidates() -> Vec<(usize, PrefetchHint)> {
    let mut c = vec![(0, DEFAULT_HINT)];
    c.extend(DISTANCES.iter().flat_map(|&d| HINTS.iter().map(move |&h| (d, h))));
    c
}

/// Measures every [`candidates`] setting on `table` on every worker of `pool` at once (`rounds`
/// interleaved rounds of one call of [`BAGS_PER_WORKER`] bags × [`LOOKUPS`] fresh uniform lookups per worker). The fastest
/// replaces the default only when a second, fresh set of `rounds` rounds of the two alone confirms it
/// at least 5% faster: the fastest of 25 noisy medians is faster than it really is, and the confirming
/// rounds are not. Tables small enough to stay in cache get no prefetch without measuring.
pub fn tune_prefetch(
    table: &EmbeddingTable,
    base: EmbeddingOpts,
    rounds: usize,
    pool: &PinnedPool,
) -> Result<PrefetchTuning> {
    if stays_in_cache(table) {
        return Ok(PrefetchTuning::fixed(0, DEFAULT_HINT, TuningSource::CacheResident));
    }
    let cands = candidates();
    let medians: Vec<CandidateTime> = time_settings(table, base, &cands, rounds, 0, pool)?
        .into_iter()
        .zip(&cands)
        .map(|(median_s, &(distance, hint))| CandidateTime { distance, hint, median_s })
        .collect();
    let (mut distance, mut hint, mut gain) = choose(&medians);
    if (distance, hint) != (DEFAULT_PREFETCH_DISTANCE, DEFAULT_HINT) {
        let pair = [(distance, hint), (DEFAULT_PREFETCH_DISTANCE, DEFAULT_HINT)];
        let t = time_settings(table, base, &pair, rounds, 1 << 20, pool)?;
        let confirmed = t[1] / t[0];
        gain = Some(confirmed);
        if confirmed < 1.0 / (1.0 - MIN_GAIN) {
            (distance, hint, gain) = (DEFAULT_PREFETCH_DISTANCE, DEFAULT_HINT, Some(1.0));
        }
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs());
    Ok(PrefetchTuning {
        distance,
        hint,
        source: TuningSource::Measured,
        gain_over_default: gain,
        medians,
        measured_at_unix: now,
        warning: None,
    })
}

/// Whether `table` is small (or empty) enough that software prefetch is not worth measuring.
fn stays_in_cache(table: &EmbeddingTable) -> bool {
    table.bytes() <= PREFETCH_MIN_TABLE_BYTES || table.rows() == 0
}

/// Median seconds per call of each setting over `rounds` interleaved rounds (after one warm-up
/// round), each call on a fresh batch (seeded from `seed0`) so none finds its rows in cache, split
/// over `pool`'s workers.
fn time_settings(
    table: &EmbeddingTable,
    base: EmbeddingOpts,
    settings: &[(usize, PrefetchHint)],
    rounds: usize,
    seed0: u64,
    pool: &PinnedPool,
) -> Result<Vec<f64>> {
    // Calls of ~80k lookups per worker, near a benchmark batch: with calls of 10k (256 bags of 40) the
    // tuner kept a default that ran at 0.75 of the row-touch ceiling in batches of 2048 bags of 80
    // (fp32 D = 64 on a Zen 5 guest), where 64 rows ahead with nta ran at 0.96.
    let (batch, lookups) = (BAGS_PER_WORKER * pool.threads(), LOOKUPS.min(table.rows()));
    let mut out = vec![0.0f32; batch * table.dim()];
    let mut times = vec![Vec::with_capacity(rounds); settings.len()];
    for r in 0..=rounds.max(1) {
        for (c, &(distance, hint)) in settings.iter().enumerate() {
            let seed = seed0 + (r * settings.len() + c) as u64;
            let (idx, offsets) = random_bags(table.rows(), batch, lookups, seed);
            let opts = EmbeddingOpts { prefetch_distance: distance, prefetch_hint: hint, ..base };
            let t = Instant::now();
            embedding_bag_par(
                pool,
                table,
                Indices::U32(&idx),
                Bags::Offsets(&offsets),
                None,
                Pooling::Sum,
                &mut out,
                &opts,
            )?;
            if r > 0 {
                times[c].push(t.elapsed().as_secs_f64());
            }
        }
    }
    Ok(times
        .into_iter()
        .map(|mut ts| {
            ts.sort_by(f64::total_cmp);
            ts[ts.len() / 2]
        })
        .collect())
}

/// As [`tune_prefetch`], through the per-host cache at `cache` (none: always measure): a cached
/// choice for this host, this table's shape class and this many threads is reused; otherwise the
/// measurement is made and stored. A corrupt cache, one written on another host, or one that cannot be written is reported in
/// [`PrefetchTuning::warning`] and measured over, never an error.
pub fn tune_prefetch_cached(
    table: &EmbeddingTable,
    base: EmbeddingOpts,
    rounds: usize,
    pool: &PinnedPool,
    cache: Option<&Path>,
) -> Result<PrefetchTuning> {
    let Some(path) = cache.filter(|_| !stays_in_cache(table)) else {
        return tune_prefetch(table, base, rounds, pool);
    };
    let key = format!("{}-{}t", tune_cache::shape_class(table, base.isa), pool.threads());
    let (mut file, mut warning) = TuningCache::load(path);
    if let Some(hit) = file.get(&key) {
        return Ok(PrefetchTuning { source: TuningSource::Cached, warning, ..hit.clone() });
    }
    let mut tuning = tune_prefetch(table, base, rounds, pool)?;
    file.insert(key, tuning.clone());
    if let Err(e) = file.save(path) {
        warning.get_or_insert(e);
    }
    tuning.warning = warning;
    Ok(tuning)
}

/// The fastest setting and its gain over the default, or the default (gain 1) unless the fastest beats
/// it by [`MIN_GAIN`].
fn choose(medians: &[CandidateTime]) -> (usize, PrefetchHint, Option<f64>) {
    let default = medians.iter().find(|m| m.distance == DEFAULT_PREFETCH_DISTANCE && m.hint == DEFAULT_HINT);
    let best = medians.iter().min_by(|a, b| a.median_s.total_cmp(&b.median_s));
    match (best, default) {
        (Some(b), Some(d)) if b.median_s < d.median_s * (1.0 - MIN_GAIN) => {
            (b.distance, b.hint, Some(d.median_s / b.median_s))
        }
        (_, Some(_)) => (DEFAULT_PREFETCH_DISTANCE, DEFAULT_HINT, Some(1.0)),
        (Some(b), None) => (b.distance, b.hint, None),
        (None, None) => (DEFAULT_PREFETCH_DISTANCE, DEFAULT_HINT, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::DType;

    fn one() -> PinnedPool {
        PinnedPool::with_threads(1).unwrap()
    }

    fn times(v: &[f64]) -> Vec<CandidateTime> {
        candidates()
            .into_iter()
            .zip(v.iter().copied().chain(std::iter::repeat(1.0)))
            .map(|((distance, hint), median_s)| CandidateTime { distance, hint, median_s })
            .collect()
    }

    #[test]
    fn the_default_stays_unless_clearly_beaten() {
        let def = (DEFAULT_PREFETCH_DISTANCE, DEFAULT_HINT, Some(1.0));
        assert_eq!(choose(&times(&[])), def);
        assert_eq!(choose(&times(&[0.97])), def);
        assert_eq!(choose(&times(&[0.7, 0.9])), (0, DEFAULT_HINT, Some(1.0 / 0.7)));
        // Candidate 2 is distance 8 with the second hint.
        let (d, h, g) = choose(&times(&[1.2, 1.0, 0.8]));
        assert_eq!((d, h), (DISTANCES[0], HINTS[1]));
        assert!((g.unwrap() - 1.25).abs() < 1e-12);
    }

    #[test]
    fn cache_sized_tables_are_not_measured() {
        let t = EmbeddingTable::random(1000, 16, DType::F32, 1).unwrap();
        let r = tune_prefetch(&t, EmbeddingOpts::default(), 3, &one()).unwrap();
        assert_eq!(r, PrefetchTuning::fixed(0, DEFAULT_HINT, TuningSource::CacheResident));
    }

    #[test]
    fn a_large_table_is_measured_at_every_candidate() {
        // 40 MiB of fp32 rows, over the cache-sized limit.
        let t = EmbeddingTable::random(40 << 14, 16, DType::F32, 2).unwrap();
        assert!(t.bytes() > PREFETCH_MIN_TABLE_BYTES);
        let r = tune_prefetch(&t, EmbeddingOpts::default(), 3, &one()).unwrap();
        let got: Vec<_> = r.medians.iter().map(|m| (m.distance, m.hint)).collect();
        assert_eq!(got, candidates());
        assert!(r.medians.iter().all(|m| m.median_s > 0.0));
        assert!(got.contains(&(r.distance, r.hint)));
        assert_eq!(r.source, TuningSource::Measured);
        assert!(r.gain_over_default.unwrap() >= 1.0);
    }

    #[test]
    fn the_cache_is_reused_and_bad_caches_are_measured_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("tuning.json");
        let t = EmbeddingTable::random(40 << 14, 16, DType::F32, 3).unwrap();
        let base = EmbeddingOpts::default();
        let pool = one();
        let first = tune_prefetch_cached(&t, base, 2, &pool, Some(&path)).unwrap();
        assert_eq!((first.source, first.warning.as_deref()), (TuningSource::Measured, None));
        let second = tune_prefetch_cached(&t, base, 2, &pool, Some(&path)).unwrap();
        assert_eq!(second.source, TuningSource::Cached);
        assert_eq!(
            (second.distance, second.hint, &second.medians),
            (first.distance, first.hint, &first.medians)
        );
        // The choice is per thread count: two workers gathering at once are measured anew.
        let key = format!("{}-1t", tune_cache::shape_class(&t, base.isa));
        assert!(std::fs::read_to_string(&path).unwrap().contains(&format!("\"{key}\"")));
        if let Ok(two) = PinnedPool::with_threads(2) {
            assert_eq!(
                tune_prefetch_cached(&t, base, 2, &two, Some(&path)).unwrap().source,
                TuningSource::Measured
            );
            assert_eq!(
                tune_prefetch_cached(&t, base, 2, &two, Some(&path)).unwrap().source,
                TuningSource::Cached
            );
        }

        std::fs::write(&path, "{ not json").unwrap();
        let r = tune_prefetch_cached(&t, base, 2, &pool, Some(&path)).unwrap();
        assert_eq!(r.source, TuningSource::Measured);
        let w = r.warning.unwrap();
        assert!(w.contains("is not a valid tuning cache") && w.contains("re-measuring"), "{w}");
        assert_eq!(
            tune_prefetch_cached(&t, base, 2, &pool, Some(&path)).unwrap().source,
            TuningSource::Cached
        );

        let text = std::fs::read_to_string(&path).unwrap();
        let host = tune_cache::host_fingerprint();
        std::fs::write(&path, text.replace(&serde_json::to_string(&host).unwrap(), "\"another machine\""))
            .unwrap();
        let r = tune_prefetch_cached(&t, base, 2, &pool, Some(&path)).unwrap();
        assert_eq!(r.source, TuningSource::Measured);
        let w = r.warning.unwrap();
        assert!(w.contains("written on another host (another machine)"), "{w}");
        assert_eq!(
            tune_prefetch_cached(&t, base, 2, &pool, Some(&path)).unwrap().source,
            TuningSource::Cached
        );
    }
}
