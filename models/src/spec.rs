//! The declarative model spec: DLRM-style graphs described in JSON or TOML, validated with errors that
//! name the field path.
//!
//! Data flow of every model: dense features → bottom MLP (or passed through) ; every table → pooled
//! vector ; special blocks (DIN attention, DIEN RNN, NCF branches) turn groups of pooled vectors into one
//! vector each ; the feature list (bottom output, then groups in spec order, a block's output standing
//! where its anchor group stands) → interaction (cat, dot, DCNv2 cross) → top MLP → optional task heads.

use crate::error::{ModelError, Result};
use crate::limits::{
    MAX_CROSS_LAYERS, MAX_DENSE_PARAMS, MAX_LAYERS, MAX_LOOKUPS, MAX_SPEC_BYTES, MAX_TABLES, MAX_TABLE_ELEMS,
    MAX_TASKS, MAX_WIDTH,
};
use serde::{Deserialize, Serialize};

/// A model: its tables, dense input, MLPs, interaction and special blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Short name (`dlrm-rmc1`): lower-case letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// One or two sentences for `hercules models`.
    #[serde(default)]
    pub description: String,
    /// Number of dense (continuous) features per sample; 0 = none.
    #[serde(default)]
    pub dense_features: usize,
    /// Groups of embedding tables, in feature order.
    pub tables: Vec<TableGroup>,
    /// MLP over the dense features; absent = dense features are passed through unchanged.
    #[serde(default)]
    pub bottom_mlp: Option<Mlp>,
    /// Special blocks that consume table groups.
    #[serde(default)]
    pub blocks: Vec<Block>,
    /// How the feature vectors are combined.
    pub interaction: Interaction,
    /// MLP over the interaction output.
    pub top_mlp: Mlp,
    /// Multi-task heads on the top MLP's output; absent = the top MLP's output is the model's output.
    #[serde(default)]
    pub heads: Option<Heads>,
    /// Row cap applied when the user gives none (models too large for one machine at full size).
    #[serde(default)]
    pub default_max_rows: Option<u64>,
}

/// `count` tables of one shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableGroup {
    /// Name blocks refer to (`behaviour`, `ad`...).
    pub name: String,
    /// Number of tables in the group.
    #[serde(default = "one")]
    pub count: usize,
    /// Rows per table at full size.
    pub rows: u64,
    /// Embedding dimension.
    pub dim: usize,
    /// Indices per table per sample (the bag size).
    pub lookups: usize,
    /// How a bag is reduced.
    #[serde(default)]
    pub pooling: PoolingSpec,
    /// Element type of the rows.
    #[serde(default)]
    pub dtype: DTypeSpec,
}

fn one() -> usize {
    1
}

/// Bag reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolingSpec {
    /// Sum of the rows (SparseLengthsSum).
    #[default]
    Sum,
    /// Mean of the rows.
    Mean,
}

/// Storage type of table rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DTypeSpec {
    /// 32-bit float.
    #[default]
    F32,
    /// 16-bit float, widened on load.
    F16,
    /// Row-wise quantised 8-bit integers.
    Int8,
}

impl From<PoolingSpec> for hercules_kernels::embedding::Pooling {
    fn from(p: PoolingSpec) -> Self {
        match p {
            PoolingSpec::Sum => Self::Sum,
            PoolingSpec::Mean => Self::Mean,
        }
    }
}

impl From<DTypeSpec> for hercules_kernels::embedding::DType {
    fn from(d: DTypeSpec) -> Self {
        match d {
            DTypeSpec::F32 => Self::F32,
            DTypeSpec::F16 => Self::F16,
            DTypeSpec::Int8 => Self::Int8,
        }
    }
}

impl DTypeSpec {
    /// Bytes per element as stored (int8 rows also carry a scale and bias, ignored here).
    pub fn bytes(self) -> usize {
        match self {
            DTypeSpec::F32 => 4,
            DTypeSpec::F16 => 2,
            DTypeSpec::Int8 => 1,
        }
    }
}

/// A stack of fully connected layers. `widths[0]` is the input width, each further entry a layer's
/// output width; ReLU after every layer except the last, which gets `last`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mlp {
    /// Input width then the output width of each layer.
    pub widths: Vec<usize>,
    /// Activation after the last layer.
    #[serde(default = "relu")]
    pub last: Act,
}

fn relu() -> Act {
    Act::Relu
}

impl Mlp {
    /// Output width (the last entry).
    pub fn out(&self) -> usize {
        *self.widths.last().unwrap_or(&0)
    }
    /// Number of layers.
    pub fn layers(&self) -> usize {
        self.widths.len().saturating_sub(1)
    }
    /// Activation after layer `i`.
    pub fn act(&self, i: usize) -> Act {
        if i + 1 == self.layers() {
            self.last
        } else {
            Act::Relu
        }
    }
    /// Multiply-accumulates per sample.
    pub fn macs(&self) -> u64 {
        self.widths.windows(2).map(|w| (w[0] * w[1]) as u64).sum()
    }
}

/// A layer's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Act {
    /// Identity.
    None,
    /// max(0, x).
    Relu,
    /// 1 / (1 + e^-x).
    Sigmoid,
}

/// How the feature vectors become the top MLP's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Interaction {
    /// Concatenation of all feature vectors.
    Cat {},
    /// DLRM dot interaction: the first feature vector concatenated with the pairwise dot products of all
    /// feature vectors (pairs i > j, ordered by i then j; i == j too when `self_interaction`).
    Dot {
        /// Include each vector's dot with itself.
        #[serde(default)]
        self_interaction: bool,
    },
    /// DCNv2 low-rank cross layers on x0 = cat(features): x ← x0 ⊙ (V·(U·x) + b) + x.
    Cross {
        /// Number of cross layers.
        layers: usize,
        /// Rank of U (width of U·x).
        low_rank: usize,
    },
}

/// Special blocks; each consumes table groups named in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Block {
    /// DIN: for each table of `behaviour` an attention unit on (beh, query): u = cat(beh, query,
    /// beh + query) → `mlp`; unit outputs summed. Stands where `behaviour` stands.
    Attention {
        /// Group whose tables are the behaviour sequence.
        behaviour: String,
        /// Group (one table) whose vector is the query (the ad); it stays a feature too.
        query: String,
        /// The unit's MLP; input width 3 × dim.
        mlp: Mlp,
    },
    /// DIEN: tanh RNN layers over the tables of `sequence` (one step per table), with FC + softmax +
    /// add between layers (o ← o + softmax(FC(o))); the last layer's final hidden state stands where
    /// `sequence` stands.
    Rnn {
        /// Group whose tables are the time steps.
        sequence: String,
        /// Hidden width of each RNN layer.
        hidden: Vec<usize>,
    },
    /// NCF: MF branch = elementwise sum of the two `mf` vectors; MLP branch = `mlp` over
    /// cat(`mlp_tables`); output cat(MF, MLP), standing where `mf[0]` stands.
    Ncf {
        /// The two groups (one table each) of the matrix-factorisation branch.
        mf: [String; 2],
        /// The two groups (one table each) of the MLP branch.
        mlp_tables: [String; 2],
        /// The MLP branch; input width = sum of the two dims.
        mlp: Mlp,
    },
}

/// Multi-task heads: `tasks` copies of `mlp`, each on the top MLP's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heads {
    /// Number of tasks.
    pub tasks: usize,
    /// One task's MLP; input width = the top MLP's output.
    pub mlp: Mlp,
}

/// One entry of the feature list fed to the interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// The bottom MLP's output (or the dense features passed through).
    Dense,
    /// The pooled vector of global table `t`.
    Table(usize),
    /// The output of block `b`.
    Block(usize),
}

/// Row scaling applied before building: every table gets round(rows × rows_scale) rows, at least its
/// lookups (so bags can be unique) and at most `max_rows`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    /// Factor on every table's rows.
    pub rows_scale: f64,
    /// Cap on any table's rows after scaling.
    pub max_rows: Option<u64>,
}

impl Default for Scale {
    fn default() -> Self {
        Self { rows_scale: 1.0, max_rows: None }
    }
}

impl ModelSpec {
    /// Parses JSON (or TOML when `source_name` ends in `.toml`) and validates.
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        // Both parsers bound their nesting depth, so deeply nested input is an error, not a stack overflow.
        let parse_err = |msg: &str| ModelError::Parse {
            source_name: one_line(source_name),
            msg: one_line(&msg.replace('\n', " ")),
        };
        let spec: ModelSpec = if source_name.ends_with(".toml") {
            toml::from_str(text).map_err(|e| {
                let at = e.span().map_or(String::new(), |r| format!(" at byte {}", r.start));
                parse_err(&format!("{}{at}", e.message()))
            })?
        } else {
            serde_json::from_str(text).map_err(|e| parse_err(&e.to_string()))?
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Reads and parses a spec file of at most [`MAX_SPEC_BYTES`].
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let bytes = crate::limits::read_bounded(path, MAX_SPEC_BYTES, "a spec file")?;
        let name = path.display().to_string();
        let text = String::from_utf8(bytes).map_err(|e| ModelError::Parse {
            source_name: name.clone(),
            msg: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        })?;
        Self::parse(&text, &name)
    }

    fn invalid(&self, field: impl Into<String>, msg: impl Into<String>) -> ModelError {
        ModelError::Invalid { model: one_line(&self.name), field: field.into(), msg: msg.into() }
    }

    /// Total number of tables.
    pub fn num_tables(&self) -> usize {
        self.tables.iter().map(|g| g.count).sum()
    }

    /// Group index of every global table, in order.
    pub fn table_groups(&self) -> Vec<usize> {
        self.tables.iter().enumerate().flat_map(|(g, grp)| std::iter::repeat_n(g, grp.count)).collect()
    }

    /// Group of global table `t` (`None` past the last table), without building the whole list.
    pub fn table_group(&self, t: usize) -> Option<usize> {
        let mut start = 0usize;
        for (g, grp) in self.tables.iter().enumerate() {
            start = start.saturating_add(grp.count);
            if t < start {
                return Some(g);
            }
        }
        None
    }

    /// First global table index of group `g`.
    pub fn group_start(&self, g: usize) -> usize {
        self.tables[..g].iter().map(|t| t.count).sum()
    }

    /// Index of the group called `name`.
    pub fn group(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|g| g.name == name)
    }

    /// Width of the dense feature vector (bottom MLP output, or the dense features).
    pub fn dense_out(&self) -> usize {
        self.bottom_mlp.as_ref().map_or(self.dense_features, |m| m.out())
    }

    /// Output width of block `b`.
    pub fn block_out(&self, b: usize) -> usize {
        match &self.blocks[b] {
            Block::Attention { mlp, .. } => mlp.out(),
            Block::Rnn { hidden, .. } => *hidden.last().unwrap_or(&0),
            Block::Ncf { mf, mlp, .. } => self.group(&mf[0]).map_or(0, |g| self.tables[g].dim) + mlp.out(),
        }
    }

    /// The feature list in order (see the module doc), assuming a valid spec.
    pub fn features(&self) -> Vec<Feature> {
        let mut anchor = vec![None; self.tables.len()];
        let mut consumed = vec![false; self.tables.len()];
        for (b, block) in self.blocks.iter().enumerate() {
            let (a, others): (&str, Vec<&str>) = match block {
                Block::Attention { behaviour, .. } => (behaviour, vec![]),
                Block::Rnn { sequence, .. } => (sequence, vec![]),
                Block::Ncf { mf, mlp_tables, .. } => (&mf[0], vec![&mf[1], &mlp_tables[0], &mlp_tables[1]]),
            };
            if let Some(g) = self.group(a) {
                anchor[g] = Some(b);
            }
            for o in others {
                if let Some(g) = self.group(o) {
                    consumed[g] = true;
                }
            }
        }
        let mut out = Vec::new();
        if self.dense_features > 0 {
            out.push(Feature::Dense);
        }
        for g in 0..self.tables.len() {
            if let Some(b) = anchor[g] {
                out.push(Feature::Block(b));
            } else if !consumed[g] {
                let s = self.group_start(g);
                out.extend((s..s + self.tables[g].count).map(Feature::Table));
            }
        }
        out
    }

    /// Width of each feature.
    pub fn feature_width(&self, f: Feature) -> usize {
        match f {
            Feature::Dense => self.dense_out(),
            Feature::Table(t) => self.table_group(t).map_or(0, |g| self.tables[g].dim),
            Feature::Block(b) => self.block_out(b),
        }
    }

    /// Width of x0 = cat(features).
    pub fn features_width(&self) -> usize {
        self.features().into_iter().map(|f| self.feature_width(f)).sum()
    }

    /// Output width of the interaction.
    pub fn interaction_out(&self) -> usize {
        let feats = self.features();
        match self.interaction {
            Interaction::Cat {} | Interaction::Cross { .. } => self.features_width(),
            Interaction::Dot { self_interaction } => {
                let n = feats.len();
                let pairs = if self_interaction { n * (n + 1) / 2 } else { n * (n - 1) / 2 };
                feats.first().map_or(0, |&f| self.feature_width(f)) + pairs
            }
        }
    }

    /// Width of one output row (tasks × head width, or the top MLP's output).
    pub fn output_width(&self) -> usize {
        match &self.heads {
            Some(h) => h.tasks * h.mlp.out(),
            None => self.top_mlp.out(),
        }
    }

    /// Checks every size, width and reference; the error names the field path.
    pub fn validate(&self) -> Result<()> {
        // The name becomes a file and folder name in the results (at most 64 characters there).
        let ok_name = |s: &str| {
            (1..=64).contains(&s.len())
                && s != "."
                && s != ".."
                && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        };
        if !ok_name(&self.name) {
            return Err(
                self.invalid("name", format!("{:?} must be 1 to 64 of [a-z0-9-_.], not . or ..", self.name))
            );
        }
        if self.tables.is_empty() {
            return Err(self.invalid("tables", "at least one table group is needed"));
        }
        if self.dense_features > MAX_WIDTH {
            return Err(
                self.invalid("dense_features", format!("{} exceeds {MAX_WIDTH}", self.dense_features))
            );
        }
        if self.tables.len() > MAX_TABLES {
            return Err(self.invalid("tables", format!("{} groups exceed {MAX_TABLES}", self.tables.len())));
        }
        let mut total = 0usize;
        for (i, g) in self.tables.iter().enumerate() {
            let f = |k: &str| format!("tables[{i}].{k}");
            if g.name.is_empty() {
                return Err(self.invalid(f("name"), "must not be empty"));
            }
            if self.tables[..i].iter().any(|o| o.name == g.name) {
                return Err(self.invalid(f("name"), format!("{:?} is used by an earlier group", g.name)));
            }
            range(self, &f("count"), g.count, 1, MAX_TABLES)?;
            range(self, &f("dim"), g.dim, 1, MAX_WIDTH)?;
            range(self, &f("lookups"), g.lookups, 1, MAX_LOOKUPS)?;
            if g.rows == 0 {
                return Err(self.invalid(f("rows"), "must be at least 1"));
            }
            if g.rows.saturating_mul(g.dim as u64) > MAX_TABLE_ELEMS {
                return Err(self.invalid(
                    f("rows"),
                    format!("{} rows × dim {} exceed {MAX_TABLE_ELEMS} elements", g.rows, g.dim),
                ));
            }
            if (g.lookups as u64) > g.rows {
                return Err(self.invalid(
                    f("lookups"),
                    format!("{} lookups exceed the {} rows (bags are unique)", g.lookups, g.rows),
                ));
            }
            total += g.count;
        }
        if total > MAX_TABLES {
            return Err(self.invalid("tables", format!("{total} tables in all exceed {MAX_TABLES}")));
        }
        if let Some(b) = &self.bottom_mlp {
            if self.dense_features == 0 {
                return Err(self.invalid("bottom_mlp", "given but dense_features is 0"));
            }
            self.check_mlp("bottom_mlp", b, self.dense_features, "dense_features")?;
        }
        let mut used: Vec<Option<usize>> = vec![None; self.tables.len()];
        for (b, block) in self.blocks.iter().enumerate() {
            self.check_block(b, block, &mut used)?;
        }
        let feats = self.features();
        if feats.is_empty() {
            return Err(self.invalid("interaction", "no feature vectors to combine"));
        }
        match self.interaction {
            Interaction::Cat {} => {}
            Interaction::Dot { .. } => {
                let w0 = self.feature_width(feats[0]);
                for &f in &feats[1..] {
                    let w = self.feature_width(f);
                    if w != w0 {
                        return Err(self.invalid(
                            "interaction",
                            format!(
                                "dot needs equal widths but {f:?} is {w} wide and {:?} is {w0}",
                                feats[0]
                            ),
                        ));
                    }
                }
            }
            Interaction::Cross { layers, low_rank } => {
                range(self, "interaction.layers", layers, 1, MAX_CROSS_LAYERS)?;
                range(self, "interaction.low_rank", low_rank, 1, MAX_WIDTH)?;
            }
        }
        self.check_mlp("top_mlp", &self.top_mlp, self.interaction_out(), "the interaction output")?;
        if let Some(h) = &self.heads {
            range(self, "heads.tasks", h.tasks, 1, MAX_TASKS)?;
            self.check_mlp("heads.mlp", &h.mlp, self.top_mlp.out(), "the top_mlp output")?;
        }
        match self.dense_params() {
            Some(n) if n <= MAX_DENSE_PARAMS => Ok(()),
            n => Err(self.invalid(
                "top_mlp",
                format!(
                    "the dense layers hold {} parameters in all, more than {MAX_DENSE_PARAMS}",
                    n.map_or("over 2^64".to_string(), |n| n.to_string())
                ),
            )),
        }
    }

    /// Elements of all dense parameters (everything but the tables), as [`crate::weights::params`]
    /// lists them; `None` on u64 overflow (only possible for specs that fail validation).
    pub fn dense_params(&self) -> Option<u64> {
        let u = |v: usize| v as u64;
        let mlp = |m: &Mlp| {
            m.widths
                .windows(2)
                .try_fold(0u64, |acc, w| u(w[0]).checked_mul(u(w[1]))?.checked_add(u(w[1]))?.checked_add(acc))
        };
        let mut n = mlp(&self.top_mlp)?;
        if let Some(b) = &self.bottom_mlp {
            n = n.checked_add(mlp(b)?)?;
        }
        if let Some(h) = &self.heads {
            n = n.checked_add(u(h.tasks).checked_mul(mlp(&h.mlp)?)?)?;
        }
        if let Interaction::Cross { layers, low_rank } = self.interaction {
            // U [rank, x0] without bias, V [x0, rank] with bias.
            let x0 = u(self.features_width());
            let per = x0.checked_mul(u(low_rank))?.checked_mul(2)?.checked_add(x0)?;
            n = n.checked_add(u(layers).checked_mul(per)?)?;
        }
        for block in &self.blocks {
            let b = match block {
                Block::Attention { behaviour, mlp: m, .. } => {
                    u(self.group(behaviour).map_or(0, |g| self.tables[g].count)).checked_mul(mlp(m)?)?
                }
                Block::Rnn { sequence, hidden } => {
                    let mut input = u(self.group(sequence).map_or(0, |g| self.tables[g].dim));
                    let mut b = 0u64;
                    for (l, &h) in hidden.iter().enumerate() {
                        let h = u(h);
                        // weight_ih, weight_hh, two biases, then the FC to the next layer.
                        let mut p =
                            h.checked_mul(input)?.checked_add(h.checked_mul(h)?)?.checked_add(2 * h)?;
                        if l + 1 < hidden.len() {
                            p = p.checked_add(h.checked_mul(h)?.checked_add(h)?)?;
                        }
                        b = b.checked_add(p)?;
                        input = h;
                    }
                    b
                }
                Block::Ncf { mlp: m, .. } => mlp(m)?,
            };
            n = n.checked_add(b)?;
        }
        Some(n)
    }

    fn check_mlp(&self, field: &str, m: &Mlp, input: usize, input_what: &str) -> Result<()> {
        if m.widths.len() < 2 {
            return Err(
                self.invalid(format!("{field}.widths"), "needs an input width and at least one layer")
            );
        }
        if m.widths.len() > MAX_LAYERS + 1 {
            return Err(self.invalid(
                format!("{field}.widths"),
                format!("{} layers exceed {MAX_LAYERS}", m.widths.len() - 1),
            ));
        }
        for (i, &w) in m.widths.iter().enumerate() {
            range(self, &format!("{field}.widths[{i}]"), w, 1, MAX_WIDTH)?;
        }
        if m.widths[0] != input {
            return Err(self.invalid(
                format!("{field}.widths[0]"),
                format!("input width {} does not match {input_what} {input}", m.widths[0]),
            ));
        }
        Ok(())
    }

    fn check_block(&self, b: usize, block: &Block, used: &mut [Option<usize>]) -> Result<()> {
        let mut take = |key: &str, name: &str, consume: bool| -> Result<usize> {
            let field = format!("blocks[{b}].{key}");
            let g =
                self.group(name).ok_or_else(|| self.invalid(&field, format!("no table group {name:?}")))?;
            if consume {
                if let Some(other) = used[g] {
                    return Err(
                        self.invalid(field, format!("group {name:?} is already used by blocks[{other}]"))
                    );
                }
                used[g] = Some(b);
            }
            Ok(g)
        };
        match block {
            Block::Attention { behaviour, query, mlp } => {
                let gb = take("behaviour", behaviour, true)?;
                let gq = take("query", query, false)?;
                let (db, dq) = (self.tables[gb].dim, self.tables[gq].dim);
                if db != dq {
                    return Err(self.invalid(
                        format!("blocks[{b}].query"),
                        format!("dim {dq} differs from the behaviour dim {db}"),
                    ));
                }
                if self.tables[gq].count != 1 {
                    return Err(
                        self.invalid(format!("blocks[{b}].query"), "the query group must have one table")
                    );
                }
                self.check_mlp(&format!("blocks[{b}].mlp"), mlp, 3 * db, "3 × the behaviour dim")?;
            }
            Block::Rnn { sequence, hidden } => {
                take("sequence", sequence, true)?;
                if hidden.is_empty() {
                    return Err(self.invalid(format!("blocks[{b}].hidden"), "needs at least one layer"));
                }
                if hidden.len() > MAX_LAYERS {
                    return Err(self.invalid(
                        format!("blocks[{b}].hidden"),
                        format!("{} layers exceed {MAX_LAYERS}", hidden.len()),
                    ));
                }
                for (i, &h) in hidden.iter().enumerate() {
                    range(self, &format!("blocks[{b}].hidden[{i}]"), h, 1, MAX_WIDTH)?;
                }
            }
            Block::Ncf { mf, mlp_tables, mlp } => {
                let g0 = take("mf[0]", &mf[0], true)?;
                let g1 = take("mf[1]", &mf[1], true)?;
                let g2 = take("mlp_tables[0]", &mlp_tables[0], true)?;
                let g3 = take("mlp_tables[1]", &mlp_tables[1], true)?;
                for (k, g) in [("mf[0]", g0), ("mf[1]", g1), ("mlp_tables[0]", g2), ("mlp_tables[1]", g3)] {
                    if self.tables[g].count != 1 {
                        return Err(self.invalid(format!("blocks[{b}].{k}"), "the group must have one table"));
                    }
                }
                if self.tables[g0].dim != self.tables[g1].dim {
                    return Err(self.invalid(format!("blocks[{b}].mf[1]"), "dim differs from mf[0]'s"));
                }
                let input = self.tables[g2].dim + self.tables[g3].dim;
                self.check_mlp(&format!("blocks[{b}].mlp"), mlp, input, "the two MLP-branch dims summed")?;
            }
        }
        Ok(())
    }

    /// The spec with every table's rows scaled (see [`Scale`]); the name is unchanged.
    pub fn scaled(&self, scale: Scale) -> Result<Self> {
        if !(scale.rows_scale.is_finite() && scale.rows_scale > 0.0 && scale.rows_scale <= 1.0) {
            return Err(self.invalid("rows_scale", format!("{} must be in (0, 1]", scale.rows_scale)));
        }
        if scale.max_rows == Some(0) {
            return Err(self.invalid("max_rows", "must be at least 1"));
        }
        let mut s = self.clone();
        for g in &mut s.tables {
            let mut r = ((g.rows as f64) * scale.rows_scale).round() as u64;
            if let Some(cap) = scale.max_rows {
                r = r.min(cap);
            }
            g.rows = r.max(g.lookups as u64).max(1);
        }
        Ok(s)
    }
}

/// `s` with control characters (newlines above all) escaped, so an error quoting user text stays one
/// line.
pub(crate) fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}

fn range(spec: &ModelSpec, field: &str, v: usize, lo: usize, hi: usize) -> Result<()> {
    if v < lo || v > hi {
        return Err(spec.invalid(field, format!("{v} is outside {lo}..={hi}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A small valid spec: cat of an 8-wide bottom output and one 8-dim table.
    const BASE: &str = r#"{"name": "t", "dense_features": 4,
        "tables": [{"name": "a", "rows": 100, "dim": 8, "lookups": 2}],
        "bottom_mlp": {"widths": [4, 8]}, "interaction": {"kind": "cat"},
        "top_mlp": {"widths": [16, 1], "last": "sigmoid"}}"#;

    fn err(text: &str, source: &str) -> String {
        let e = ModelSpec::parse(text, source).unwrap_err().to_string();
        assert!(!e.contains('\n') && !e.contains('\r'), "multi-line error: {e:?}");
        e
    }

    #[test]
    fn hostile_specs_fail_in_one_line() {
        ModelSpec::parse(BASE, "t.json").unwrap();
        let cases: Vec<(String, &str)> = vec![
            (BASE.replace("\"rows\": 100", "\"rows\": 1e12"), "invalid type: floating point"),
            (
                BASE.replace("\"rows\": 100", "\"rows\": 1000000000000"),
                "tables[0].rows: 1000000000000 rows × dim 8",
            ),
            (BASE.replace("\"rows\": 100", "\"rows\": 18446744073709551615"), "tables[0].rows"),
            (BASE.replace("\"rows\": 100", "\"rows\": 18446744073709551616"), "spec t.json:"),
            (BASE.replace("\"rows\": 100", "\"rows\": -1"), "invalid value: integer `-1`"),
            (
                BASE.replace("\"dim\": 8", "\"dim\": 4000000000"),
                "tables[0].dim: 4000000000 is outside 1..=65536",
            ),
            (BASE.replace("\"dim\": 8", "\"dim\": 0"), "tables[0].dim: 0 is outside"),
            (BASE.replace("[4, 8]", "[4, 0]"), "bottom_mlp.widths[1]: 0 is outside"),
            (BASE.replace("[4, 8]", "[4]"), "needs an input width and at least one layer"),
            (BASE.replace("\"lookups\": 2", "\"lookups\": NaN"), "spec t.json: expected value"),
            (BASE.replace("\"t\"", "\"a\\nb\""), "a\\nb: name: \"a\\nb\" must be"),
            (
                BASE.replace("[16, 1]", &format!("[16{}]", ", 1".repeat(70))),
                "top_mlp.widths: 70 layers exceed 64",
            ),
            (
                BASE.replace("[16, 1]", "[16, 65536, 65536, 65536, 65536, 65536, 1]"),
                "dense layers hold 17181311017 parameters in all, more than 17179869184",
            ),
            (
                BASE.replace("\"kind\": \"cat\"", "\"kind\": \"cross\", \"layers\": 65, \"low_rank\": 4"),
                "65 is outside 1..=64",
            ),
            (
                format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
                "spec t.json: invalid type: sequence",
            ),
            (BASE.replace("\"tables\": [", &format!("\"tables\": {}[", "[".repeat(5000))), "spec t.json:"),
            ("\u{0}\u{7f}\u{ffff}".to_string(), "spec t.json:"),
        ];
        for (text, want) in cases {
            let e = err(&text, "t.json");
            assert!(e.contains(want), "wanted {want:?} in: {e}");
        }
    }

    #[test]
    fn hostile_toml_specs_fail_in_one_line() {
        let base = toml::to_string(&ModelSpec::parse(BASE, "t.json").unwrap()).unwrap();
        ModelSpec::parse(&base, "t.toml").unwrap();
        let cases: Vec<(String, &str)> = vec![
            (base.replace("rows = 100", "rows = nan"), "invalid type: floating point"),
            (base.replace("rows = 100", "rows = -1"), "invalid value"),
            (base.replace("rows = 100", "rows = 1e12"), "invalid type: floating point"),
            (base.replace("dim = 8", "dim = 4000000000"), "tables[0].dim: 4000000000 is outside"),
            (base.replace("rows = 100", "rows = 99999999999999999999"), "spec t.toml:"),
            (format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000)), "spec t.toml:"),
            (format!("x = {}1{}", "{a = ".repeat(10_000), "}".repeat(10_000)), "spec t.toml:"),
            ("name = \"t\"\nname = \"u\"\n".to_string(), "spec t.toml:"),
        ];
        for (text, want) in cases {
            let e = err(&text, "t.toml");
            assert!(e.contains(want), "wanted {want:?} in: {e}");
        }
    }

    #[test]
    fn spec_files_are_read_with_a_bound() {
        let e = ModelSpec::from_file(std::path::Path::new("/dev/zero")).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("/dev/zero: larger than {MAX_SPEC_BYTES} bytes, the most a spec file may hold")
        );
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bin.json");
        std::fs::write(&p, b"{\"name\": \"\xff\"}").unwrap();
        let e = ModelSpec::from_file(&p).unwrap_err().to_string();
        assert!(e.ends_with("bin.json: not UTF-8 text (byte 10)"), "{e}");
    }

    #[test]
    fn dense_params_count_what_params_lists() {
        for (name, _) in crate::zoo::ZOO {
            let spec = crate::zoo::builtin(name).unwrap().unwrap();
            let listed: u64 = crate::weights::params(&spec)
                .iter()
                .filter(|p| !p.name.starts_with("emb."))
                .map(|p| p.numel() as u64)
                .sum();
            assert_eq!(spec.dense_params(), Some(listed), "{name}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Random text as JSON and as TOML: never a panic, errors are one line.
        #[test]
        fn spec_parser_survives_any_text(text in "\\PC{0,200}") {
            for source in ["p.json", "p.toml"] {
                if let Err(e) = ModelSpec::parse(&text, source) {
                    prop_assert!(!e.to_string().contains('\n'), "{}", e);
                }
            }
        }

        /// The base spec with one number replaced by any u64: never a panic, errors are one line.
        #[test]
        fn spec_validation_survives_any_number(field in 0usize..7, v in any::<u64>()) {
            let keys = ["\"rows\": 100", "\"dim\": 8", "\"lookups\": 2", "\"dense_features\": 4",
                "[4, 8]", "[16, 1]", "\"count\": 1"];
            let new = match field {
                4 => format!("[4, {v}]"),
                5 => format!("[16, {v}]"),
                6 => format!("\"count\": {v}"),
                _ => format!("{}{v}", &keys[field][..keys[field].find(':').unwrap() + 2]),
            };
            let text = if field == 6 {
                BASE.replace("\"rows\": 100", &format!("\"rows\": 100, {new}"))
            } else {
                BASE.replace(keys[field], &new)
            };
            if let Err(e) = ModelSpec::parse(&text, "p.json") {
                prop_assert!(!e.to_string().contains('\n'), "{}", e);
            }
        }
    }
}
