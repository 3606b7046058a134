//! Query inputs: dense features U[0,1) and per-table bags of indices drawn uniformly (unique within a
//! bag), from a Zipf law, or from a trace file; and a pool of pre-generated sets so that input generation
//! is never timed.

use crate::error::{ModelError, Result};
use crate::limits::{
    MAX_BATCH, MAX_INPUT_POOL_BYTES, MAX_INPUT_SETS, MAX_LOOKUPS, MAX_TABLES, MAX_TRACE_BYTES,
};
use crate::spec::{one_line, ModelSpec};
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
        let end = start.saturating_add(len).min(self.batch);
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
    /// Bags replayed from a trace file (see [`Trace`] for how indices past a table's rows are treated).
    Trace(Arc<Trace>),
}

/// One bag of a trace and the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceBag {
    /// 1-based line number in the trace file.
    pub line: usize,
    /// The indices, in file order.
    pub indices: Vec<u64>,
}

/// Bags read from a trace file: one bag per line, `TABLE IDX IDX ...`; `#` starts a comment. Bags of a
/// table are replayed in file order, cycling.
///
/// Table numbers are global table indices and must be below the model's table count (and below
/// [`MAX_TABLES`] when parsing, before any model is known); a bag holds at most [`MAX_LOOKUPS`]
/// indices. An index at or past its table's rows is an error naming the line, unless `wrap` is set:
/// then indices are taken modulo the rows, so a trace recorded on a full-size model also drives a
/// model scaled with `--rows-scale` / `--max-rows` (at the cost of folding distinct rows together).
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Bags per global table index.
    pub bags: Vec<Vec<TraceBag>>,
    /// Where it came from.
    pub path: String,
    /// Take indices modulo the table's rows instead of refusing those past it (off by default).
    pub wrap: bool,
}

impl Trace {
    /// Reads a trace file of at most [`MAX_TRACE_BYTES`].
    pub fn read(path: &Path) -> Result<Self> {
        let p = path.display().to_string();
        let bytes = crate::limits::read_bounded(path, MAX_TRACE_BYTES, "a trace file")?;
        let text = String::from_utf8(bytes).map_err(|e| ModelError::Trace {
            path: one_line(&p),
            line: 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count(),
            msg: "not UTF-8 text".into(),
        })?;
        Self::parse(&text, &p)
    }

    /// The same trace with index wrapping on or off (see the type's doc).
    pub fn with_wrap(mut self, wrap: bool) -> Self {
        self.wrap = wrap;
        self
    }

    /// Parses trace text (`path` only names it in errors); wrapping starts off.
    pub fn parse(text: &str, path: &str) -> Result<Self> {
        let path = one_line(path);
        let mut bags: Vec<Vec<TraceBag>> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |msg: String| ModelError::Trace { path: path.clone(), line: n + 1, msg };
            let quote = |w: &str| one_line(&format!("{:?}", w.chars().take(40).collect::<String>()));
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or("");
            let t: usize =
                first.parse().map_err(|_| err(format!("{} is not a table number", quote(first))))?;
            // Checked before the table list grows to `t`: a huge number must not allocate.
            if t >= MAX_TABLES {
                return Err(err(format!("table {t} is past the {MAX_TABLES} tables any model may have")));
            }
            let mut indices = Vec::new();
            for w in words {
                if indices.len() == MAX_LOOKUPS {
                    return Err(err(format!("bag of table {t} has more than {MAX_LOOKUPS} indices")));
                }
                indices.push(w.parse::<u64>().map_err(|_| err(format!("{} is not an index", quote(w))))?);
            }
            if indices.is_empty() {
                return Err(err(format!("bag of table {t} has no indices")));
            }
            if t >= bags.len() {
                bags.resize_with(t + 1, Vec::new);
            }
            bags[t].push(TraceBag { line: n + 1, indices });
        }
        Ok(Self { bags, path, wrap: false })
    }

    /// Checks the trace against `spec`: no table past the model's, bags for every table, and (unless
    /// wrapping) every index below its table's rows. The error names the file and line.
    pub fn check(&self, spec: &ModelSpec) -> Result<()> {
        let groups = spec.table_groups();
        self.check_tables(spec, groups.len())?;
        for (t, bags) in self.bags.iter().enumerate() {
            for bag in bags {
                self.check_bag(spec, t, spec.tables[groups[t]].rows, bag)?;
            }
        }
        Ok(())
    }

    /// The table-count part of [`Trace::check`] (cheap: no index is looked at).
    fn check_tables(&self, spec: &ModelSpec, tables: usize) -> Result<()> {
        let err = |line: usize, msg: String| ModelError::Trace { path: self.path.clone(), line, msg };
        for (t, bags) in self.bags.iter().enumerate().skip(tables) {
            if let Some(bag) = bags.first() {
                let msg =
                    format!("table {t} does not exist: {} has {tables} tables (0..{tables})", spec.name);
                return Err(err(bag.line, msg));
            }
        }
        if let Some(t) = (0..tables).find(|&t| self.bags.get(t).is_none_or(Vec::is_empty)) {
            let msg = format!("no bags for table {t} of {} (every table needs at least one line)", spec.name);
            return Err(err(0, msg));
        }
        Ok(())
    }

    fn check_bag(&self, spec: &ModelSpec, t: usize, rows: u64, bag: &TraceBag) -> Result<()> {
        if self.wrap {
            return Ok(());
        }
        match bag.indices.iter().find(|&&i| i >= rows) {
            Some(i) => Err(ModelError::Trace {
                path: self.path.clone(),
                line: bag.line,
                msg: format!(
                    "index {i} is past table {t} of {}, which has {rows} rows (with --rows-scale or \
                     --max-rows, a full-size trace needs index wrapping turned on)",
                    spec.name
                ),
            }),
            None => Ok(()),
        }
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

    /// One input set of `batch` samples (1..=[`MAX_BATCH`]) for `spec`. A trace's bags are checked as
    /// they are replayed (use [`Trace::check`] to check them all up front).
    pub fn generate(&mut self, spec: &ModelSpec, batch: usize) -> Result<InputSet> {
        if batch == 0 || batch > MAX_BATCH {
            return Err(ModelError::Input {
                model: spec.name.clone(),
                msg: format!("batch {batch} is outside 1..={MAX_BATCH}"),
            });
        }
        let groups = spec.table_groups();
        if let IndexDist::Trace(trace) = &self.dist {
            trace.check_tables(spec, groups.len())?;
        }
        let dense: Vec<f32> = (0..batch * spec.dense_features).map(|_| self.rng.gen::<f32>()).collect();
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
                // `generate` checked that every table has bags.
                let bags = &trace.bags[t];
                let bag = &bags[self.cursor[t] % bags.len()];
                self.cursor[t] = (self.cursor[t] + 1) % bags.len();
                trace.check_bag(spec, t, rows, bag)?;
                out.extend(bag.indices.iter().map(|&i| i % rows));
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

/// Bytes of `count` input sets of `batch` samples: dense features, then per table the indices (the
/// longest trace bag stands for every bag of a traced table), offsets and lengths. Saturates.
fn pool_bytes(spec: &ModelSpec, batch: usize, count: usize, dist: &IndexDist) -> u64 {
    let u = |v: usize| v as u64;
    let mut per_sample = u(spec.dense_features) * 4;
    for (t, g) in spec.table_groups().into_iter().enumerate() {
        let grp = &spec.tables[g];
        let idx_bytes = if grp.rows <= 1 << 32 { 4 } else { 8 };
        let bag = match dist {
            IndexDist::Trace(trace) => {
                trace.bags.get(t).and_then(|b| b.iter().map(|b| b.indices.len()).max()).unwrap_or(grp.lookups)
            }
            _ => grp.lookups,
        };
        // Offsets (usize) and lengths (u32) per sample.
        per_sample = per_sample.saturating_add(u(bag).saturating_mul(idx_bytes)).saturating_add(12);
    }
    per_sample.saturating_mul(u(batch)).saturating_mul(u(count))
}

/// Pre-generated input sets that queries draw from in turn.
#[derive(Debug)]
pub struct InputPool {
    sets: Vec<InputSet>,
    next: usize,
}

impl InputPool {
    /// `count` sets (1..=[`MAX_INPUT_SETS`]; 0 means 1) of `batch` samples (1..=[`MAX_BATCH`]) each.
    /// The pool's size is checked against [`MAX_INPUT_POOL_BYTES`] and the available memory, and a trace
    /// against the model, before any set is generated.
    pub fn new(spec: &ModelSpec, batch: usize, count: usize, dist: IndexDist, seed: u64) -> Result<Self> {
        let err = |msg: String| ModelError::Input { model: spec.name.clone(), msg };
        if batch == 0 || batch > MAX_BATCH {
            return Err(err(format!("batch {batch} is outside 1..={MAX_BATCH}")));
        }
        if count > MAX_INPUT_SETS {
            return Err(err(format!("{count} input sets exceed {MAX_INPUT_SETS}")));
        }
        if let IndexDist::Trace(trace) = &dist {
            trace.check(spec)?;
        }
        let need = pool_bytes(spec, batch, count.max(1), &dist);
        let free = hercules_kernels::mem::available_memory().map_or(u64::MAX, |b| b as u64);
        if need > MAX_INPUT_POOL_BYTES.min(free) {
            let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
            let limit =
                if free < MAX_INPUT_POOL_BYTES { "the available memory" } else { "the input-pool limit" };
            return Err(err(format!(
                "{} input sets of batch {batch} need {:.2} GiB but {limit} is {:.2} GiB; use fewer input sets \
                 or a smaller batch",
                count.max(1),
                gib(need),
                gib(MAX_INPUT_POOL_BYTES.min(free)),
            )));
        }
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

    fn ncf() -> ModelSpec {
        crate::zoo::builtin("ncf")
            .unwrap()
            .unwrap()
            .scaled(Scale { rows_scale: 0.001, max_rows: None })
            .unwrap()
    }

    fn trace_err(text: &str) -> String {
        let e = Trace::parse(text, "t.txt").unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e:?}");
        e
    }

    fn replay_err(trace: Trace, spec: &ModelSpec) -> String {
        let trace = Arc::new(trace);
        let pool = InputPool::new(spec, 2, 1, IndexDist::Trace(trace.clone()), 0).unwrap_err().to_string();
        let gen = InputGen::new(IndexDist::Trace(trace), 0).generate(spec, 2).unwrap_err().to_string();
        assert_eq!(pool, gen, "the up-front check and the replay agree");
        pool
    }

    #[test]
    fn trace_lines_are_bounded_before_allocating() {
        assert_eq!(
            trace_err("0 1\n99999999999999 1 2 3\n"),
            "trace t.txt:2: table 99999999999999 is past the 16384 tables any model may have"
        );
        assert_eq!(
            trace_err("18446744073709551616 1\n"),
            "trace t.txt:1: \"18446744073709551616\" is not a table number"
        );
        assert_eq!(trace_err("-1 1\n"), "trace t.txt:1: \"-1\" is not a table number");
        assert_eq!(trace_err("0 1 -2\n"), "trace t.txt:1: \"-2\" is not an index");
        assert_eq!(trace_err("# c\n\n3\n"), "trace t.txt:3: bag of table 3 has no indices");
        let long = format!("0{}\n", " 1".repeat(MAX_LOOKUPS + 1));
        assert_eq!(trace_err(&long), "trace t.txt:1: bag of table 0 has more than 16384 indices");
        assert!(trace_err("0 1\u{b}\n2 x\ny").starts_with("trace t.txt:2: \"x\""));
    }

    #[test]
    fn traces_must_fit_the_model() {
        let spec = ncf();
        let rows = spec.tables[0].rows;
        // ncf has 4 tables (0..4): table 4 used to be ignored.
        let t = Trace::parse("0 1\n1 1\n2 1\n3 1\n4 1\n", "t.txt").unwrap();
        assert_eq!(replay_err(t, &spec), "trace t.txt:5: table 4 does not exist: ncf has 4 tables (0..4)");
        let t = Trace::parse("0 1\n2 1\n3 1\n", "t.txt").unwrap();
        assert_eq!(
            replay_err(t, &spec),
            "trace t.txt: no bags for table 1 of ncf (every table needs at least one line)"
        );
        // An index past the scaled table used to be wrapped silently.
        let text = format!("0 1\n1 1\n2 1\n3 1\n0 2 {rows}\n");
        let t = Trace::parse(&text, "t.txt").unwrap();
        assert_eq!(
            replay_err(t.clone(), &spec),
            format!(
                "trace t.txt:5: index {rows} is past table 0 of ncf, which has {rows} rows (with --rows-scale or \
                 --max-rows, a full-size trace needs index wrapping turned on)"
            )
        );
        // Opted in: taken modulo the rows.
        let mut pool = InputPool::new(&spec, 2, 1, IndexDist::Trace(Arc::new(t.with_wrap(true))), 0).unwrap();
        let set = pool.next();
        assert_eq!((0..3).map(|i| set.tables[0].indices.get(i)).collect::<Vec<_>>(), vec![1, 2, 0]);
    }

    #[test]
    fn trace_files_are_read_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        std::fs::write(&p, b"0 1\n1 2\n\xff\n").unwrap();
        let e = Trace::read(&p).unwrap_err().to_string();
        assert!(e.starts_with("trace ") && e.ends_with("t.txt:3: not UTF-8 text"), "{e}");
        let e = Trace::read(&dir.path().join("none.txt")).unwrap_err().to_string();
        assert!(e.contains("none.txt: ") && !e.contains('\n'), "{e}");
    }

    #[test]
    fn input_pools_are_bounded() {
        let spec = ncf();
        let e =
            |batch, sets| InputPool::new(&spec, batch, sets, IndexDist::Uniform, 0).unwrap_err().to_string();
        assert_eq!(e(0, 1), "ncf: input: batch 0 is outside 1..=65536");
        assert_eq!(e(MAX_BATCH + 1, 1), "ncf: input: batch 65537 is outside 1..=65536");
        assert_eq!(e(1, MAX_INPUT_SETS + 1), "ncf: input: 4097 input sets exceed 4096");
        let big: ModelSpec = ModelSpec::parse(
            r#"{"name": "big", "tables": [{"name": "a", "count": 64, "rows": 16384, "dim": 1, "lookups": 16384}],
                "interaction": {"kind": "cat"}, "top_mlp": {"widths": [64, 1]}}"#,
            "big.json",
        )
        .unwrap();
        let e =
            InputPool::new(&big, MAX_BATCH, MAX_INPUT_SETS, IndexDist::Uniform, 0).unwrap_err().to_string();
        assert!(
            e.starts_with("big: input: 4096 input sets of batch 65536 need 1048768.00 GiB but ")
                && e.contains("use fewer"),
            "{e}"
        );
        let e = InputGen::new(IndexDist::Uniform, 0).generate(&spec, 0).unwrap_err().to_string();
        assert_eq!(e, "ncf: input: batch 0 is outside 1..=65536");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Any text as a trace, then replayed on a small model with and without wrapping: never a panic,
        /// errors are one line.
        #[test]
        fn trace_parser_survives_any_text(
            text in "\\PC{0,120}|([0-9]{1,3}( [0-9]{1,6}){0,4}\n){0,12}|([0-9# \n-]|18446744073709551615){0,40}",
            wrap in proptest::bool::ANY,
        ) {
            match Trace::parse(&text, "p.txt") {
                Err(e) => proptest::prop_assert!(!e.to_string().contains('\n'), "{}", e),
                Ok(t) => {
                    let dist = IndexDist::Trace(Arc::new(t.with_wrap(wrap)));
                    if let Err(e) = InputPool::new(&ncf(), 3, 2, dist, 0) {
                        proptest::prop_assert!(!e.to_string().contains('\n'), "{}", e);
                    }
                }
            }
        }
    }
}
