//! Whole-model forward on the GPU for DLRM-style zoo models (bottom MLP, embeddings, cat or dot
//! interaction, top MLP, multi-task heads): built from the same weights as the CPU model
//! (`hercules-models`: same parameter names, same seeded or checkpointed values, tables quantised by the
//! same code), run by [`GpuRunner`]s that each own a CUDA stream, cuBLAS handle, pinned host buffers
//! and device workspace, so several queries can overlap on one device.
//!
//! One forward: the query's dense features, bag offsets and indices are packed into one pinned host
//! buffer and copied in one transfer; bottom MLP (its last layer writing straight into the feature
//! matrix x0), one table-batched embedding launch writing into x0's table columns, the interaction,
//! the top MLP and heads, then one copy of the output back (and the kernel's index-guard word), and a
//! stream synchronisation. All of it, copies included, is inside [`GpuRunner::forward`].
//!
//! Not supported (a clear `Unsupported` error): DIN attention, DIEN RNN, NCF blocks, DCNv2 cross layers.

use crate::device::{Device, Source};
use crate::embedding::{BagPtrs, GpuTables};
use crate::error::{drv, GpuError, Result};
use crate::mlp::{elementwise_blocks, Blas, GpuLinear, Strided};
use crate::plan::{plan_bags, IndexVec, TableBags, TableShape};
use cudarc::driver::{
    CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PinnedHostSlice, PushKernelArg,
};
use hercules_kernels::embedding::{Bags, DType, EmbeddingTable, Indices, Pooling};
use hercules_kernels::mlp::Activation;
use hercules_models::inputs::{IndexBuf, InputSet};
use hercules_models::spec::{Act, DTypeSpec, Feature, Interaction, Mlp, PoolingSpec};
use hercules_models::weights::params;
use hercules_models::{ModelSpec, Scale, WeightSource};
use std::collections::HashMap;
use std::sync::Arc;

/// Checks that the GPU path implements everything `spec` uses.
pub fn check_supported(spec: &ModelSpec) -> Result<()> {
    if !spec.blocks.is_empty() {
        return Err(GpuError::Unsupported(format!(
            "model {}: attention/RNN/NCF blocks (din, dien, ncf) run on the CPU only",
            spec.name
        )));
    }
    if let Interaction::Cross { .. } = spec.interaction {
        return Err(GpuError::Unsupported(format!(
            "model {}: DCNv2 cross layers run on the CPU only",
            spec.name
        )));
    }
    Ok(())
}

fn act(a: Act) -> Activation {
    match a {
        Act::None => Activation::None,
        Act::Relu => Activation::Relu,
        Act::Sigmoid => Activation::Sigmoid,
    }
}

/// Ordered (i, j) pairs of DLRM's dot interaction: j < i (j ≤ i with self-interaction), by i then j.
pub fn dot_pairs(features: usize, self_interaction: bool) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for i in 0..features {
        for j in 0..i + usize::from(self_interaction) {
            v.push((i as u32, j as u32));
        }
    }
    v
}

enum GpuInteraction {
    Cat,
    Dot { pairs: CudaSlice<u32>, npairs: usize, width: usize },
}

/// A model's weights on the device, shared by its runners.
pub struct GpuModel {
    /// The spec as built (rows scaled).
    pub spec: ModelSpec,
    /// The scale that was applied.
    pub scale: Scale,
    tables: GpuTables,
    shapes: Vec<TableShape>,
    bottom: Vec<GpuLinear>,
    top: Vec<GpuLinear>,
    heads: Vec<Vec<GpuLinear>>,
    interaction: GpuInteraction,
    dense_in: usize,
    dense_out: usize,
    x0_width: usize,
    inter_out: usize,
    out_width: usize,
    lookups_per_sample: usize,
    copy_cols: CudaFunction,
    dot: CudaFunction,
}

impl GpuModel {
    /// Scales `spec`, checks it is supported and fits the device, and uploads its weights from `source`
    /// (the same tensors `hercules_models::Model::build` reads).
    pub fn build(dev: &Device, spec: &ModelSpec, scale: Scale, source: &WeightSource) -> Result<Self> {
        let spec = spec.scaled(scale)?;
        spec.validate()?;
        check_supported(&spec)?;
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
                    let wt = get(&format!("{prefix}.{i}.weight"))?;
                    let b = get(&format!("{prefix}.{i}.bias"))?;
                    GpuLinear::new(dev, &wt, Some(&b), w[0], w[1], act(m.act(i)))
                })
                .collect()
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
            let data = get(&format!("emb.{t}.weight"))?;
            // The CPU path's own encoder, so quantised rows are identical on both sides.
            let cpu = EmbeddingTable::from_f32(shape.rows as usize, shape.dim, shape.dtype, &data)?;
            tables.upload_table(t, &cpu)?;
        }
        let bottom = match &spec.bottom_mlp {
            Some(m) => mlp("bot", m)?,
            None => Vec::new(),
        };
        let top = mlp("top", &spec.top_mlp)?;
        let heads = match &spec.heads {
            Some(h) => (0..h.tasks).map(|k| mlp(&format!("head.{k}"), &h.mlp)).collect::<Result<_>>()?,
            None => Vec::new(),
        };
        // The feature matrix x0: the dense vector first (when there are dense features), then every table
        // in order — which is the layout of spec.features() for a model without blocks.
        let feats = spec.features();
        let dense_out = spec.dense_out();
        let dense_cols = if spec.dense_features > 0 { dense_out } else { 0 };
        let mut col = dense_cols;
        for (t, f) in feats.iter().skip(usize::from(spec.dense_features > 0)).enumerate() {
            if *f != Feature::Table(t) {
                return Err(GpuError::Unsupported(format!("model {name}: feature order {feats:?}")));
            }
            col += spec.feature_width(*f);
        }
        let x0_width = spec.features_width();
        if col != x0_width || col - dense_cols != tables.out_width() {
            return Err(GpuError::Unsupported(format!("model {name}: feature widths do not add up")));
        }
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
                let d = dev
                    .stream()
                    .clone_htod(if flat.is_empty() { &[0u32, 0][..] } else { &flat })
                    .map_err(drv("upload pairs"))?;
                GpuInteraction::Dot { pairs: d, npairs, width }
            }
            _ => GpuInteraction::Cat,
        };
        let lookups_per_sample = spec.tables.iter().map(|g| g.count * g.lookups).sum();
        dev.stream().synchronize().map_err(drv("upload model"))?;
        Ok(Self {
            shapes: specs.iter().map(|s| s.0).collect(),
            dense_in: spec.dense_features,
            dense_out,
            x0_width,
            inter_out: spec.interaction_out(),
            out_width: spec.output_width(),
            lookups_per_sample,
            copy_cols: dev.function(Source::Ops, "copy_cols")?,
            dot: dev.function(Source::Ops, "dot_interaction")?,
            tables,
            bottom,
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

/// Byte layout of one query's inputs in the staging buffer (each part 16-byte aligned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagingLayout {
    /// The index guard word (u64) at offset 0.
    pub err: usize,
    /// Dense features (f32).
    pub dense: usize,
    /// T·B + 1 offsets (u32).
    pub offsets: usize,
    /// Indices (u32 or u64).
    pub indices: usize,
    /// Total bytes.
    pub total: usize,
}

/// The layout for `dense` floats, `offsets` u32 offsets and `indices` indices of `index_bytes` each.
pub fn staging_layout(dense: usize, offsets: usize, indices: usize, index_bytes: usize) -> StagingLayout {
    let a = |x: usize| x.next_multiple_of(16);
    let dense_at = 16;
    let offsets_at = a(dense_at + 4 * dense);
    let indices_at = a(offsets_at + 4 * offsets);
    StagingLayout {
        err: 0,
        dense: dense_at,
        offsets: offsets_at,
        indices: indices_at,
        total: a(indices_at + index_bytes * indices),
    }
}

/// Bytes of `v` (f32, u32 and u64 have no padding and every byte pattern is readable).
fn bytes_of<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: T is a plain number type here (f32/u32/u64): no padding, no invalid bytes; the length is
    // the slice's size in bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

/// Per-stream state that runs one query at a time on a [`GpuModel`].
pub struct GpuRunner {
    model: Arc<GpuModel>,
    stream: Arc<CudaStream>,
    blas: Blas,
    cap: usize,
    staging: PinnedHostSlice<u8>,
    staging_ptr: *mut u8,
    input: CudaSlice<u8>,
    x0: CudaSlice<f32>,
    inter: CudaSlice<f32>,
    bufs: [CudaSlice<f32>; 2],
    top_out: CudaSlice<f32>,
    out: CudaSlice<f32>,
    out_host: PinnedHostSlice<f32>,
    out_host_ptr: *mut f32,
    err_host: PinnedHostSlice<u64>,
    err_host_ptr: *mut u64,
}

// SAFETY: the raw pointers address the pinned buffers owned by the same struct; a runner is used by one
// thread at a time (&mut self for every forward).
unsafe impl Send for GpuRunner {}

impl GpuRunner {
    fn new(owned: Arc<GpuModel>, dev: &Device, max_batch: usize) -> Result<Self> {
        let model = &*owned;
        let cap = max_batch.max(1);
        let stream = dev.new_stream()?;
        let blas = Blas::new(stream.clone())?;
        let widest = |ls: &[GpuLinear]| ls.iter().map(|l| l.n().max(l.k())).max().unwrap_or(0);
        let buf_w = widest(&model.bottom)
            .max(widest(&model.top))
            .max(model.heads.iter().map(|h| widest(h)).max().unwrap_or(0));
        let top_w = model.spec.top_mlp.out();
        let ctx = dev.context();
        let z = |n: usize| stream.alloc_zeros::<f32>(n.max(1)).map_err(drv("alloc workspace"));
        let mut me = Self {
            model: owned.clone(),
            blas,
            cap,
            // SAFETY (all three pinned buffers): contents are written before they are read.
            staging: unsafe { ctx.alloc_pinned::<u8>(1) }.map_err(drv("cuMemHostAlloc"))?,
            staging_ptr: std::ptr::null_mut(),
            input: stream.alloc_zeros::<u8>(16).map_err(drv("alloc input"))?,
            x0: z(cap * model.x0_width)?,
            inter: z(cap * model.inter_out)?,
            bufs: [z(cap * buf_w)?, z(cap * buf_w)?],
            top_out: z(cap * top_w)?,
            out: z(cap * model.out_width)?,
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
        Ok(())
    }

    /// The stream this runner's work goes to.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
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
        let lay = staging_layout(
            input.dense.len(),
            plan.offsets.len(),
            plan.indices.len(),
            if wide { 8 } else { 4 },
        );
        self.ensure_staging(lay.total, dev)?;
        {
            // SAFETY: staging_ptr addresses the pinned buffer of at least lay.total bytes (ensured above);
            // the previous forward synchronised the stream, so no copy reads it now.
            let st = unsafe { std::slice::from_raw_parts_mut(self.staging_ptr, lay.total) };
            st[lay.err..lay.err + 8].copy_from_slice(&u64::MAX.to_ne_bytes());
            st[lay.dense..lay.dense + 4 * input.dense.len()].copy_from_slice(bytes_of(&input.dense));
            st[lay.offsets..lay.offsets + 4 * plan.offsets.len()].copy_from_slice(bytes_of(&plan.offsets));
            st[lay.indices..lay.indices + idx_bytes.len()].copy_from_slice(idx_bytes);
            let mut dst = self.input.slice_mut(..lay.total);
            self.stream.memcpy_htod(&st[..], &mut dst).map_err(drv("copy inputs to the device"))?;
        }
        let s = self.stream.clone();
        let (base, _gi) = self.input.device_ptr(&s);
        let (x0, _g0) = self.x0.device_ptr(&s);
        let (b0, _gb0) = self.bufs[0].device_ptr(&s);
        let (b1, _gb1) = self.bufs[1].device_ptr(&s);
        let (inter, _gin) = self.inter.device_ptr(&s);
        let (top_out, _gt) = self.top_out.device_ptr(&s);
        let (outp, _go) = self.out.device_ptr(&s);
        let bufs = [b0, b1];
        let dense = Strided { ptr: base + lay.dense as u64, ld: m.dense_in };
        let x0s = Strided { ptr: x0, ld: m.x0_width };

        // 2. Bottom MLP into x0's first columns (or the dense features copied there).
        if !m.bottom.is_empty() {
            // SAFETY: every buffer holds cap rows of its widest layer, bsz ≤ cap, and the input outlives
            // the work (the stream is synchronised before this function returns).
            unsafe { self.run_mlp(&m.bottom, dense, bsz, x0s, &bufs) }?;
        } else if m.dense_in > 0 {
            let (ld_s, ld_d, rows, cols) =
                (m.dense_in as u32, m.x0_width as u32, bsz as u32, m.dense_in as u32);
            let cfg = grid(bsz * m.dense_in);
            let mut b = s.launch_builder(&m.copy_cols);
            b.arg(&dense.ptr).arg(&ld_s).arg(&x0).arg(&ld_d).arg(&rows).arg(&cols);
            // SAFETY: reads bsz × dense_in floats of the input, writes the first dense_in columns of bsz
            // rows of x0; arguments match copy_cols.
            unsafe { b.launch(cfg) }.map_err(drv("copy_cols launch"))?;
        }
        // 3. All tables in one launch, into x0's table columns.
        let ptrs = BagPtrs {
            indices: base + lay.indices as u64,
            wide,
            offsets: base + lay.offsets as u64,
            weights: 0,
            batch: bsz,
        };
        let dense_cols = if m.dense_in > 0 { m.dense_out } else { 0 };
        // SAFETY: the plan was made for these tables; x0 holds cap ≥ bsz rows of x0_width; the error
        // word is at offset 0 of the input buffer; all stay alive past the synchronisation below.
        unsafe { m.tables.launch_raw_err(&s, ptrs, x0, m.x0_width, dense_cols, base + lay.err as u64) }?;
        // 4. Interaction.
        let top_in = match &m.interaction {
            GpuInteraction::Cat => x0s,
            GpuInteraction::Dot { pairs, npairs, width } => {
                let (pp, _gp) = pairs.device_ptr(&s);
                let (xw, d, np, iw, rows) =
                    (m.x0_width as u32, *width as u32, *npairs as u32, m.inter_out as u32, bsz as u32);
                let mut b = s.launch_builder(&m.dot);
                b.arg(&x0).arg(&xw).arg(&d).arg(&pp).arg(&np).arg(&inter).arg(&iw).arg(&rows);
                // SAFETY: reads bsz rows of x0, writes bsz rows of inter_out = width + npairs floats; the
                // pairs index features inside x0's rows; arguments match dot_interaction.
                unsafe { b.launch(grid(bsz * m.inter_out)) }.map_err(drv("dot_interaction launch"))?;
                Strided { ptr: inter, ld: m.inter_out }
            }
        };
        // 5. Top MLP and heads, the last layers writing into the output.
        if m.heads.is_empty() {
            // SAFETY: as for the bottom MLP; out holds cap rows of out_width.
            unsafe { self.run_mlp(&m.top, top_in, bsz, Strided { ptr: outp, ld: ow }, &bufs) }?;
        } else {
            let tw = m.spec.top_mlp.out();
            // SAFETY: as above; top_out holds cap rows of the top MLP's width.
            unsafe { self.run_mlp(&m.top, top_in, bsz, Strided { ptr: top_out, ld: tw }, &bufs) }?;
            let hw = ow / m.heads.len();
            for (k, head) in m.heads.iter().enumerate() {
                let dst = Strided { ptr: outp + (k * hw * 4) as u64, ld: ow };
                // SAFETY: as above; head k writes columns k·hw..(k+1)·hw of bsz output rows.
                unsafe { self.run_mlp(head, Strided { ptr: top_out, ld: tw }, bsz, dst, &bufs) }?;
            }
        }
        // 6. Output and the index-guard word back, then wait.
        {
            // SAFETY: out_host_ptr addresses cap × out_width pinned floats, err_host_ptr one pinned u64;
            // nothing else uses them until the synchronisation below.
            let oh = unsafe { std::slice::from_raw_parts_mut(self.out_host_ptr, bsz * ow) };
            let eh = unsafe { std::slice::from_raw_parts_mut(self.err_host_ptr, 1) };
            s.memcpy_dtoh(&self.out.slice(..bsz * ow), oh).map_err(drv("copy output to the host"))?;
            // SAFETY: the first 8 bytes of the input buffer are the u64 error word.
            let ev = unsafe { self.input.transmute::<u64>(1) }
                .ok_or_else(|| GpuError::Invalid("input buffer below 8 bytes".into()))?;
            s.memcpy_dtoh(&ev, eh).map_err(drv("copy error word"))?;
        }
        s.synchronize().map_err(drv("cuStreamSynchronize"))?;
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
    fn supported_models() {
        for name in ["dlrm-rmc1", "dlrm-rmc2", "dlrm-rmc3", "wnd", "mt-wnd", "mlperf-dlrm-v1"] {
            let spec = zoo::resolve(name).unwrap();
            check_supported(&spec).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for name in ["din", "dien", "ncf", "mlperf-dlrm-v2"] {
            let spec = zoo::resolve(name).unwrap();
            let e = check_supported(&spec).unwrap_err();
            assert!(matches!(e, GpuError::Unsupported(_)), "{name}: {e}");
        }
    }

    #[test]
    fn dot_pair_order_matches_the_cpu() {
        assert_eq!(dot_pairs(3, false), vec![(1, 0), (2, 0), (2, 1)]);
        assert_eq!(dot_pairs(2, true), vec![(0, 0), (1, 0), (1, 1)]);
        assert!(dot_pairs(1, false).is_empty());
    }

    #[test]
    fn staging_parts_are_aligned_and_disjoint() {
        let l = staging_layout(3, 5, 7, 8);
        assert_eq!((l.err, l.dense, l.offsets, l.indices), (0, 16, 32, 64));
        assert_eq!(l.total, 128);
        let l = staging_layout(0, 1, 0, 4);
        assert_eq!((l.dense, l.offsets, l.indices, l.total), (16, 16, 32, 32));
    }

    #[test]
    fn gpu_forward_matches_cpu_model() {
        let Some(dev) = device_or_skip() else { return };
        let scale = Scale { rows_scale: 0.001, max_rows: Some(20_000) };
        let source = WeightSource::Init { init: Init::Portable, seed: 11 };
        for name in ["dlrm-rmc1", "dlrm-rmc3", "wnd", "mt-wnd", "mlperf-dlrm-v1"] {
            let spec = zoo::resolve(name).unwrap();
            let cpu = Model::build(&spec, scale, &source).unwrap();
            let gpu = Arc::new(GpuModel::build(&dev, &spec, scale, &source).unwrap());
            let mut runner = gpu.runner(&dev, 64).unwrap();
            let mut gen = InputGen::new(IndexDist::Uniform, 3);
            for batch in [1, 17, 64] {
                let input = gen.generate(&cpu.spec, batch).unwrap();
                let ow = cpu.output_width();
                let mut want = vec![0f32; batch * ow];
                let mut ws = Workspace::new(&cpu, batch, 1);
                cpu.forward(&mut ws, &input, None, ForwardOpts::default(), None, &mut want).unwrap();
                let mut got = vec![0f32; batch * ow];
                runner.forward(&dev, &input, &mut got).unwrap();
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    // Different summation orders in every GEMM: a loose relative bound on the outputs.
                    assert!(
                        (g - w).abs() <= 1e-4 * w.abs().max(1e-2),
                        "{name} batch {batch} [{i}]: gpu {g} cpu {w}"
                    );
                }
            }
        }
    }
}
