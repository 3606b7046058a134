//! Buffers a forward pass needs, allocated once for a maximum batch so that no query allocates on the
//! hot path. One workspace per model instance; per-worker scratch inside it for the blocks that run
//! split over the batch.

use crate::model::{BuiltBlock, BuiltInteraction, Model};
use std::sync::Mutex;

/// Per-worker scratch for blocks (attention units, RNN steps, NCF branch).
#[derive(Debug, Default)]
pub struct Scratch {
    pub(crate) a: Vec<f32>,
    pub(crate) b: Vec<f32>,
    pub(crate) c: Vec<f32>,
    pub(crate) d: Vec<f32>,
    pub(crate) e: Vec<f32>,
}

/// Preallocated buffers for batches of up to `capacity()` samples.
#[derive(Debug)]
pub struct Workspace {
    pub(crate) cap: usize,
    /// Pooled vectors, table t's batch × dim block at `pooled_at[t]`.
    pub(crate) pooled: Vec<f32>,
    pub(crate) pooled_at: Vec<usize>,
    pub(crate) bot: [Vec<f32>; 2],
    pub(crate) blocks: Vec<Vec<f32>>,
    /// The concatenated features (none for the dot interaction), and the heads' copy of the top output.
    pub(crate) x0: Vec<f32>,
    pub(crate) inter: Vec<f32>,
    pub(crate) cross_u: Vec<f32>,
    pub(crate) cross_v: Vec<f32>,
    pub(crate) top: [Vec<f32>; 2],
    pub(crate) scratch: Vec<Mutex<Scratch>>,
}

impl Workspace {
    /// Buffers for `model` at batches up to `max_batch`, with scratch for `workers` parallel workers.
    pub fn new(model: &Model, max_batch: usize, workers: usize) -> Self {
        let cap = max_batch.max(1);
        let mut pooled_at = Vec::with_capacity(model.dims.len());
        let mut total = 0;
        for &d in &model.dims {
            pooled_at.push(total);
            total += cap * d;
        }
        let widest =
            |layers: &[crate::ops::Dense]| layers.iter().map(|l| l.n().max(l.k())).max().unwrap_or(0);
        let bot_w = widest(&model.bottom).max(model.spec.dense_features);
        let mut top_w = widest(&model.top);
        for h in &model.heads {
            top_w = top_w.max(widest(h));
        }
        let mut scratch_w = 0;
        let blocks = model
            .blocks
            .iter()
            .enumerate()
            .map(|(b, blk)| {
                let need = match blk {
                    BuiltBlock::Attention { dim, units, .. } => {
                        (3 * dim).max(units.first().map_or(0, |u| widest(u)))
                    }
                    BuiltBlock::Rnn { steps, dim, layers, .. } => {
                        steps * layers.iter().map(|(ih, _)| ih.n()).max().unwrap_or(0).max(*dim)
                    }
                    BuiltBlock::Ncf { mlp, dim, .. } => widest(mlp).max(2 * dim),
                };
                scratch_w = scratch_w.max(need);
                vec![0.0; cap * model.spec.block_out(b)]
            })
            .collect();
        let (low_rank, inter_w, x0_w) = match &model.interaction {
            BuiltInteraction::Cat => (0, 0, model.x0_width),
            // No x0: the pairs read the features where they are.
            BuiltInteraction::Dot { .. } => (0, model.inter_out, 0),
            BuiltInteraction::Cross(l) => {
                (l.first().map_or(0, |(u, _)| u.n()), model.x0_width, model.x0_width)
            }
        };
        // The heads park the top MLP's output in x0 while they reuse `top`.
        let x0_w = if model.heads.is_empty() { x0_w } else { x0_w.max(model.spec.top_mlp.out()) };
        let scratch = if model.blocks.is_empty() {
            Vec::new()
        } else {
            (0..workers.max(1))
                .map(|_| {
                    let s = cap * scratch_w;
                    Mutex::new(Scratch {
                        a: vec![0.0; s],
                        b: vec![0.0; s],
                        c: vec![0.0; s],
                        d: vec![0.0; s],
                        e: vec![0.0; s],
                    })
                })
                .collect()
        };
        Self {
            cap,
            pooled: vec![0.0; total],
            pooled_at,
            bot: [vec![0.0; cap * bot_w], vec![0.0; cap * bot_w]],
            blocks,
            x0: vec![0.0; cap * x0_w],
            inter: vec![0.0; cap * inter_w],
            cross_u: vec![0.0; cap * low_rank],
            cross_v: vec![0.0; cap * inter_w],
            top: [vec![0.0; cap * top_w], vec![0.0; cap * top_w]],
            scratch,
        }
    }

    /// Largest batch this workspace serves.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Number of workers it has scratch for (blocks run on at most this many).
    pub fn workers(&self) -> usize {
        self.scratch.len().max(1)
    }
}
