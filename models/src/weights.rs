//! Model parameters: their PyTorch-style names and shapes, seeded initialisation, and safetensors files.
//!
//! Names are shared with the PyTorch reference (`models/reference/reference.py`): `emb.{t}.weight`
//! [rows, dim]; `bot.{i}` / `top.{i}` / `head.{task}.{i}` `.weight` [out, in] and `.bias` [out];
//! `cross.{l}.u.weight` [rank, x0], `cross.{l}.v.weight` [x0, rank], `cross.{l}.v.bias`;
//! `blk.{b}.att.{unit}.{i}.*` (DIN), `blk.{b}.rnn.{l}.{weight_ih,weight_hh,bias_ih,bias_hh}` and
//! `blk.{b}.fc.{l}.*` (DIEN), `blk.{b}.mlp.{i}.*` (NCF).

use crate::error::{ModelError, Result};
use crate::spec::{Block, Interaction, Mlp, ModelSpec};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};
use safetensors::tensor::{Dtype, TensorInfo};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

/// The checkpoint's parameter names, in one place: [`params`] declares them and the CPU and GPU model
/// builders look them up through these (the PyTorch reference mirrors them).
pub mod names {
    /// Prefix of the bottom MLP's layers.
    pub const BOTTOM: &str = "bot";
    /// Prefix of the top MLP's layers.
    pub const TOP: &str = "top";

    /// Embedding table `t` (in [`ModelSpec::table_groups`](crate::spec::ModelSpec::table_groups) order).
    pub fn table(t: usize) -> String {
        format!("emb.{t}.weight")
    }
    /// Layer `i` of the MLP with prefix `mlp`.
    pub fn layer(mlp: &str, i: usize) -> String {
        format!("{mlp}.{i}")
    }
    /// The weight of the linear layer with prefix `linear`.
    pub fn weight(linear: &str) -> String {
        format!("{linear}.weight")
    }
    /// The bias of the linear layer with prefix `linear`.
    pub fn bias(linear: &str) -> String {
        format!("{linear}.bias")
    }
    /// MLP prefix of task head `k`.
    pub fn head(k: usize) -> String {
        format!("head.{k}")
    }
    /// MLP prefix of attention unit `u` of block `b` (DIN).
    pub fn attention(b: usize, u: usize) -> String {
        format!("blk.{b}.att.{u}")
    }
    /// Linear prefix of the FC between RNN layers `l` and `l + 1` of block `b` (DIEN).
    pub fn rnn_fc(b: usize, l: usize) -> String {
        format!("blk.{b}.fc.{l}")
    }
    /// MLP prefix of the MLP branch of NCF block `b`.
    pub fn ncf(b: usize) -> String {
        format!("blk.{b}.mlp")
    }
    /// Linear prefixes of DCNv2 cross layer `l`: the down (`u`, no bias) and up (`v`) projections.
    pub fn cross(l: usize) -> (String, String) {
        (format!("cross.{l}.u"), format!("cross.{l}.v"))
    }

    /// The four tensors of RNN layer `l` of block `b`, as `torch.nn.RNN` names them.
    pub struct Rnn {
        /// Input-to-hidden weight [h, input].
        pub weight_ih: String,
        /// Hidden-to-hidden weight [h, h].
        pub weight_hh: String,
        /// Input-to-hidden bias [h].
        pub bias_ih: String,
        /// Hidden-to-hidden bias [h].
        pub bias_hh: String,
    }
    /// The names of RNN layer `l` of block `b` (DIEN).
    pub fn rnn(b: usize, l: usize) -> Rnn {
        let p = format!("blk.{b}.rnn.{l}");
        Rnn {
            weight_ih: format!("{p}.weight_ih"),
            weight_hh: format!("{p}.weight_hh"),
            bias_ih: format!("{p}.bias_ih"),
            bias_hh: format!("{p}.bias_hh"),
        }
    }
}

/// What a parameter is, which decides its initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// An embedding table with this many rows.
    Table { rows: u64 },
    /// A dense weight matrix [fan_out, fan_in].
    Weight { fan_in: usize, fan_out: usize },
    /// A bias vector of `fan_out` elements.
    Bias { fan_out: usize },
}

/// One named parameter tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// PyTorch-style name.
    pub name: String,
    /// Shape, row-major.
    pub shape: Vec<usize>,
    /// Kind (for initialisation).
    pub kind: ParamKind,
}

impl Param {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

fn linear(out: &mut Vec<Param>, prefix: &str, fan_in: usize, fan_out: usize, bias: bool) {
    out.push(Param {
        name: names::weight(prefix),
        shape: vec![fan_out, fan_in],
        kind: ParamKind::Weight { fan_in, fan_out },
    });
    if bias {
        out.push(Param {
            name: names::bias(prefix),
            shape: vec![fan_out],
            kind: ParamKind::Bias { fan_out },
        });
    }
}

fn mlp(out: &mut Vec<Param>, prefix: &str, m: &Mlp) {
    for (i, w) in m.widths.windows(2).enumerate() {
        linear(out, &names::layer(prefix, i), w[0], w[1], true);
    }
}

/// Every parameter of a spec, in a fixed order.
pub fn params(spec: &ModelSpec) -> Vec<Param> {
    let mut out = Vec::new();
    let groups = spec.table_groups();
    for (t, &g) in groups.iter().enumerate() {
        let grp = &spec.tables[g];
        out.push(Param {
            name: names::table(t),
            shape: vec![grp.rows as usize, grp.dim],
            kind: ParamKind::Table { rows: grp.rows },
        });
    }
    if let Some(b) = &spec.bottom_mlp {
        mlp(&mut out, names::BOTTOM, b);
    }
    for (b, block) in spec.blocks.iter().enumerate() {
        match block {
            Block::Attention { behaviour, mlp: m, .. } => {
                let units = spec.group(behaviour).map_or(0, |g| spec.tables[g].count);
                for u in 0..units {
                    mlp(&mut out, &names::attention(b, u), m);
                }
            }
            Block::Rnn { sequence, hidden } => {
                let mut input = spec.group(sequence).map_or(0, |g| spec.tables[g].dim);
                for (l, &h) in hidden.iter().enumerate() {
                    let n = names::rnn(b, l);
                    out.push(Param {
                        name: n.weight_ih,
                        shape: vec![h, input],
                        kind: ParamKind::Weight { fan_in: input, fan_out: h },
                    });
                    out.push(Param {
                        name: n.weight_hh,
                        shape: vec![h, h],
                        kind: ParamKind::Weight { fan_in: h, fan_out: h },
                    });
                    out.push(Param { name: n.bias_ih, shape: vec![h], kind: ParamKind::Bias { fan_out: h } });
                    out.push(Param { name: n.bias_hh, shape: vec![h], kind: ParamKind::Bias { fan_out: h } });
                    if l + 1 < hidden.len() {
                        linear(&mut out, &names::rnn_fc(b, l), h, h, true);
                    }
                    input = h;
                }
            }
            Block::Ncf { mlp: m, .. } => mlp(&mut out, &names::ncf(b), m),
        }
    }
    if let Interaction::Cross { layers, low_rank } = spec.interaction {
        let x0 = spec.features_width();
        for l in 0..layers {
            let (u, v) = names::cross(l);
            linear(&mut out, &u, x0, low_rank, false);
            linear(&mut out, &v, low_rank, x0, true);
        }
    }
    mlp(&mut out, names::TOP, &spec.top_mlp);
    if let Some(h) = &spec.heads {
        for k in 0..h.tasks {
            mlp(&mut out, &names::head(k), &h.mlp);
        }
    }
    out
}

/// How seeded weights are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// As DeepRecSys does: dense weights N(0, sqrt(2/(fan_in+fan_out))), biases N(0, sqrt(1/fan_out)),
    /// tables U(-sqrt(1/rows), sqrt(1/rows)).
    DeepRecSys,
    /// Uniform everywhere with the same variances, from a counter-based hash that the Python reference
    /// reproduces bit for bit (used by fixtures too large to commit with their weights).
    Portable,
}

/// Where a model's weights come from.
#[derive(Debug)]
pub enum WeightSource {
    /// Drawn from a seed.
    Init {
        /// Distribution family.
        init: Init,
        /// Seed; each tensor mixes its name into it.
        seed: u64,
    },
    /// A safetensors file (e.g. a trained checkpoint or a fixture).
    File(TensorFile),
}

impl WeightSource {
    /// The tensor for `p`, checked for shape and finiteness; errors name the model and tensor.
    pub fn tensor(&self, model: &str, p: &Param) -> Result<Cow<'_, [f32]>> {
        let err = |msg: String| ModelError::Weight { model: model.into(), tensor: p.name.clone(), msg };
        let data: Cow<'_, [f32]> = match self {
            WeightSource::Init { init, seed } => Cow::Owned(init_tensor(*init, *seed, p)),
            WeightSource::File(f) => {
                let shape = f.shape(&p.name).ok_or_else(|| err(format!("missing from {}", f.path)))?;
                if shape != p.shape.as_slice() {
                    return Err(err(format!(
                        "shape {shape:?} in {} but the spec needs {:?}",
                        f.path, p.shape
                    )));
                }
                f.f32(&p.name).map_err(err)?
            }
        };
        if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
            return Err(err(format!("non-finite value {} at element {pos}", data[pos])));
        }
        Ok(data)
    }
}

/// FNV-1a of a tensor name: mixes the name into the seed so every tensor gets its own stream.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// SplitMix64 finaliser of `x + golden`: a counter-based generator (element `i` needs no state).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

/// Key of tensor `name` under `seed`, shared with the Python reference.
pub fn portable_key(seed: u64, name: &str) -> u64 {
    fnv1a(name) ^ seed.wrapping_mul(0x9E3779B97F4A7C15)
}

/// Element `i` of a portable tensor with half-width `a`: (2u − 1)·a with u a 24-bit uniform, in f64
/// then rounded once to f32 (so numpy gets the same bits).
#[inline]
pub fn portable_value(key: u64, i: u64, a: f64) -> f32 {
    let u = (splitmix64(key.wrapping_add(i)) >> 40) as f64 / (1u64 << 24) as f64;
    ((2.0 * u - 1.0) * a) as f32
}

/// Half-width of the portable uniform for a parameter (uniform of the same variance as DeepRecSys').
fn portable_half_width(kind: ParamKind) -> f64 {
    match kind {
        ParamKind::Table { rows } => (1.0 / rows as f64).sqrt(),
        ParamKind::Weight { fan_in, fan_out } => (6.0 / (fan_in + fan_out) as f64).sqrt(),
        ParamKind::Bias { fan_out } => (3.0 / fan_out as f64).sqrt(),
    }
}

/// Draws one tensor.
pub fn init_tensor(init: Init, seed: u64, p: &Param) -> Vec<f32> {
    let key = portable_key(seed, &p.name);
    let n = p.numel();
    match (init, p.kind) {
        // Tables are uniform in both families; the counter-based draw is fast and needs no state.
        (Init::Portable, kind) | (Init::DeepRecSys, kind @ ParamKind::Table { .. }) => {
            let a = portable_half_width(kind);
            let mut out = vec![0.0f32; n];
            // Counter-based values are independent, so large tables fill in parallel (full-size tables
            // hold up to ~10^9 values).
            let threads =
                if n < 1 << 22 { 1 } else { std::thread::available_parallelism().map_or(1, |t| t.get()) };
            let chunk = n.div_ceil(threads).max(1);
            std::thread::scope(|s| {
                for (c, part) in out.chunks_mut(chunk).enumerate() {
                    s.spawn(move || {
                        let base = (c * chunk) as u64;
                        for (i, v) in part.iter_mut().enumerate() {
                            *v = portable_value(key, base + i as u64, a);
                        }
                    });
                }
            });
            out
        }
        (Init::DeepRecSys, ParamKind::Weight { fan_in, fan_out }) => {
            normal(key, n, (2.0 / (fan_in + fan_out) as f64).sqrt())
        }
        (Init::DeepRecSys, ParamKind::Bias { fan_out }) => normal(key, n, (1.0 / fan_out as f64).sqrt()),
    }
}

fn normal(key: u64, n: usize, sd: f64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(key);
    // sd > 0 always (fan sizes are validated ≥ 1), so Normal::new cannot fail.
    let d = Normal::new(0.0f64, sd).expect("positive standard deviation");
    (0..n).map(|_| d.sample(&mut rng) as f32).collect()
}

/// A safetensors file held in memory, with its header parsed once.
#[derive(Debug)]
pub struct TensorFile {
    /// Where it was read from (for messages).
    pub path: String,
    bytes: Vec<u8>,
    data_start: usize,
    infos: HashMap<String, TensorInfo>,
}

impl TensorFile {
    /// Reads and parses `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|source| ModelError::Io { path: path.display().to_string(), source })?;
        Self::from_bytes(path.display().to_string(), bytes)
    }

    /// Parses an in-memory file.
    pub fn from_bytes(path: String, bytes: Vec<u8>) -> Result<Self> {
        let (n, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| ModelError::Io {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not safetensors: {e:?}")),
        })?;
        let infos = meta.tensors().into_iter().map(|(k, v)| (k, v.clone())).collect();
        Ok(Self { path, bytes, data_start: 8 + n, infos })
    }

    /// Names of all tensors, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.infos.keys().map(|s| s.as_str()).collect();
        v.sort_unstable();
        v
    }

    /// Shape of `name`, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.infos.get(name).map(|i| i.shape.as_slice())
    }

    fn raw(&self, name: &str) -> std::result::Result<(Dtype, &[u8]), String> {
        let info = self.infos.get(name).ok_or_else(|| format!("missing from {}", self.path))?;
        let (a, b) = info.data_offsets;
        Ok((info.dtype, &self.bytes[self.data_start + a..self.data_start + b]))
    }

    /// Tensor `name` as f32 (F32 borrowed when aligned, F64 narrowed).
    pub fn f32(&self, name: &str) -> std::result::Result<Cow<'_, [f32]>, String> {
        let (dtype, raw) = self.raw(name)?;
        match dtype {
            Dtype::F32 => Ok(Cow::Owned(
                raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            )),
            Dtype::F64 => Ok(Cow::Owned(
                raw.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")) as f32)
                    .collect(),
            )),
            other => Err(format!("dtype {other:?} in {}; expected F32 or F64", self.path)),
        }
    }

    /// Tensor `name` as f64 (F32 widened).
    pub fn f64(&self, name: &str) -> std::result::Result<Vec<f64>, String> {
        let (dtype, raw) = self.raw(name)?;
        match dtype {
            Dtype::F64 => {
                Ok(raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8"))).collect())
            }
            _ => Ok(self.f32(name)?.iter().map(|&v| f64::from(v)).collect()),
        }
    }

    /// Tensor `name` as i64 (I64 or I32).
    pub fn i64(&self, name: &str) -> std::result::Result<Vec<i64>, String> {
        let (dtype, raw) = self.raw(name)?;
        match dtype {
            Dtype::I64 => {
                Ok(raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8"))).collect())
            }
            Dtype::I32 => Ok(raw
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("4"))))
                .collect()),
            other => Err(format!("dtype {other:?} in {}; expected I64 or I32", self.path)),
        }
    }
}

/// A named tensor in memory: (name, shape, row-major values).
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Writes named f32 tensors as a safetensors file.
pub fn save(path: &Path, tensors: &[NamedTensor]) -> Result<()> {
    let io = |e: String| ModelError::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    };
    let bytes: Vec<Vec<u8>> =
        tensors.iter().map(|(_, _, d)| d.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), b) in tensors.iter().zip(&bytes) {
        let v = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), b)
            .map_err(|e| io(format!("{name}: {e:?}")))?;
        views.push((name.clone(), v));
    }
    safetensors::serialize_to_file(views, &None, path).map_err(|e| io(format!("{e:?}")))
}

/// Every parameter of `spec` drawn from `source`, as (name, shape, data): for saving small models.
pub fn materialize(spec: &ModelSpec, source: &WeightSource) -> Result<Vec<NamedTensor>> {
    params(spec)
        .into_iter()
        .map(|p| {
            let d = source.tensor(&spec.name, &p)?.into_owned();
            Ok((p.name, p.shape, d))
        })
        .collect()
}
