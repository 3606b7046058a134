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
    /// Reads and parses `path`; a file larger than the memory the OS says is available is refused
    /// before it is read.
    pub fn open(path: &Path) -> Result<Self> {
        let max = hercules_kernels::mem::available_memory().map_or(u64::MAX, |b| b as u64);
        let bytes = crate::limits::read_bounded(path, max, "a checkpoint (the available memory)")?;
        Self::from_bytes(path.display().to_string(), bytes)
    }

    /// Parses an in-memory file. Every failure is a one-line [`ModelError::Checkpoint`]; the layout
    /// (header length, JSON, tensor extents) is checked before the safetensors crate sees the bytes.
    pub fn from_bytes(path: String, bytes: Vec<u8>) -> Result<Self> {
        let err = |msg: String| ModelError::Checkpoint { path: crate::spec::one_line(&path), msg };
        check_layout(&bytes).map_err(err)?;
        let (n, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| {
            use safetensors::SafeTensorError as E;
            err(match e {
                E::InvalidOffset(t) => {
                    format!("tensor {t:?}: data offsets do not follow the previous tensor")
                }
                E::TensorInvalidInfo => "a tensor's data offsets do not match its shape and dtype".into(),
                E::MetadataIncompleteBuffer => {
                    "the tensors do not cover the data exactly (truncated or padded file)".into()
                }
                E::ValidationOverflow => "a tensor's shape overflows when multiplied out".into(),
                E::InvalidHeaderDeserialization => {
                    "the header's entries are not all {dtype, shape, data_offsets} with a known dtype".into()
                }
                other => format!("not a safetensors file ({other:?})"),
            })
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

/// The safetensors crate's bound on the JSON header.
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Checks what the safetensors crate would otherwise report without detail (or, for offsets near
/// `usize::MAX`, overflow on): the header length, the header's JSON, and that no tensor ends past the
/// data.
fn check_layout(bytes: &[u8]) -> std::result::Result<(), String> {
    let Some(len) = bytes.get(..8) else {
        return Err(format!(
            "only {} bytes; a safetensors file starts with an 8-byte header length",
            bytes.len()
        ));
    };
    let n = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    let rest = (bytes.len() - 8) as u64;
    if n > MAX_HEADER_BYTES {
        return Err(format!("header length {n} exceeds the {MAX_HEADER_BYTES} bytes safetensors allows"));
    }
    if n > rest {
        return Err(format!("truncated: the header claims {n} bytes but only {rest} follow"));
    }
    let data = rest - n;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n as usize]).map_err(|e| format!("header: {e}"))?;
    for (name, info) in &header {
        if name == "__metadata__" {
            continue;
        }
        let end = info.get("data_offsets").and_then(|o| o.get(1)).and_then(serde_json::Value::as_u64);
        if let Some(end) = end.filter(|&e| e > data) {
            return Err(format!(
                "truncated: tensor {:?} ends at data byte {end} but the file holds {data}",
                crate::spec::one_line(name)
            ));
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A file of raw bytes behind a JSON header.
    fn file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(data);
        b
    }

    fn open_err(bytes: Vec<u8>) -> String {
        let e = TensorFile::from_bytes("w.safetensors".into(), bytes).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e:?}");
        e
    }

    #[test]
    fn broken_checkpoints_fail_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        save(&path, &[("a".into(), vec![2, 3], vec![1.0; 6])]).unwrap();
        let good = std::fs::read(&path).unwrap();
        TensorFile::from_bytes("w.safetensors".into(), good.clone()).unwrap();
        let e = |bytes: Vec<u8>, want: &str| {
            let got = open_err(bytes);
            assert_eq!(got, format!("checkpoint w.safetensors: {want}"));
        };
        e(Vec::new(), "only 0 bytes; a safetensors file starts with an 8-byte header length");
        e(
            good[..good.len() - 1].to_vec(),
            "truncated: tensor \"a\" ends at data byte 24 but the file holds 23",
        );
        e(
            good[..20].to_vec(),
            &format!("truncated: the header claims {} bytes but only 12 follow", good.len() - 32),
        );
        let mut huge = good.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        e(huge, "header length 18446744073709551615 exceeds the 100000000 bytes safetensors allows");
        e(file("[1, 2]", b""), "header: invalid type: sequence, expected a map at line 1 column 0");
        e(file("{\"a\": 1", b""), "header: EOF while parsing an object at line 1 column 7");
        // Offsets near usize::MAX would overflow inside the safetensors crate.
        let max = u64::MAX;
        e(
            file(
                &format!(r#"{{"a": {{"dtype": "U8", "shape": [{max}], "data_offsets": [0, {max}]}}}}"#),
                b"",
            ),
            &format!("truncated: tensor \"a\" ends at data byte {max} but the file holds 0"),
        );
        e(
            file(
                r#"{"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}}"#,
                &[0; 4],
            ),
            "a tensor's shape overflows when multiplied out",
        );
        e(
            file(r#"{"a": {"dtype": "F32", "shape": [1000000, 1000000], "data_offsets": [0, 4]}}"#, &[0; 4]),
            "a tensor's data offsets do not match its shape and dtype",
        );
        e(
            file(r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, &[0; 8]),
            "the tensors do not cover the data exactly (truncated or padded file)",
        );
        e(
            file(r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, &[0; 8]),
            "tensor \"a\": data offsets do not follow the previous tensor",
        );
        e(
            file(r#"{"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}"#, &[0; 4]),
            "the header's entries are not all {dtype, shape, data_offsets} with a known dtype",
        );
    }

    #[test]
    fn wrong_dtype_or_shape_names_the_tensor() {
        let f = TensorFile::from_bytes(
            "w.safetensors".into(),
            file(r#"{"a": {"dtype": "I32", "shape": [2], "data_offsets": [0, 8]}}"#, &[0; 8]),
        )
        .unwrap();
        let src = WeightSource::File(f);
        let p = |shape: Vec<usize>| Param { name: "a".into(), shape, kind: ParamKind::Bias { fan_out: 2 } };
        let e = src.tensor("m", &p(vec![2])).unwrap_err().to_string();
        assert_eq!(e, "m: tensor a: dtype I32 in w.safetensors; expected F32 or F64");
        let e = src.tensor("m", &p(vec![3])).unwrap_err().to_string();
        assert_eq!(e, "m: tensor a: shape [2] in w.safetensors but the spec needs [3]");
        let e = src.tensor("m", &Param { name: "b".into(), ..p(vec![2]) }).unwrap_err().to_string();
        assert_eq!(e, "m: tensor b: missing from w.safetensors");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        /// Random bytes, and random headers behind a consistent length prefix: never a panic, errors
        /// are one line.
        #[test]
        fn header_reader_survives_any_bytes(
            raw in proptest::collection::vec(any::<u8>(), 0..64),
            header in r#"\{("[a-z]{1,2}": \{"dtype": "(F32|F64|U8|I64|BOOL|X)", "shape": \[([0-9]{1,20}(, )?){0,3}\], "data_offsets": \[[0-9]{1,20}, [0-9]{1,20}\]\}(, )?){0,3}\}|\PC{0,40}"#,
            data in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            for bytes in [raw, file(&header, &data)] {
                match TensorFile::from_bytes("p".into(), bytes) {
                    Err(e) => prop_assert!(!e.to_string().contains('\n'), "{}", e),
                    Ok(f) => {
                        for name in f.names() {
                            let _ = (f.f32(name), f.f64(name), f.i64(name));
                        }
                    }
                }
            }
        }
    }
}
