//! The forward pass of a batch: embeddings (split over tables and batch pieces, claimed dynamically by
//! the workers) and the bottom MLP, optionally at once (inter-op); then blocks (split over the batch),
//! the interaction, the top MLP and the heads.
//!
//! Results do not depend on the thread count or the inter-op switch: every output element is computed
//! by the same sequence of operations whichever worker computes it.

use crate::blocks;
use crate::error::{kernel, ModelError, Result};
use crate::inputs::InputSet;
use crate::model::{BuiltInteraction, Model};
use crate::ops::Dense;
use crate::spec::Feature;
use crate::workspace::Workspace;
use hercules_kernels::pool::split_range;
use hercules_kernels::PinnedPool;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Below this many row lookups per batch the embeddings run on the calling thread: a few dozen
/// lookups take about as long as a hand-off to the pool, while rmc1's 640 at batch 1 gain from the
/// split (figures in results/notebook-2026.md).
const PAR_MIN_LOOKUPS: usize = 256;
/// Below this many samples the blocks and the dot interaction run on the calling thread.
const PAR_MIN_ROWS: usize = 8;

/// Switches of one forward pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardOpts {
    /// Run the bottom MLP on worker 0 while the other workers start on the embeddings (needs ≥ 2
    /// workers and a bottom MLP; otherwise ignored).
    pub inter_op: bool,
}

/// Seconds spent per operator class, summed over forward passes (filled only when asked for, so the
/// plain path has no clock reads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Profile {
    /// Embedding bags (with inter-op: the overlapped embedding + bottom-MLP phase).
    pub embedding_s: f64,
    /// Bottom, top and head MLPs, NCF's MLP branch.
    pub mlp_s: f64,
    /// Attention units and RNN layers.
    pub attention_rnn_s: f64,
    /// Feature concatenation, dot products, cross layers.
    pub interaction_s: f64,
    /// Forward passes profiled.
    pub forwards: u64,
}

impl Profile {
    /// (class, share of the profiled time) in a fixed order.
    pub fn shares(&self) -> [(&'static str, f64); 4] {
        let total = (self.embedding_s + self.mlp_s + self.attention_rnn_s + self.interaction_s).max(1e-30);
        [
            ("embedding", self.embedding_s / total),
            ("mlp", self.mlp_s / total),
            ("attention/rnn", self.attention_rnn_s / total),
            ("interaction", self.interaction_s / total),
        ]
    }
}

/// A raw view of a buffer that workers write in disjoint row ranges.
#[derive(Clone, Copy)]
pub(crate) struct Shared {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: workers only touch disjoint ranges (each call site says why), and the buffer outlives the
// parallel region, which joins before the owning borrow ends.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    pub(crate) fn new(buf: &mut [f32]) -> Self {
        Self { ptr: buf.as_mut_ptr(), len: buf.len() }
    }
    /// # Safety
    /// No other live reference may overlap `start..start + len`.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, start: usize, len: usize) -> &mut [f32] {
        assert!(start + len <= self.len, "shared slice {start}+{len} beyond {}", self.len);
        // SAFETY: in bounds (checked); exclusivity is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// Runs `f(worker, workers)` on every worker of the pool, or inline when there is one (or none);
/// returns the first error.
pub(crate) fn par<F: Fn(usize, usize) -> Result<()> + Sync>(pool: Option<&PinnedPool>, f: F) -> Result<()> {
    match pool {
        Some(p) if p.threads() > 1 => {
            let first = Mutex::new(None);
            p.broadcast(|w, n| {
                if let Err(e) = f(w, n) {
                    first.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                }
            });
            first.into_inner().unwrap_or_else(|p| p.into_inner()).map_or(Ok(()), Err)
        }
        _ => f(0, 1),
    }
}

/// Runs `layers` on `x` (m rows) through the ping-pong buffers; the last layer writes into `last`
/// when given. Returns which buffer holds the result (0, 1, or 2 = `last`).
pub(crate) fn run_mlp(
    pool: Option<&PinnedPool>,
    layers: &[Dense],
    x: &[f32],
    m: usize,
    bufs: &mut [Vec<f32>; 2],
    mut last: Option<&mut [f32]>,
) -> Result<usize> {
    let mut cur = usize::MAX;
    for (i, layer) in layers.iter().enumerate() {
        let dst = if cur == 0 { 1 } else { 0 };
        let is_last = i + 1 == layers.len();
        let [b0, b1] = bufs;
        let (src, dst_buf): (&[f32], &mut [f32]) = match (cur, dst) {
            (usize::MAX, 0) => (x, b0),
            (1, 0) => (b1, b0),
            (0, 1) => (b0, b1),
            _ => unreachable!("ping-pong state"),
        };
        match (is_last, last.as_deref_mut()) {
            (true, Some(out)) => {
                layer.forward_pool(pool, src, m, out)?;
                return Ok(2);
            }
            _ => layer.forward_pool(pool, src, m, dst_buf)?,
        }
        cur = dst;
    }
    Ok(cur)
}

impl Model {
    /// Runs one batch: `out` receives batch × [`Model::output_width`] values. `pool` = None runs on the
    /// calling thread. With `profile`, time per operator class is added to it.
    pub fn forward(
        &self,
        ws: &mut Workspace,
        input: &InputSet,
        pool: Option<&PinnedPool>,
        opts: ForwardOpts,
        mut profile: Option<&mut Profile>,
        out: &mut [f32],
    ) -> Result<()> {
        let bsz = input.batch;
        let err = |msg: String| ModelError::Input { model: self.spec.name.clone(), msg };
        if bsz == 0 || bsz > ws.cap {
            return Err(err(format!("batch {bsz} is outside 1..={} (the workspace capacity)", ws.cap)));
        }
        if input.tables.len() != self.tables.len() || input.dense.len() != bsz * self.spec.dense_features {
            return Err(err(format!(
                "input set has {} tables and {} dense values; the model needs {} and {}",
                input.tables.len(),
                input.dense.len(),
                self.tables.len(),
                bsz * self.spec.dense_features
            )));
        }
        let ow = self.output_width();
        if out.len() < bsz * ow {
            return Err(err(format!("output buffer holds {} values, needs {}", out.len(), bsz * ow)));
        }
        let workers = pool.map_or(1, |p| p.threads());
        // Small batches run on the calling thread: the hand-off would cost more than splitting saves,
        // and a worker descheduled by other jobs on the core would hold up the join.
        let lookups = self.lookups_per_sample * bsz;
        let emb_pool = if lookups >= PAR_MIN_LOOKUPS { pool } else { None };
        let row_pool = if bsz >= PAR_MIN_ROWS { pool } else { None };
        if workers > 1 && !self.blocks.is_empty() && ws.workers() < workers {
            return Err(err(format!(
                "workspace has scratch for {} workers, pool has {workers}",
                ws.workers()
            )));
        }
        let mut clock = profile.is_some().then(Instant::now);
        macro_rules! mark {
            ($field:ident) => {
                if let (Some(p), Some(c)) = (profile.as_deref_mut(), clock.as_mut()) {
                    let now = Instant::now();
                    p.$field += (now - *c).as_secs_f64();
                    *c = now;
                }
            };
        }

        // Phase A: embeddings, and the bottom MLP (at once when inter-op).
        let overlap = opts.inter_op && emb_pool.is_some() && workers > 1 && !self.bottom.is_empty();
        let bottom_at = if overlap {
            let bot_out = Mutex::new(usize::MAX);
            let (bots, pooled) = (&mut ws.bot, Shared::new(&mut ws.pooled));
            let bots = Mutex::new(bots);
            let next = AtomicUsize::new(0);
            par(pool, |w, n| {
                if w == 0 {
                    let mut b = bots.lock().unwrap_or_else(|p| p.into_inner());
                    *bot_out.lock().unwrap_or_else(|p| p.into_inner()) =
                        run_mlp(None, &self.bottom, &input.dense, bsz, &mut b, None)?;
                }
                self.embed_items(input, &ws.pooled_at, pooled, &next, n)
            })?;
            mark!(embedding_s);
            bot_out.into_inner().unwrap_or_else(|p| p.into_inner())
        } else {
            let next = AtomicUsize::new(0);
            let pooled = Shared::new(&mut ws.pooled);
            par(emb_pool, |_, n| self.embed_items(input, &ws.pooled_at, pooled, &next, n))?;
            mark!(embedding_s);
            let at = if self.bottom.is_empty() {
                usize::MAX
            } else {
                run_mlp(pool, &self.bottom, &input.dense, bsz, &mut ws.bot, None)?
            };
            mark!(mlp_s);
            at
        };

        // Phase B: blocks, split over the batch.
        for (b, block) in self.blocks.iter().enumerate() {
            let dst = Shared::new(&mut ws.blocks[b]);
            let (pooled, at, scratch) = (&ws.pooled, &ws.pooled_at, &ws.scratch);
            par(row_pool, |w, n| {
                let rows = split_range(bsz, n, w);
                if rows.is_empty() {
                    return Ok(());
                }
                let mut s = scratch[w].lock().unwrap_or_else(|p| p.into_inner());
                let width = self.spec.block_out(b);
                // SAFETY: worker w writes only rows split_range(bsz, n, w) of this block's output.
                let out_rows = unsafe { dst.slice(rows.start * width, rows.len() * width) };
                blocks::run(block, pooled, at, bsz, rows, &mut s, out_rows)
            })?;
            if matches!(block, crate::model::BuiltBlock::Ncf { .. }) {
                mark!(mlp_s);
            } else {
                mark!(attention_rnn_s);
            }
        }

        // Phase C: x0 = cat(features), then the interaction; the dot interaction reads the features
        // where they are instead (x0 is 14 MB at MLPerf DLRM v1's batch 1024).
        let xw = self.x0_width;
        let (bot, pooled, pooled_at, blocks_out) = (&ws.bot, &ws.pooled, &ws.pooled_at, &ws.blocks);
        // A feature's rows (batch × its width).
        let source = |f: Feature| -> &[f32] {
            match f {
                Feature::Dense => match bottom_at {
                    usize::MAX => &input.dense,
                    i => &bot[i],
                },
                Feature::Table(t) => &pooled[pooled_at[t]..],
                Feature::Block(b) => &blocks_out[b],
            }
        };
        if !matches!(self.interaction, BuiltInteraction::Dot { .. }) {
            // Row by row, split over the batch: each x0 row is written once, in order, while the
            // features are read as sequential streams (feature by feature, a large batch's x0 would
            // be swept once per feature, one 4 KiB page per row touched; the profile before and
            // after is in results/notebook-2026.md).
            let x0 = Shared::new(&mut ws.x0);
            par(row_pool, |wk, n| {
                let rows = split_range(bsz, n, wk);
                // SAFETY: worker wk writes only its rows of x0.
                let dst = unsafe { x0.slice(rows.start * xw, rows.len() * xw) };
                for (row, r) in dst.chunks_exact_mut(xw).zip(rows) {
                    for &(f, col, w) in &self.features {
                        row[col..col + w].copy_from_slice(&source(f)[r * w..(r + 1) * w]);
                    }
                }
                Ok(())
            })?;
        }
        let top_in: &[f32] = match &self.interaction {
            BuiltInteraction::Cat => &ws.x0,
            BuiltInteraction::Dot { pairs, width } => {
                // Each top-input row: the first feature (the bottom MLP's output), then the pairs.
                let dst = Shared::new(&mut ws.inter);
                let (iw, d, features) = (self.inter_out, *width, &self.features);
                par(row_pool, |w, n| {
                    let rows = split_range(bsz, n, w);
                    // SAFETY: worker w writes only its rows of the interaction output.
                    let o = unsafe { dst.slice(rows.start * iw, rows.len() * iw) };
                    let first = &source(features[0].0)[rows.start * d..rows.end * d];
                    for (orow, f0) in o.chunks_exact_mut(iw).zip(first.chunks_exact(d)) {
                        orow[..d].copy_from_slice(f0);
                    }
                    let feature = |f: usize| &source(features[f].0)[rows.start * d..];
                    pairs.forward(feature, d, rows.len(), o, iw, d).map_err(kernel("dot interaction"))
                })?;
                &ws.inter
            }
            BuiltInteraction::Cross(layers) => {
                let n = bsz * xw;
                ws.inter[..n].copy_from_slice(&ws.x0[..n]);
                for (u, v) in layers {
                    u.forward_pool(pool, &ws.inter, bsz, &mut ws.cross_u)?;
                    v.forward_pool(pool, &ws.cross_u, bsz, &mut ws.cross_v)?;
                    blocks::cross_update(&ws.x0[..n], &ws.cross_v[..n], &mut ws.inter[..n]);
                }
                &ws.inter
            }
        };
        mark!(interaction_s);

        // Phase D: top MLP, then heads.
        if self.heads.is_empty() {
            run_mlp(pool, &self.top, top_in, bsz, &mut ws.top, Some(&mut out[..bsz * ow]))?;
        } else {
            let at = run_mlp(pool, &self.top, top_in, bsz, &mut ws.top, None)?;
            // The heads read the top output; move it aside into x0 (free by now) to reuse both buffers.
            let tw = self.spec.top_mlp.out();
            let (x0, top) = (&mut ws.x0, &mut ws.top);
            x0[..bsz * tw].copy_from_slice(&top[at][..bsz * tw]);
            let hw = ow / self.heads.len();
            for (k, head) in self.heads.iter().enumerate() {
                let r = run_mlp(pool, head, &x0[..bsz * tw], bsz, top, None)?;
                for s in 0..bsz {
                    out[s * ow + k * hw..s * ow + (k + 1) * hw]
                        .copy_from_slice(&top[r][s * hw..(s + 1) * hw]);
                }
            }
        }
        mark!(mlp_s);
        if let Some(p) = profile {
            p.forwards += 1;
        }
        Ok(())
    }

    /// Claims (table, batch piece) items from `next` until none are left, pooling each.
    fn embed_items(
        &self,
        input: &InputSet,
        pooled_at: &[usize],
        pooled: Shared,
        next: &AtomicUsize,
        workers: usize,
    ) -> Result<()> {
        let bsz = input.batch;
        let nt = self.tables.len();
        // Pieces per table: enough items to balance the workers (tables alone when there are many),
        // and at most 256 bags per item so a large batch also spreads.
        let pieces =
            if workers == 1 { 1 } else { (4 * workers).div_ceil(nt).max(bsz.div_ceil(256)).clamp(1, bsz) };
        loop {
            let item = next.fetch_add(1, Ordering::Relaxed);
            if item >= nt * pieces {
                return Ok(());
            }
            let (t, p) = (item / pieces, item % pieces);
            let rows = split_range(bsz, pieces, p);
            if rows.is_empty() {
                continue;
            }
            let ti = &input.tables[t];
            let d = self.dims[t];
            // SAFETY: item (t, p) is claimed once, and its rows of table t's block are written by it alone.
            let dst = unsafe { pooled.slice(pooled_at[t] + rows.start * d, rows.len() * d) };
            self.tables[t]
                .bag(
                    &ti.indices,
                    ti.offsets[rows.start]..ti.offsets[rows.end],
                    &ti.lengths[rows.clone()],
                    dst,
                )
                .map_err(|e| match e {
                    ModelError::Kernel { source, .. } => {
                        ModelError::Kernel { what: format!("{}: table {t}", self.spec.name), source }
                    }
                    other => other,
                })?;
        }
    }
}
