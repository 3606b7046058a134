//! Query inputs: dense features U[0,1) and per-table bags of indices drawn uniformly (unique within a
//! bag), from a Zipf law, or from a trace file; and a pool of pre-generated sets so that input generation
//! is never timed.

use crate::error::{ModelError, Result};
use crate::spec::ModelSpec;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use std::path::Path;
use std::sync::Arc;

/// A table's indices, 32-bit where the table allows (half the index bytes to stream).
#[derive(Debug, Clone, PartialEq)]
pub enum IndexBuf {
    /// Tables of at most 2^32 rows.
    U32(Vec<u32>),
    /// Larger tables.
    U64(Vec<u64>),
}

impl IndexBuf {
    /// Number of indices.
    pub fn len(&self) -> usize {
        match self {
            IndexBuf::U32(v) => v.len(),
            IndexBuf::U64(v) => v.len(),
        }
    }
    /// True when there are no indices.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Index `i` widened.
    pub fn get(&self, i: usize) -> u64 {
        match self {
            IndexBuf::U32(v) => u64::from(v[i]),
            IndexBuf::U64(v) => v[i],
        }
    }
    fn from_u64(rows: u64, v: Vec<u64>) -> Self {
        if rows <= 1 << 32 {
            IndexBuf::U32(v.into_iter().map(|x| x as u32).collect())
        } else {
            IndexBuf::U64(v)
        }
    }
}

/// One table's bags for a batch: `offsets` has batch + 1 entries; `lengths[b]` = bag b's size.
#[derive(Debug, Clone, PartialEq)]
pub struct TableInput {
    /// All bags' indices back to back.
    pub indices: IndexBuf,
    /// Start of each bag, then the total.
    pub offsets: Vec<usize>,
    /// Size of each bag (what a sub-range of the batch is looked up with).
    pub lengths: Vec<u32>,
}

/// The inputs of one batch.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSet {
    /// Samples in the batch.
    pub batch: usize,
    /// batch × dense_features, row-major.
    pub dense: Vec<f32>,
    /// One entry per table, in global table order.
    pub tables: Vec<TableInput>,
}

impl InputSet {
    /// Copies samples `start..start + len` into `dst`, reusing its buffers, so a server can cut a
    /// sub-batch of any size out of pre-generated sets without allocating. `dense_width` is the
    /// model's dense features per sample.
    pub fn window_into(&self, start: usize, len: usize, dense_width: usize, dst: &mut InputSet) {
        let end = (start + len).min(self.batch);
        let start = start.min(end);
        dst.batch = end - start;
        dst.dense.clear();
        dst.dense.extend_from_slice(&self.dense[start * dense_width..end * dense_width]);
        dst.tables.resize_with(self.tables.len(), || TableInput {
            indices: IndexBuf::U32(Vec::new()),
            offsets: Vec::new(),
            lengths: Vec::new(),
        });
        for (src, d) in self.tables.iter().zip(dst.tables.iter_mut()) {
            let (lo, hi) = (src.offsets[start], src.offsets[end]);
            match (&src.indices, &mut d.indices) {
                (IndexBuf::U32(a), IndexBuf::U32(b)) => {
                    b.clear();
                    b.extend_from_slice(&a[lo..hi]);
                }
                (IndexBuf::U64(a), IndexBuf::U64(b)) => {
                    b.clear();
                    b.extend_from_slice(&a[lo..hi]);
                }
                (IndexBuf::U32(a), b) => *b = IndexBuf::U32(a[lo..hi].to_vec()),
                (IndexBuf::U64(a), b) => *b = IndexBuf::U64(a[lo..hi].to_vec()),
            }
            d.offsets.clear();
            d.offsets.extend(src.offsets[start..=end].iter().map(|o| o - lo));
            d.lengths.clear();
            d.lengths.extend_from_slice(&src.lengths[start..end]);
        }
    }
}

impl InputSet {
    /// Builds an input set from plain arrays, checking every shape and index against `spec`.
    pub fn new(
        spec: &ModelSpec,
        batch: usize,
        dense: Vec<f32>,
        tables: Vec<(Vec<u64>, Vec<usize>)>,
    ) -> Result<Self> {
        let err = |msg: String| ModelError::Input { model: spec.name.clone(), msg };
        if dense.len() != batch * spec.dense_features {
            return Err(err(format!(
                "dense has {} values, expected batch {batch} × {} features",
                dense.len(),
                spec.dense_features
            )));
        }
        let groups = spec.table_groups();
        if tables.len() != groups.len() {
            return Err(err(format!("{} tables given, the model has {}", tables.len(), groups.len())));
        }
        let mut out = Vec::with_capacity(tables.len());
        for (t, (idx, off)) in tables.into_iter().enumerate() {
            let rows = spec.tables[groups[t]].rows;
            if off.len() != batch + 1 || off[0] != 0 || off[batch] != idx.len() {
                return Err(err(format!(
                    "table {t}: offsets must be batch + 1 = {} entries from 0 to {}",
                    batch + 1,
                    idx.len()
                )));
            }
            if let Some(b) = off.windows(2).position(|w| w[1] < w[0]) {
                return Err(err(format!("table {t}: offsets decrease at bag {b}")));
            }
            if let Some(p) = idx.iter().position(|&i| i >= rows) {
                return Err(err(format!(
                    "table {t}: index {} at position {p} is not below {rows} rows",
                    idx[p]
                )));
            }
            let lengths = off.windows(2).map(|w| (w[1] - w[0]) as u32).collect();
            out.push(TableInput { indices: IndexBuf::from_u64(rows, idx), offsets: off, lengths });
        }
        Ok(Self { batch, dense, tables: out })
    }
}

/// How indices are drawn.
#[derive(Debug, Clone)]
pub enum IndexDist {
    /// Uniform over the table, unique within a bag.
    Uniform,
    /// Zipf with this exponent over ranks; rank r maps to a scattered row so hot rows are not adjacent.
    Zipf {
        /// The exponent s (> 0; 1.0 ≈ typical web popularity).
        exponent: f64,
    },
    /// Bags replayed from a trace file.
    Trace(Arc<Trace>),
}

/// Bags read from a trace file: one bag per line, `TABLE IDX IDX ...`; `#` starts a comment. Bags of a
/// table are replayed in file order, cycling; indices are taken modulo the table's rows so a full-size
/// trace also drives a scaled model.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Bags per global table index.
    pub bags: Vec<Vec<Vec<u64>>>,
    /// Where it came from.
    pub path: String,
}

impl Trace {
    /// Reads a trace file.
    pub fn read(path: &Path) -> Result<Self> {
        let p = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| ModelError::Io { path: p.clone(), source })?;
        Self::parse(&text, &p)
    }

    /// Parses trace text (`path` only names it in errors).
    pub fn parse(text: &str, path: &str) -> Result<Self> {
        let mut bags: Vec<Vec<Vec<u64>>> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |msg: String| ModelError::Trace { path: path.into(), line: n + 1, msg };
            let mut words = line.split_whitespace();
            let t: usize = words
                .next()
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| err("a line starts with the table number".into()))?;
            let bag = words
                .map(|w| w.parse::<u64>().map_err(|_| err(format!("{w:?} is not an index"))))
                .collect::<Result<Vec<u64>>>()?;
            if bag.is_empty() {
                return Err(err(format!("bag of table {t} has no indices")));
            }
            if t >= bags.len() {
                bags.resize(t + 1, Vec::new());
            }
            bags[t].push(bag);
        }
        Ok(Self { bags, path: path.into() })
    }
}

/// Generates input sets for one model and batch size.
#[derive(Debug)]
pub struct InputGen {
    dist: IndexDist,
    rng: StdRng,
    /// Next bag per table when replaying a trace.
    cursor: Vec<usize>,
}

/// Multiplier that scatters Zipf ranks over rows (a prime, so coprime to any smaller row count).
const SCATTER: u64 = 2_654_435_761;

impl InputGen {
    /// A seeded generator.
    pub fn new(dist: IndexDist, seed: u64) -> Self {
        Self { dist, rng: StdRng::seed_from_u64(seed), cursor: Vec::new() }
    }

    /// One input set of `batch` samples for `spec`.
    pub fn generate(&mut self, spec: &ModelSpec, batch: usize) -> Result<InputSet> {
        let dense: Vec<f32> = (0..batch * spec.dense_features).map(|_| self.rng.gen::<f32>()).collect();
        let groups = spec.table_groups();
        self.cursor.resize(groups.len(), 0);
        let mut tables = Vec::with_capacity(groups.len());
        for (t, &g) in groups.iter().enumerate() {
            let (rows, lookups) = (spec.tables[g].rows, spec.tables[g].lookups);
            let mut idx = Vec::with_capacity(batch * lookups);
            let mut off = Vec::with_capacity(batch + 1);
            off.push(0);
            for _ in 0..batch {
                self.bag(spec, t, rows, lookups, &mut idx)?;
                off.push(idx.len());
            }
            tables.push((idx, off));
        }
        InputSet::new(spec, batch, dense, tables)
    }

    fn bag(
        &mut self,
        spec: &ModelSpec,
        t: usize,
        rows: u64,
        lookups: usize,
        out: &mut Vec<u64>,
    ) -> Result<()> {
        match &self.dist {
            IndexDist::Uniform => uniform_unique(&mut self.rng, rows, lookups, out),
            IndexDist::Zipf { exponent } => {
                let zipf = Zipf::new(rows, *exponent).map_err(|e| ModelError::Input {
                    model: spec.name.clone(),
                    msg: format!("zipf exponent {exponent}: {e}"),
                })?;
                let start = out.len();
                let scatter = if rows.is_multiple_of(SCATTER) { 1 } else { SCATTER };
                // Rejection of repeats keeps bags unique; after many tries (extreme exponents on tiny
                // tables) the rest of the bag is filled uniformly.
                let mut tries = 0;
                while out.len() - start < lookups && tries < 64 * lookups {
                    tries += 1;
                    let rank = zipf.sample(&mut self.rng) as u64 - 1;
                    let row = ((rank as u128 * scatter as u128) % rows as u128) as u64;
                    if !out[start..].contains(&row) {
                        out.push(row);
                    }
                }
                while out.len() - start < lookups {
                    let row = self.rng.gen_range(0..rows);
                    if !out[start..].contains(&row) {
                        out.push(row);
                    }
                }
            }
            IndexDist::Trace(trace) => {
                let bags = trace.bags.get(t).filter(|b| !b.is_empty()).ok_or_else(|| ModelError::Trace {
                    path: trace.path.clone(),
                    line: 0,
                    msg: format!("no bags for table {t} of {}", spec.name),
                })?;
                let bag = &bags[self.cursor[t] % bags.len()];
                self.cursor[t] += 1;
                out.extend(bag.iter().map(|&i| i % rows));
            }
        }
        Ok(())
    }
}

/// Appends `k` distinct rows of `0..rows` (k ≤ rows, checked by spec validation and scaling); rand
/// picks Floyd's algorithm, rejection or a partial shuffle by the ratio of k to rows.
fn uniform_unique(rng: &mut StdRng, rows: u64, k: usize, out: &mut Vec<u64>) {
    out.extend(rand::seq::index::sample(rng, rows as usize, k).into_iter().map(|i| i as u64));
}

/// Pre-generated input sets that queries draw from in turn.
#[derive(Debug)]
pub struct InputPool {
    sets: Vec<InputSet>,
    next: usize,
}

impl InputPool {
    /// `count` sets of `batch` samples each.
    pub fn new(spec: &ModelSpec, batch: usize, count: usize, dist: IndexDist, seed: u64) -> Result<Self> {
        let mut gen = InputGen::new(dist, seed);
        let sets = (0..count.max(1)).map(|_| gen.generate(spec, batch)).collect::<Result<Vec<_>>>()?;
        Ok(Self { sets, next: 0 })
    }

    /// The next set, cycling.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> &InputSet {
        let i = self.next;
        self.next = (self.next + 1) % self.sets.len();
        &self.sets[i]
    }

    /// The set the last [`InputPool::next`] returned (the first before any call).
    pub fn current(&self) -> &InputSet {
        &self.sets[(self.next + self.sets.len() - 1) % self.sets.len()]
    }

    /// Number of sets.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Never true (a pool holds at least one set).
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Scale;

    #[test]
    fn window_equals_the_samples_it_cuts() {
        let spec = crate::zoo::builtin("dlrm-rmc1")
            .expect("in the zoo")
            .and_then(|s| s.scaled(Scale { rows_scale: 0.001, max_rows: None }))
            .unwrap();
        let full = InputPool::new(&spec, 10, 1, IndexDist::Uniform, 3).unwrap().next().clone();
        let mut w = InputSet { batch: 0, dense: vec![], tables: vec![] };
        for (start, len) in [(0, 10), (3, 4), (9, 1), (7, 5)] {
            full.window_into(start, len, spec.dense_features, &mut w);
            let end = (start + len).min(10);
            assert_eq!(w.batch, end - start);
            assert_eq!(w.dense, full.dense[start * spec.dense_features..end * spec.dense_features]);
            for (a, b) in full.tables.iter().zip(&w.tables) {
                assert_eq!(b.offsets.len(), w.batch + 1);
                assert_eq!(b.lengths, a.lengths[start..end]);
                for s in 0..w.batch {
                    let got: Vec<u64> = (b.offsets[s]..b.offsets[s + 1]).map(|i| b.indices.get(i)).collect();
                    let want: Vec<u64> =
                        (a.offsets[start + s]..a.offsets[start + s + 1]).map(|i| a.indices.get(i)).collect();
                    assert_eq!(got, want);
                }
            }
        }
    }
}
