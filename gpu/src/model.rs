//! Whole-model forward on the GPU for every zoo model: DLRM-style (bottom MLP, embeddings, cat or dot
//! interaction, top MLP, multi-task heads), DCNv2 cross layers (MLPerf DLRM v2), and the blocks of
//! DIN (attention units), DIEN (tanh RNN layers with FC + softmax + add between them) and NCF (MF sum
//! and MLP branch). Built from the same weights as the CPU model (`hercules-models`: same parameter
//! names, same seeded or checkpointed values, tables quantised by the same code), run by
//! [`GpuRunner`]s that each own a CUDA stream, cuBLAS handle (with its own workspace), pinned host
//! buffers and device workspace, so several queries can overlap on one device.
//!
//! One forward: the query's dense features, bag offsets and indices are packed into one pinned host
//! buffer and copied in one transfer; then the device work: bottom MLP (its last layer writing straight
//! into the feature matrix x0), one table-batched embedding launch (into x0's table columns, or for a
//! model with blocks into a pooled matrix whose table columns are then copied into x0), the blocks
//! (writing into their x0 columns), the interaction, the top MLP and heads; then one copy of the output
//! back (and the kernel's index-guard word), and a stream synchronisation. All of it, copies included,
//! is inside [`GpuRunner::forward`].
//!
//! CUDA graphs ([`GpuRunner::set_graphs`], off by default): the device work between the two copies is
//! captured once per (batch size, index width) — after one eager run of that shape, so lazy module
//! loading and cuBLAS' heuristics happen outside capture — and replayed from a bounded cache (the policy
//! is [`crate::graph`]'s). The copies stay outside the graph (their sizes vary with the number of
//! indices); every kernel argument depends only on the batch size, because the staging layout
//! ([`crate::layout`]) puts the variable-length indices last.
//!
//! This module holds [`GpuModel`] (building and uploading) and [`GpuRunner`] (buffers, the forward, graph
//! capture and replay, the DLRM-style parts of the device work); the blocks' layers and launches are in
//! its submodule `blocks`. The layout and graph-cache items it used to define are re-exported here
//! (`hercules_gpu::model::{feature_layout, GraphCache, GRAPH_MAX_BATCH, ...}` still work).
//!
//! The math of every block follows the CPU code in `models/src/blocks/` (same operation order in the
//! small kernels; cuBLAS sums the products in its own order).

use crate::device::{Device, Source};
use crate::embedding::{BagPtrs, GpuTables};
use crate::error::{drv, GpuError, Result};
use crate::mlp::{act_code, elementwise_blocks, Blas, GpuLinear, Strided};
use crate::plan::{plan_bags, IndexVec, TableBags, TableShape};
use cudarc::driver::{
    CudaFunction, CudaGraph, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PinnedHostSlice, PushKernelArg,
};
use hercules_kernels::embedding::{Bags, DType, EmbeddingTable, Indices, Pooling};
use hercules_kernels::mlp::Activation;
use hercules_models::inputs::{IndexBuf, InputSet};
use hercules_models::spec::{Act, Block, DTypeSpec, Feature, Interaction, Mlp, PoolingSpec};
use hercules_models::weights::{names, params};
use hercules_models::{ModelSpec, Scale, WeightSource};
use std::collections::HashMap;
use std::sync::Arc;

mod blocks;
#[cfg(test)]
pub(crate) use blocks::BLOCK_KERNELS;
use blocks::{GpuBlock, RnnLayer, UnitLayer};

pub use crate::graph::{GraphCache, GraphStep, GRAPH_CACHE, GRAPH_MAX_BATCH};
pub use crate::layout::{
    check_supported, dot_pairs, feature_layout, staging_layout, FeatureLayout, StagingLayout,
};

/// Bytes of the cuBLAS workspace each runner sets on its handle (enough for Hopper's kernels), so that
/// cuBLAS never allocates during a forward, which graph capture needs.
pub const BLAS_WORKSPACE_BYTES: usize = 32 << 20;

fn act(a: Act) -> Activation {
    match a {
        Act::None => Activation::None,
        Act::Relu => Activation::Relu,
        Act::Sigmoid => Activation::Sigmoid,
    }
}

enum GpuInteraction {
    Cat,
    Dot {
        _pairs: CudaSlice<u32>,
        pairs_ptr: u64,
        npairs: usize,
        width: usize,
    },
    /// DCNv2: (U without bias, V with bias) per layer; low rank.
    Cross {
        layers: Vec<(GpuLinear, GpuLinear)>,
        rank: usize,
    },
}

/// Kernels of a model's forward.
struct Kernels {
    copy_cols: CudaFunction,
    dot: CudaFunction,
    din_input: CudaFunction,
    unit_bias_act: CudaFunction,
    sum_units: CudaFunction,
    gather_steps: CudaFunction,
    rnn_step: CudaFunction,
    softmax_add: CudaFunction,
    add_cols: CudaFunction,
    cross_update: CudaFunction,
}

/// A model's weights on the device, shared by its runners.
pub struct GpuModel {
    /// The spec as built (rows scaled).
    pub spec: ModelSpec,
    /// The scale that was applied.
    pub scale: Scale,
    tables: GpuTables,
    shapes: Vec<TableShape>,
    layout: FeatureLayout,
    bottom: Vec<GpuLinear>,
    blocks: Vec<GpuBlock>,
    top: Vec<GpuLinear>,
    heads: Vec<Vec<GpuLinear>>,
    interaction: GpuInteraction,
    dense_in: usize,
    dense_out: usize,
    x0_width: usize,
    inter_out: usize,
    out_width: usize,
    lookups_per_sample: usize,
    /// Floats per sample of the four block scratch buffers.
    scratch: [usize; 4],
    /// Widest layer input or output of the MLPs run through the ping-pong buffers.
    buf_width: usize,
    k: Kernels,
}

impl GpuModel {
    /// Scales `spec`, checks it is supported and fits the device, and uploads its weights from `source`
    /// (the same tensors `hercules_models::Model::build` reads).
    pub fn build(dev: &Device, spec: &ModelSpec, scale: Scale, source: &WeightSource) -> Result<Self> {
        let spec = spec.scaled(scale)?;
        spec.validate()?;
        let layout = feature_layout(&spec)?;
        let name = spec.name.clone();
        let plist = params(&spec);
        let by_name: HashMap<&str, usize> =
            plist.iter().enumerate().map(|(i, p)| (p.name.as_str(), i)).collect();
        let get = |n: &str| -> Result<std::borrow::Cow<'_, [f32]>> {
            let i =
                by_name.get(n).ok_or_else(|| GpuError::Invalid(format!("model {name}: no parameter {n}")))?;
            Ok(source.tensor(&name, &plist[*i])?)
        };
        let mlp = |prefix: &str, m: &Mlp| -> Result<Vec<GpuLinear>> {
            m.widths
                .windows(2)
                .enumerate()
                .map(|(i, w)| {
                    let l = names::layer(prefix, i);
                    let (wt, b) = (get(&names::weight(&l))?, get(&names::bias(&l))?);
                    GpuLinear::new(dev, &wt, Some(&b), w[0], w[1], act(m.act(i)))
                })
                .collect()
        };
        let upload = |v: &[f32], what: &str| -> Result<(CudaSlice<f32>, u64)> {
            let s = dev.stream();
            let d = s.clone_htod(v).map_err(drv(what))?;
            let p = d.device_ptr(s).0;
            Ok((d, p))
        };
        let groups = spec.table_groups();
        let mut specs = Vec::with_capacity(groups.len());
        for &g in &groups {
            let grp = &spec.tables[g];
            let dtype = match grp.dtype {
                DTypeSpec::F32 => DType::F32,
                DTypeSpec::F16 => DType::F16,
                DTypeSpec::Int8 => DType::Int8,
            };
            let pooling = match grp.pooling {
                PoolingSpec::Sum => Pooling::Sum,
                PoolingSpec::Mean => Pooling::Mean,
            };
            specs.push((TableShape { rows: grp.rows, dim: grp.dim, dtype }, pooling));
        }
        let mut tables = GpuTables::zeroed(dev, &specs)?;
        for (t, (shape, _)) in specs.iter().enumerate() {
            let data = get(&names::table(t))?;
            // The CPU path's own encoder, so quantised rows are identical on both sides.
            let cpu = EmbeddingTable::from_f32(shape.rows as usize, shape.dim, shape.dtype, &data)?;
            tables.upload_table(t, &cpu)?;
        }
        if tables.out_width() != layout.pooled_width {
            return Err(GpuError::Unsupported(format!("model {name}: table widths do not add up")));
        }
        let bottom = match &spec.bottom_mlp {
            Some(m) => mlp(names::BOTTOM, m)?,
            None => Vec::new(),
        };
        let feats = spec.features();
        let feat_col = |f: Feature| -> Result<usize> {
            feats
                .iter()
                .position(|&x| x == f)
                .map(|i| layout.cols[i])
                .ok_or_else(|| GpuError::Invalid(format!("model {name}: {f:?} is not a feature")))
        };
        let start = |g: &str| -> Result<(usize, usize)> {
            let gi = spec
                .group(g)
                .ok_or_else(|| GpuError::Invalid(format!("model {name}: no table group {g}")))?;
            Ok((spec.group_start(gi), gi))
        };
        let widest = |ls: &[GpuLinear]| ls.iter().map(|l| l.n().max(l.k())).max().unwrap_or(0);
        let mut scratch = [0usize; 4];
        let mut need = |i: usize, v: usize| scratch[i] = scratch[i].max(v);
        let mut buf_width = widest(&bottom);
        let mut blocks = Vec::with_capacity(spec.blocks.len());
        for (b, block) in spec.blocks.iter().enumerate() {
            let col = feat_col(Feature::Block(b))?;
            blocks.push(match block {
                Block::Attention { behaviour, query, mlp: m } => {
                    let (first, g) = start(behaviour)?;
                    let (q, _) = start(query)?;
                    let (units, dim) = (spec.tables[g].count, spec.tables[g].dim);
                    let mut layers = Vec::new();
                    for (i, w) in m.widths.windows(2).enumerate() {
                        let (k, n) = (w[0], w[1]);
                        let mut ws = Vec::with_capacity(units * n * k);
                        let mut bs = Vec::with_capacity(units * n);
                        for u in 0..units {
                            let l = names::layer(&names::attention(b, u), i);
                            let (wt, bt) = (get(&names::weight(&l))?, get(&names::bias(&l))?);
                            if wt.len() != n * k || bt.len() != n {
                                return Err(GpuError::Invalid(format!(
                                    "model {name}: attention unit {u} layer {i} is not {k}→{n}"
                                )));
                            }
                            ws.extend_from_slice(&wt);
                            bs.extend_from_slice(&bt);
                        }
                        let (w_dev, w_ptr) = upload(&ws, "upload attention weights")?;
                        let (b_dev, b_ptr) = upload(&bs, "upload attention biases")?;
                        let a = act_code(act(m.act(i)));
                        layers.push(UnitLayer { _w: w_dev, _b: b_dev, w_ptr, b_ptr, k, n, act: a });
                    }
                    let wmax = m.widths.iter().copied().max().unwrap_or(0).max(3 * dim);
                    need(0, units * wmax);
                    need(1, units * wmax);
                    GpuBlock::Attention {
                        beh_col: layout.table_cols[first],
                        q_col: layout.table_cols[q],
                        dim,
                        units,
                        layers,
                        col,
                    }
                }
                Block::Rnn { sequence, hidden } => {
                    let (first, g) = start(sequence)?;
                    let (steps, dim) = (spec.tables[g].count, spec.tables[g].dim);
                    if steps == 0 {
                        return Err(GpuError::Invalid(format!("model {name}: RNN over an empty sequence")));
                    }
                    let mut input = dim;
                    let mut layers = Vec::new();
                    let mut fcs = Vec::new();
                    for (l, &h) in hidden.iter().enumerate() {
                        let n = names::rnn(b, l);
                        let (wih, bih) = (get(&n.weight_ih)?, get(&n.bias_ih)?);
                        let (whh, bhh) = (get(&n.weight_hh)?, get(&n.bias_hh)?);
                        if bhh.len() != h {
                            return Err(GpuError::Invalid(format!(
                                "model {name}: {} is not {h} long",
                                n.bias_hh
                            )));
                        }
                        let (b_dev, b_hh_ptr) = upload(&bhh, "upload RNN bias")?;
                        layers.push(RnnLayer {
                            ih: GpuLinear::new(dev, &wih, Some(&bih), input, h, Activation::None)?,
                            hh: GpuLinear::new(dev, &whh, None, h, h, Activation::None)?,
                            _b_hh: b_dev,
                            b_hh_ptr,
                            h,
                        });
                        if l + 1 < hidden.len() {
                            let fc = names::rnn_fc(b, l);
                            let (w, bb) = (get(&names::weight(&fc))?, get(&names::bias(&fc))?);
                            fcs.push(GpuLinear::new(dev, &w, Some(&bb), h, h, Activation::None)?);
                        }
                        input = h;
                    }
                    let hmax = hidden.iter().copied().max().unwrap_or(0);
                    need(0, steps * hmax.max(dim));
                    need(1, steps * hmax.max(dim));
                    need(2, steps * hmax);
                    need(3, hmax);
                    GpuBlock::Rnn { seq_col: layout.table_cols[first], steps, dim, layers, fcs, col }
                }
                Block::Ncf { mf, mlp_tables, mlp: m } => {
                    let (a, ga) = start(&mf[0])?;
                    let (bb, _) = start(&mf[1])?;
                    let (c, gc) = start(&mlp_tables[0])?;
                    let (d, gd) = start(&mlp_tables[1])?;
                    let mlp_dims = [spec.tables[gc].dim, spec.tables[gd].dim];
                    let layers = mlp(&names::ncf(b), m)?;
                    buf_width = buf_width.max(widest(&layers));
                    need(0, mlp_dims[0] + mlp_dims[1]);
                    GpuBlock::Ncf {
                        mf_cols: [layout.table_cols[a], layout.table_cols[bb]],
                        dim: spec.tables[ga].dim,
                        mlp_cols: [layout.table_cols[c], layout.table_cols[d]],
                        mlp_dims,
                        mlp: layers,
                        col,
                    }
                }
            });
        }
        let top = mlp(names::TOP, &spec.top_mlp)?;
        let heads = match &spec.heads {
            Some(h) => (0..h.tasks).map(|k| mlp(&names::head(k), &h.mlp)).collect::<Result<_>>()?,
            None => Vec::new(),
        };
        buf_width = buf_width.max(widest(&top)).max(heads.iter().map(|h| widest(h)).max().unwrap_or(0));
        let dense_out = spec.dense_out();
        let x0_width = layout.x0_width;
        let interaction = match spec.interaction {
            Interaction::Dot { self_interaction } => {
                let width = spec.feature_width(feats[0]);
                if feats.iter().any(|&f| spec.feature_width(f) != width) {
                    return Err(GpuError::Invalid(format!(
                        "model {name}: dot interaction over unequal widths"
                    )));
                }
                let pairs = dot_pairs(feats.len(), self_interaction);
                let flat: Vec<u32> = pairs.iter().flat_map(|&(i, j)| [i, j]).collect();
                let npairs = pairs.len();
                let s = dev.stream();
                let d = s
                    .clone_htod(if flat.is_empty() { &[0u32, 0][..] } else { &flat })
                    .map_err(drv("upload pairs"))?;
                let pairs_ptr = d.device_ptr(s).0;
                GpuInteraction::Dot { _pairs: d, pairs_ptr, npairs, width }
            }
            Interaction::Cross { layers, low_rank } => {
                let cl = (0..layers)
                    .map(|l| {
                        let (u, v) = names::cross(l);
                        let (u, v, vb) =
                            (get(&names::weight(&u))?, get(&names::weight(&v))?, get(&names::bias(&v))?);
                        Ok((
                            GpuLinear::new(dev, &u, None, x0_width, low_rank, Activation::None)?,
                            GpuLinear::new(dev, &v, Some(&vb), low_rank, x0_width, Activation::None)?,
                        ))
                    })
                    .collect::<Result<Vec<_>>>()?;
                need(0, low_rank);
                need(1, x0_width);
                GpuInteraction::Cross { layers: cl, rank: low_rank }
            }
            Interaction::Cat {} => GpuInteraction::Cat,
        };
        let lookups_per_sample = spec.tables.iter().map(|g| g.count * g.lookups).sum();
        dev.stream().synchronize().map_err(drv("upload model"))?;
        let f = |src, n| dev.function(src, n);
        let k = Kernels {
            copy_cols: f(Source::Ops, "copy_cols")?,
            dot: f(Source::Ops, "dot_interaction")?,
            din_input: f(Source::Blocks, "din_unit_input")?,
            unit_bias_act: f(Source::Blocks, "unit_bias_act")?,
            sum_units: f(Source::Blocks, "sum_units")?,
            gather_steps: f(Source::Blocks, "gather_steps")?,
            rnn_step: f(Source::Blocks, "rnn_step")?,
            softmax_add: f(Source::Blocks, "softmax_add")?,
            add_cols: f(Source::Blocks, "add_cols")?,
            cross_update: f(Source::Blocks, "cross_update")?,
        };
        Ok(Self {
            shapes: specs.iter().map(|s| s.0).collect(),
            dense_in: spec.dense_features,
            dense_out,
            x0_width,
            inter_out: spec.interaction_out(),
            out_width: spec.output_width(),
            lookups_per_sample,
            scratch,
            buf_width,
            k,
            layout,
            tables,
            bottom,
            blocks,
            top,
            heads,
            interaction,
            scale,
            spec,
        })
    }

    /// Width of one output row.
    pub fn output_width(&self) -> usize {
        self.out_width
    }

    /// Bytes of embedding rows on the device.
    pub fn table_bytes(&self) -> usize {
        self.tables.bytes()
    }

    /// A runner with its own stream for batches of up to `max_batch` samples. It holds the model, so it
    /// can live on a serving thread of its own.
    pub fn runner(self: &Arc<Self>, dev: &Device, max_batch: usize) -> Result<GpuRunner> {
        GpuRunner::new(self.clone(), dev, max_batch)
    }
}

/// Bytes of `v` (f32, u32 and u64 have no padding and every byte pattern is readable).
fn bytes_of<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: T is a plain number type here (f32/u32/u64): no padding, no invalid bytes; the length is
    // the slice's size in bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// A device buffer of f32 with its raw address, taken once (launches pass raw addresses only, so
/// nothing cudarc tracks is touched while a graph is captured).
struct DevBuf {
    _mem: CudaSlice<f32>,
    ptr: u64,
}

impl DevBuf {
    fn new(stream: &Arc<CudaStream>, floats: usize) -> Result<Self> {
        if floats > u32::MAX as usize {
            return Err(GpuError::Invalid(format!(
                "a workspace buffer of {floats} floats is beyond the kernels' 32-bit sizes; use a smaller \
                 max batch"
            )));
        }
        let mem = stream.alloc_zeros::<f32>(floats.max(1)).map_err(drv("alloc workspace"))?;
        let ptr = mem.device_ptr(stream).0;
        Ok(Self { _mem: mem, ptr })
    }
}

/// Bytes per index.
fn lay_ib(wide: bool) -> usize {
    if wide {
        8
    } else {
        4
    }
}

/// Address `floats` f32 values past `ptr`.
fn at(ptr: u64, floats: usize) -> u64 {
    ptr + 4 * floats as u64
}

/// `v` as a kernel's u32 argument, or an error naming it.
fn u32c(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v)
        .map_err(|_| GpuError::Invalid(format!("{what} = {v} is beyond the kernels' 32-bit sizes")))
}

/// Per-stream state that runs one query at a time on a [`GpuModel`].
pub struct GpuRunner {
    // Dropped first: the graphs reference the buffers and the stream below.
    graphs: GraphCache<CudaGraph>,
    model: Arc<GpuModel>,
    stream: Arc<CudaStream>,
    blas: Blas,
    cap: usize,
    staging: PinnedHostSlice<u8>,
    staging_ptr: *mut u8,
    input: CudaSlice<u8>,
    input_ptr: u64,
    x0: DevBuf,
    pooled: DevBuf,
    inter: DevBuf,
    bufs: [DevBuf; 2],
    top_out: DevBuf,
    out: DevBuf,
    scratch: [DevBuf; 4],
    out_host: PinnedHostSlice<f32>,
    out_host_ptr: *mut f32,
    err_host: PinnedHostSlice<u64>,
    err_host_ptr: *mut u64,
}

// SAFETY: the raw pointers address the pinned buffers owned by the same struct, and the graphs are
// graph objects of this runner alone; a runner is used by one thread at a time (&mut self for every
// forward and every graph call), which is all CUDA asks of graph objects.
unsafe impl Send for GpuRunner {}

impl GpuRunner {
    fn new(owned: Arc<GpuModel>, dev: &Device, max_batch: usize) -> Result<Self> {
        let model = &*owned;
        let cap = max_batch.max(1);
        let stream = dev.new_stream()?;
        let mut blas = Blas::new(stream.clone())?;
        blas.set_workspace(BLAS_WORKSPACE_BYTES)?;
        let top_w = model.spec.top_mlp.out();
        let ctx = dev.context();
        let z = |per_sample: usize| {
            let n = cap
                .checked_mul(per_sample)
                .ok_or_else(|| GpuError::Invalid(format!("{cap} × {per_sample} floats overflow")))?;
            DevBuf::new(&stream, n)
        };
        let pooled_w = if model.layout.direct { 0 } else { model.layout.pooled_width };
        let sc = model.scratch;
        let mut me = Self {
            graphs: GraphCache::new(),
            model: owned.clone(),
            blas,
            cap,
            // SAFETY: the staging buffer's contents are written before they are read.
            staging: unsafe { ctx.alloc_pinned::<u8>(1) }.map_err(drv("cuMemHostAlloc"))?,
            staging_ptr: std::ptr::null_mut(),
            input: stream.alloc_zeros::<u8>(16).map_err(drv("alloc input"))?,
            input_ptr: 0,
            x0: z(model.x0_width)?,
            pooled: z(pooled_w)?,
            inter: z(model.inter_out)?,
            bufs: [z(model.buf_width)?, z(model.buf_width)?],
            top_out: z(top_w)?,
            out: z(model.out_width)?,
            scratch: [z(sc[0])?, z(sc[1])?, z(sc[2])?, z(sc[3])?],
            // SAFETY: read only after a device-to-host copy fills it.
            out_host: unsafe { ctx.alloc_pinned_with_flags::<f32>(cap * model.out_width.max(1), 0) }
                .map_err(drv("cuMemHostAlloc"))?,
            out_host_ptr: std::ptr::null_mut(),
            // SAFETY: read only after a device-to-host copy fills it.
            err_host: unsafe { ctx.alloc_pinned_with_flags::<u64>(1, 0) }.map_err(drv("cuMemHostAlloc"))?,
            err_host_ptr: std::ptr::null_mut(),
            stream,
        };
        me.out_host_ptr = me.out_host.as_mut_ptr().map_err(drv("pinned output"))?;
        me.err_host_ptr = me.err_host.as_mut_ptr().map_err(drv("pinned error word"))?;
        let per_sample_idx = model.lookups_per_sample;
        let lay = staging_layout(cap * model.dense_in, model.shapes.len() * cap + 1, cap * per_sample_idx, 8);
        me.ensure_staging(lay.total, dev)?;
        me.stream.synchronize().map_err(drv("runner setup"))?;
        Ok(me)
    }

    fn ensure_staging(&mut self, bytes: usize, dev: &Device) -> Result<()> {
        if self.staging.len() >= bytes && self.input.len() >= bytes {
            return Ok(());
        }
        let n = bytes.next_power_of_two();
        // SAFETY: the staging buffer is written before every copy out of it.
        self.staging =
            unsafe { dev.context().alloc_pinned::<u8>(n) }.map_err(drv("cuMemHostAlloc (staging)"))?;
        self.staging_ptr = self.staging.as_mut_ptr().map_err(drv("pinned staging"))?;
        self.input = self.stream.alloc_zeros::<u8>(n).map_err(drv("alloc input"))?;
        self.input_ptr = self.input.device_ptr(&self.stream).0;
        // The captured graphs read the old input buffer.
        self.graphs.clear();
        Ok(())
    }

    /// The stream this runner's work goes to.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Allows TF32 tensor-core math in this runner's FP32 GEMMs (off: full FP32, the default the
    /// tests compare with the CPU at 1e-5). Captured graphs are dropped, since they hold the old mode.
    pub fn set_tf32(&mut self, on: bool) -> Result<()> {
        self.blas.set_tf32(on)?;
        let graphs = self.graphs();
        self.set_graphs(false);
        self.set_graphs(graphs);
        Ok(())
    }

    /// Turns CUDA graphs on or off (off by default). On: the device work of a forward is captured per
    /// (batch size, index width) up to [`GpuRunner::set_graph_limits`]' batch, on that shape's second
    /// use, and replayed after. Turning them off drops the captured graphs.
    pub fn set_graphs(&mut self, on: bool) {
        self.graphs.set_enabled(on);
    }

    /// Whether CUDA graphs are on (they switch themselves off when a capture fails; see
    /// [`GpuRunner::graph_failure`]).
    pub fn graphs(&self) -> bool {
        self.graphs.enabled()
    }

    /// The largest batch to capture graphs for, and how many graphs to keep (least recently used
    /// evicted; at least 1).
    pub fn set_graph_limits(&mut self, max_batch: usize, max_graphs: usize) {
        self.graphs.set_limits(max_batch, max_graphs);
    }

    /// Number of captured graphs held.
    pub fn graph_count(&self) -> usize {
        self.graphs.len()
    }

    /// Why graphs were switched off, when a capture failed (forwards then run eagerly).
    pub fn graph_failure(&self) -> Option<&str> {
        self.graphs.failure()
    }

    /// Runs one batch: `out` receives batch × [`GpuModel::output_width`] values. Host-to-device copies of
    /// the inputs and the copy of the output back are included; returns when the output is in `out`.
    pub fn forward(&mut self, dev: &Device, input: &InputSet, out: &mut [f32]) -> Result<()> {
        let model = self.model.clone();
        let m = &*model;
        let bsz = input.batch;
        if bsz == 0 || bsz > self.cap {
            return Err(GpuError::Invalid(format!(
                "batch {bsz} is outside 1..={} (the runner's capacity)",
                self.cap
            )));
        }
        if input.tables.len() != m.shapes.len() || input.dense.len() != bsz * m.dense_in {
            return Err(GpuError::Invalid(format!(
                "input has {} tables and {} dense values; the model needs {} and {}",
                input.tables.len(),
                input.dense.len(),
                m.shapes.len(),
                bsz * m.dense_in
            )));
        }
        let ow = m.out_width;
        if out.len() < bsz * ow {
            return Err(GpuError::Invalid(format!(
                "output buffer holds {} values, needs {}",
                out.len(),
                bsz * ow
            )));
        }
        // 1. Check and pack the inputs into the pinned staging buffer; one copy to the device.
        let bags: Vec<TableBags<'_>> = input
            .tables
            .iter()
            .map(|t| TableBags {
                indices: match &t.indices {
                    IndexBuf::U32(v) => Indices::U32(v),
                    IndexBuf::U64(v) => Indices::U64(v),
                },
                bags: Bags::Offsets(&t.offsets),
                weights: None,
            })
            .collect();
        let plan = plan_bags(&m.shapes, &bags)?;
        let (idx_bytes, wide): (&[u8], bool) = match &plan.indices {
            IndexVec::U32(v) => (bytes_of(v), false),
            IndexVec::U64(v) => (bytes_of(v), true),
        };
        let lay = staging_layout(input.dense.len(), plan.offsets.len(), plan.indices.len(), lay_ib(wide));
        // The captured work assumes the layout of a batch of bsz (dense and offsets sizes fixed by it).
        if lay != staging_layout(bsz * m.dense_in, m.shapes.len() * bsz + 1, plan.indices.len(), lay_ib(wide))
        {
            return Err(GpuError::Invalid(format!(
                "bag plan has {} offsets for {} tables × batch {bsz}",
                plan.offsets.len(),
                m.shapes.len()
            )));
        }
        self.ensure_staging(lay.total, dev)?;
        {
            // SAFETY: staging_ptr addresses the pinned buffer of at least lay.total bytes (ensured above);
            // the previous forward synchronised the stream, so no copy reads it now.
            let st = unsafe { std::slice::from_raw_parts_mut(self.staging_ptr, lay.total) };
            st[lay.err..lay.err + 8].copy_from_slice(&u64::MAX.to_ne_bytes());
            st[lay.dense..lay.dense + 4 * input.dense.len()].copy_from_slice(bytes_of(&input.dense));
            st[lay.offsets..lay.offsets + 4 * plan.offsets.len()].copy_from_slice(bytes_of(&plan.offsets));
            st[lay.indices..lay.indices + idx_bytes.len()].copy_from_slice(idx_bytes);
            // SAFETY: the input buffer holds at least lay.total bytes (ensured above) and is only used
            // by this stream; the source is pinned and not touched until the synchronisation below.
            unsafe {
                cudarc::driver::result::memcpy_htod_async(self.input_ptr, &st[..], self.stream.cu_stream())
            }
            .map_err(drv("copy inputs to the device"))?;
        }
        // 2. The device work, eagerly or through a graph.
        self.device_work(bsz, wide)?;
        // 3. Output and the index-guard word back, then wait.
        {
            // SAFETY: out_host_ptr addresses cap × out_width pinned floats, err_host_ptr one pinned u64;
            // nothing else uses them until the synchronisation below. The device side: `out` holds
            // cap × out_width floats, and the first 8 bytes of the input buffer are the error word.
            unsafe {
                let oh = std::slice::from_raw_parts_mut(self.out_host_ptr, bsz * ow);
                let eh = std::slice::from_raw_parts_mut(self.err_host_ptr, 1);
                cudarc::driver::result::memcpy_dtoh_async(oh, self.out.ptr, self.stream.cu_stream())
                    .map_err(drv("copy output to the host"))?;
                cudarc::driver::result::memcpy_dtoh_async(
                    eh,
                    self.input_ptr + lay.err as u64,
                    self.stream.cu_stream(),
                )
                .map_err(drv("copy error word"))?;
            }
        }
        self.stream.synchronize().map_err(drv("cuStreamSynchronize"))?;
        // SAFETY: the copies into the pinned buffers are complete (synchronised above).
        let (oh, e) =
            unsafe { (std::slice::from_raw_parts(self.out_host_ptr, bsz * ow), *self.err_host_ptr) };
        if e != u64::MAX {
            let (table, bag, pos) = plan.locate(e as usize).unwrap_or((0, 0, e as usize));
            let index = match &plan.indices {
                IndexVec::U32(v) => v.get(e as usize).map_or(0, |&i| u64::from(i)),
                IndexVec::U64(v) => v.get(e as usize).copied().unwrap_or(0),
            };
            let rows = m.shapes.get(table).map_or(0, |s| s.rows);
            return Err(GpuError::IndexOutOfRange { table, bag, pos, index, rows });
        }
        out[..bsz * ow].copy_from_slice(oh);
        Ok(())
    }

    /// Enqueues the device work of a batch of `bsz`: a cached graph's replay, a capture (on the second
    /// use of a shape) then its replay, or the eager launches.
    fn device_work(&mut self, bsz: usize, wide: bool) -> Result<()> {
        match self.graphs.step(bsz, wide) {
            GraphStep::Eager => self.enqueue(bsz, wide),
            GraphStep::Replay => match self.graphs.get(bsz, wide) {
                Some(g) => g.launch().map_err(drv("cuGraphLaunch")),
                None => self.enqueue(bsz, wide),
            },
            GraphStep::Capture => match self.capture(bsz, wide) {
                Ok(graph) => self.graphs.insert(bsz, wide, graph).launch().map_err(drv("cuGraphLaunch")),
                Err(e) => {
                    // Nothing of the failed capture ran; run eagerly and stay eager.
                    self.graphs.fail(e.to_string());
                    self.enqueue(bsz, wide)
                }
            },
        }
    }

    /// Captures the device work of a batch of `bsz` into an instantiated graph.
    fn capture(&self, bsz: usize, wide: bool) -> Result<CudaGraph> {
        use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
        // Thread-local mode: other threads' runners (other streams) are not disturbed by this capture.
        self.stream
            .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(drv("cuStreamBeginCapture"))?;
        let work = self.enqueue(bsz, wide);
        // Always end the capture, so the stream leaves capture mode even when enqueueing failed.
        let graph = self.stream.end_capture(CUgraphInstantiate_flags(0));
        work?;
        graph
            .map_err(drv("cuStreamEndCapture/cuGraphInstantiate"))?
            .ok_or_else(|| GpuError::Driver { what: "cuStreamEndCapture".into(), msg: "empty graph".into() })
    }

    /// Enqueues every kernel and GEMM of a forward on the runner's stream (raw addresses only).
    fn enqueue(&self, bsz: usize, wide: bool) -> Result<()> {
        let m = &*self.model;
        let s = &self.stream;
        // Every part's offset depends on the batch alone (the indices come last).
        let lay = staging_layout(bsz * m.dense_in, m.shapes.len() * bsz + 1, 0, 8);
        let base = self.input_ptr;
        let x0 = self.x0.ptr;
        let x0w = m.x0_width;
        let x0s = Strided { ptr: x0, ld: x0w };
        let bufs = [self.bufs[0].ptr, self.bufs[1].ptr];
        let dense = Strided { ptr: base + lay.dense as u64, ld: m.dense_in };

        // 1. Bottom MLP into x0's first columns (or the dense features copied there).
        if !m.bottom.is_empty() {
            // SAFETY: every buffer holds cap rows of its widest layer, bsz ≤ cap, and the input outlives
            // the work (the stream is synchronised before forward returns).
            unsafe { self.run_mlp(&m.bottom, dense, bsz, x0s, &bufs) }?;
        } else if m.dense_in > 0 {
            // SAFETY: reads bsz × dense_in floats of the input, writes the first dense_in columns of bsz
            // rows of x0.
            unsafe { self.copy_cols(dense, x0s, bsz, m.dense_in) }?;
        }
        // 2. All tables in one launch, into x0's table columns or the pooled matrix.
        let ptrs = BagPtrs {
            indices: base + lay.indices as u64,
            wide,
            offsets: base + lay.offsets as u64,
            weights: 0,
            batch: bsz,
        };
        let (pool, ldp) = (self.pooled.ptr, m.layout.pooled_width);
        if m.layout.direct {
            let dense_cols = if m.dense_in > 0 { m.dense_out } else { 0 };
            // SAFETY: the plan was made for these tables; x0 holds cap ≥ bsz rows of x0_width; the error
            // word is at offset 0 of the input buffer; all stay alive past the synchronisation.
            unsafe { m.tables.launch_raw_err(s, ptrs, x0, x0w, dense_cols, base + lay.err as u64) }?;
        } else {
            // SAFETY: as above, into the pooled matrix of cap rows × pooled_width.
            unsafe { m.tables.launch_raw_err(s, ptrs, pool, ldp, 0, base + lay.err as u64) }?;
            for &(src, dst, w) in &m.layout.copies {
                // SAFETY: the copy reads columns src..src+w of the pooled rows and writes columns
                // dst..dst+w of x0's rows, both inside their widths (from the feature layout).
                unsafe {
                    self.copy_cols(
                        Strided { ptr: at(pool, src), ld: ldp },
                        Strided { ptr: at(x0, dst), ld: x0w },
                        bsz,
                        w,
                    )
                }?;
            }
        }
        // 3. Blocks, each into its x0 columns.
        for b in &m.blocks {
            // SAFETY: the block reads the pooled matrix and writes its own x0 columns and the scratch
            // buffers, all sized for cap ≥ bsz rows when the runner was made.
            unsafe { self.run_block(b, bsz, &bufs) }?;
        }
        // 4. Interaction.
        let top_in = match &m.interaction {
            GpuInteraction::Cat => x0s,
            GpuInteraction::Dot { pairs_ptr, npairs, width, .. } => {
                let inter = self.inter.ptr;
                let (xw, d, np, iw, rows) = (
                    u32c(x0w, "x0 width")?,
                    u32c(*width, "feature width")?,
                    u32c(*npairs, "pairs")?,
                    u32c(m.inter_out, "interaction width")?,
                    u32c(bsz, "batch")?,
                );
                let mut b = s.launch_builder(&m.k.dot);
                b.arg(&x0).arg(&xw).arg(&d).arg(pairs_ptr).arg(&np).arg(&inter).arg(&iw).arg(&rows);
                // SAFETY: reads bsz rows of x0, writes bsz rows of inter_out = width + npairs floats; the
                // pairs index features inside x0's rows; arguments match dot_interaction.
                unsafe { b.launch(grid(bsz * m.inter_out)) }.map_err(drv("dot_interaction launch"))?;
                Strided { ptr: inter, ld: m.inter_out }
            }
            GpuInteraction::Cross { layers, rank } => {
                let z = Strided { ptr: self.inter.ptr, ld: x0w };
                let (u, v) = (
                    Strided { ptr: self.scratch[0].ptr, ld: *rank },
                    Strided { ptr: self.scratch[1].ptr, ld: x0w },
                );
                // SAFETY: inter holds cap rows of x0_width (= the cross interaction's width).
                unsafe { self.copy_cols(x0s, z, bsz, x0w) }?;
                for (lu, lv) in layers {
                    // SAFETY: scratch 0 holds cap × rank and scratch 1 cap × x0_width floats (the
                    // model's scratch needs); inputs and outputs are distinct buffers.
                    unsafe {
                        lu.forward_raw(&self.blas, z, bsz, u)?;
                        lv.forward_raw(&self.blas, u, bsz, v)?;
                    }
                    let n = (bsz * x0w) as u64;
                    let mut b = s.launch_builder(&m.k.cross_update);
                    b.arg(&x0).arg(&v.ptr).arg(&z.ptr).arg(&n);
                    // SAFETY: x0, v and z each hold bsz × x0_width packed floats; arguments match
                    // cross_update.
                    unsafe { b.launch(grid(bsz * x0w)) }.map_err(drv("cross_update launch"))?;
                }
                z
            }
        };
        // 5. Top MLP and heads, the last layers writing into the output.
        let (ow, outp, top_out) = (m.out_width, self.out.ptr, self.top_out.ptr);
        if m.heads.is_empty() {
            // SAFETY: as for the bottom MLP; out holds cap rows of out_width.
            unsafe { self.run_mlp(&m.top, top_in, bsz, Strided { ptr: outp, ld: ow }, &bufs) }?;
        } else {
            let tw = m.spec.top_mlp.out();
            // SAFETY: as above; top_out holds cap rows of the top MLP's width.
            unsafe { self.run_mlp(&m.top, top_in, bsz, Strided { ptr: top_out, ld: tw }, &bufs) }?;
            let hw = ow / m.heads.len();
            for (k, head) in m.heads.iter().enumerate() {
                let dst = Strided { ptr: at(outp, k * hw), ld: ow };
                // SAFETY: as above; head k writes columns k·hw..(k+1)·hw of bsz output rows.
                unsafe { self.run_mlp(head, Strided { ptr: top_out, ld: tw }, bsz, dst, &bufs) }?;
            }
        }
        Ok(())
    }

    /// dst[r, 0..cols] = src[r, 0..cols] for r < rows.
    ///
    /// # Safety
    /// Both must address `rows` rows of at least `cols` floats at their strides, alive until the work ends.
    unsafe fn copy_cols(&self, src: Strided, dst: Strided, rows: usize, cols: usize) -> Result<()> {
        if rows == 0 || cols == 0 {
            return Ok(());
        }
        let (ls, ld, r, c) =
            (u32c(src.ld, "stride")?, u32c(dst.ld, "stride")?, u32c(rows, "rows")?, u32c(cols, "cols")?);
        let mut b = self.stream.launch_builder(&self.model.k.copy_cols);
        b.arg(&src.ptr).arg(&ls).arg(&dst.ptr).arg(&ld).arg(&r).arg(&c);
        // SAFETY: the caller's promise; the arguments match copy_cols.
        unsafe { b.launch(grid(rows * cols)) }.map_err(drv("copy_cols launch"))?;
        Ok(())
    }

    /// Runs `layers` from `x` through the ping-pong buffers, the last layer writing into `last`.
    ///
    /// # Safety
    /// `x` must hold m rows of the first layer's input, `last` m rows of the last layer's output, and the
    /// buffers m rows of every layer's width, all alive until the stream's work ends.
    unsafe fn run_mlp(
        &self,
        layers: &[GpuLinear],
        x: Strided,
        m: usize,
        last: Strided,
        bufs: &[u64; 2],
    ) -> Result<()> {
        let mut cur = x;
        for (i, l) in layers.iter().enumerate() {
            let dst = if i + 1 == layers.len() { last } else { Strided { ptr: bufs[i % 2], ld: l.n() } };
            // SAFETY: the caller's promise; consecutive layers alternate buffers so input and output never
            // overlap.
            unsafe { l.forward_raw(&self.blas, cur, m, dst) }?;
            cur = dst;
        }
        Ok(())
    }
}

fn grid(n: usize) -> LaunchConfig {
    LaunchConfig { grid_dim: (elementwise_blocks(n), 1, 1), block_dim: (256, 1, 1), shared_mem_bytes: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::tests::device_or_skip;
    use hercules_models::inputs::{IndexDist, InputGen};
    use hercules_models::{zoo, ForwardOpts, Init, Model, Workspace};

    #[test]
    fn models_and_runners_can_move_to_serving_threads() {
        fn shared<T: Send + Sync>() {}
        fn owned<T: Send>() {}
        shared::<GpuModel>();
        owned::<GpuRunner>();
    }

    /// max |g − w| / max |w| over a batch (normwise relative error: elementwise relative error means
    /// nothing for logits near zero).
    fn rel_err(got: &[f32], want: &[f32]) -> f64 {
        let num = got.iter().zip(want).map(|(g, w)| f64::from((g - w).abs())).fold(0.0, f64::max);
        let den = want.iter().map(|w| f64::from(w.abs())).fold(0.0, f64::max).max(1e-30);
        num / den
    }

    #[test]
    fn gpu_forward_matches_cpu_model() {
        let Some(dev) = device_or_skip() else { return };
        let scale = Scale { rows_scale: 0.001, max_rows: Some(20_000) };
        let source = WeightSource::Init { init: Init::Portable, seed: 11 };
        for name in zoo::names() {
            // fp32 throughout (no TF32). The GEMMs sum in another order than the CPU kernels, so the
            // outputs differ by rounding: 1e-5 of the batch's largest output. DIEN runs 2 × 40
            // dependent tanh steps with a softmax (expf, a few ulp off the CPU's) between the layers,
            // each step feeding the last one's rounding differences through W_hh into the next, so
            // they grow with the sequence: 1e-4 there.
            let tol = if name == "dien" { 1e-4 } else { 1e-5 };
            let spec = zoo::resolve(name).unwrap();
            let cpu = Model::build(&spec, scale, &source).unwrap();
            let gpu = Arc::new(GpuModel::build(&dev, &spec, scale, &source).unwrap());
            let mut runner = gpu.runner(&dev, 64).unwrap();
            let mut graphed = gpu.runner(&dev, 64).unwrap();
            graphed.set_graphs(true);
            let mut gen = InputGen::new(IndexDist::Uniform, 3);
            for batch in [1, 17, 64] {
                let input = gen.generate(&cpu.spec, batch).unwrap();
                let ow = cpu.output_width();
                let mut want = vec![0f32; batch * ow];
                let mut ws = Workspace::new(&cpu, batch, 1);
                cpu.forward(&mut ws, &input, None, ForwardOpts::default(), None, &mut want).unwrap();
                let mut got = vec![0f32; batch * ow];
                runner.forward(&dev, &input, &mut got).unwrap();
                let e = rel_err(&got, &want);
                println!("{name} batch {batch}: relative error {e:.2e} (bound {tol:e})");
                assert!(e <= tol, "{name} batch {batch}: relative error {e:e} > {tol:e}");
                // Graphs: eager on the first use of a shape, captured on the second, replayed on the
                // third; all three match the eager runner (same kernels, same arguments).
                for round in 0..3 {
                    let mut g = vec![0f32; batch * ow];
                    graphed.forward(&dev, &input, &mut g).unwrap();
                    let e = rel_err(&g, &got);
                    // Bitwise equal in practice; a tenth of the CPU bound in case cuBLAS picks
                    // another algorithm under capture.
                    assert!(e <= tol / 10.0, "{name} batch {batch} graph round {round}: {e:e} off eager");
                }
                assert_eq!(graphed.graph_failure(), None, "{name}");
            }
            assert!(
                graphed.graphs() && graphed.graph_count() == 3,
                "{name}: {} graphs",
                graphed.graph_count()
            );
        }
    }

    #[test]
    fn tf32_runner_stays_near_the_cpu_model() {
        let Some(dev) = device_or_skip() else { return };
        let scale = Scale { rows_scale: 0.001, max_rows: Some(20_000) };
        let source = WeightSource::Init { init: Init::Portable, seed: 7 };
        let spec = zoo::resolve("dlrm-rmc3").unwrap();
        let cpu = Model::build(&spec, scale, &source).unwrap();
        let gpu = Arc::new(GpuModel::build(&dev, &spec, scale, &source).unwrap());
        let mut r = gpu.runner(&dev, 64).unwrap();
        r.set_tf32(true).unwrap();
        let input = InputGen::new(IndexDist::Uniform, 4).generate(&cpu.spec, 64).unwrap();
        let mut want = vec![0f32; 64 * cpu.output_width()];
        let mut ws = Workspace::new(&cpu, 64, 1);
        cpu.forward(&mut ws, &input, None, ForwardOpts::default(), None, &mut want).unwrap();
        let mut got = vec![0f32; 64 * cpu.output_width()];
        r.forward(&dev, &input, &mut got).unwrap();
        // TF32 keeps 10 of FP32's 23 mantissa bits in the GEMM inputs: about 1e-3 per layer.
        let e = rel_err(&got, &want);
        println!("dlrm-rmc3 batch 64 with TF32: relative error {e:.2e}");
        assert!(e <= 2e-2 && e.is_finite(), "TF32 relative error {e:e}");
    }

    #[test]
    fn graph_cache_is_bounded_and_switchable() {
        let Some(dev) = device_or_skip() else { return };
        let scale = Scale { rows_scale: 0.001, max_rows: Some(20_000) };
        let source = WeightSource::Init { init: Init::Portable, seed: 5 };
        let spec = zoo::resolve("dien").unwrap();
        let cpu = Model::build(&spec, scale, &source).unwrap();
        let gpu = Arc::new(GpuModel::build(&dev, &spec, scale, &source).unwrap());
        let mut r = gpu.runner(&dev, 16).unwrap();
        assert!(!r.graphs(), "graphs are off by default");
        r.set_graphs(true);
        r.set_graph_limits(8, 2);
        let mut gen = InputGen::new(IndexDist::Uniform, 9);
        for batch in [1, 2, 3, 1, 2, 3, 16, 16, 16] {
            let input = gen.generate(&cpu.spec, batch).unwrap();
            let mut out = vec![0f32; batch * gpu.output_width()];
            r.forward(&dev, &input, &mut out).unwrap();
            assert!(r.graph_count() <= 2);
        }
        assert_eq!(r.graph_failure(), None);
        assert_eq!(r.graph_count(), 2, "batch 16 is above the graph limit of 8");
        r.set_graphs(false);
        assert_eq!(r.graph_count(), 0);
        // A batch over the capacity is an error, not UB.
        let input = gen.generate(&cpu.spec, 17).unwrap();
        let mut out = vec![0f32; 17 * gpu.output_width()];
        assert!(matches!(r.forward(&dev, &input, &mut out), Err(GpuError::Invalid(_))));
    }
}
