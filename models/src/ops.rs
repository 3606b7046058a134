//! The operators a model is built from, as thin adapters over `hercules-kernels`: an embedding table
//! with its pooling, and a dense layer with its fused activation. Spec types map to kernel types here
//! and nowhere else.

use crate::error::{kernel, Result};
use crate::inputs::IndexBuf;
use crate::spec::{Act, DTypeSpec, PoolingSpec};
use hercules_kernels::embedding::{self, Bags, EmbeddingOpts, EmbeddingTable, Indices, Pooling};
use hercules_kernels::mlp::{Activation, Linear};
use hercules_kernels::PinnedPool;

/// An embedding table and how its bags are pooled.
pub struct Table {
    inner: EmbeddingTable,
    pooling: Pooling,
    opts: EmbeddingOpts,
}

impl Table {
    /// A table of `rows` × `dim` from row-major f32 values, stored as `dtype`.
    pub fn new(
        what: &str,
        rows: usize,
        dim: usize,
        dtype: DTypeSpec,
        pooling: PoolingSpec,
        data: &[f32],
    ) -> Result<Self> {
        let inner = EmbeddingTable::from_f32(rows, dim, dtype.into(), data).map_err(kernel(what))?;
        let pooling = pooling.into();
        let opts = EmbeddingOpts::for_table(&inner);
        Ok(Self { inner, pooling, opts })
    }

    /// Chooses software prefetch from the whole model's table bytes: the kernel's per-table default
    /// turns prefetch off for tables that would stay in cache alone, but many such tables together
    /// (rmc2 at a reduced row scale) still miss in cache.
    pub fn set_model_table_bytes(&mut self, total: usize) {
        if total > embedding::PREFETCH_MIN_TABLE_BYTES {
            self.opts.prefetch_distance = embedding::DEFAULT_PREFETCH_DISTANCE;
        }
    }

    /// The software prefetch for this table on this host: from the per-host tuning cache, or measured
    /// (see [`embedding::tune_prefetch_cached`]) on every core this process may use at once, the
    /// condition a server works in at capacity.
    pub fn tune_prefetch(&self) -> Result<embedding::PrefetchTuning> {
        let cache = embedding::default_cache_path();
        let pool = PinnedPool::new(&hercules_kernels::pool::allowed_cores())
            .map_err(kernel("tuning the software prefetch"))?;
        embedding::tune_prefetch_cached(&self.inner, self.opts, 9, &pool, cache.as_deref())
            .map_err(kernel("tuning the software prefetch"))
    }

    /// Uses `tuning`'s prefetch where this table prefetches at all.
    pub fn set_prefetch(&mut self, tuning: &embedding::PrefetchTuning) {
        if self.opts.prefetch_distance != 0 {
            self.opts = tuning.apply(self.opts);
        }
    }

    /// Bytes of the stored rows.
    pub fn bytes(&self) -> usize {
        self.inner.bytes()
    }

    /// Pools the bags given by `lengths` over `indices[range]` into `out` (bags × dim).
    pub fn bag(
        &self,
        indices: &IndexBuf,
        range: std::ops::Range<usize>,
        lengths: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        let idx = match indices {
            IndexBuf::U32(v) => Indices::U32(&v[range]),
            IndexBuf::U64(v) => Indices::U64(&v[range]),
        };
        embedding::embedding_bag(
            &self.inner,
            idx,
            Bags::Lengths(lengths),
            None,
            self.pooling,
            out,
            &self.opts,
        )
        .map_err(kernel("embedding bag"))
    }
}

/// A fully connected layer y = act(x·Wᵀ + b) on packed weights.
pub struct Dense {
    inner: Linear,
}

impl Dense {
    /// From a PyTorch-layout weight [n, k] and optional bias [n].
    pub fn new(
        what: &str,
        weight: &[f32],
        bias: Option<&[f32]>,
        k: usize,
        n: usize,
        act: Act,
    ) -> Result<Self> {
        let a = match act {
            Act::None => Activation::None,
            Act::Relu => Activation::Relu,
            Act::Sigmoid => Activation::Sigmoid,
        };
        Ok(Self { inner: Linear::new(weight, bias, k, n, a).map_err(kernel(what))? })
    }

    /// Input width.
    pub fn k(&self) -> usize {
        self.inner.in_features()
    }

    /// Output width.
    pub fn n(&self) -> usize {
        self.inner.out_features()
    }

    /// y[..m·n] = layer(x[..m·k]) on the calling thread.
    pub fn forward(&self, x: &[f32], m: usize, y: &mut [f32]) -> Result<()> {
        let (k, n) = (self.k(), self.n());
        self.inner.forward(&x[..m * k], m, &mut y[..m * n]).map_err(kernel("dense layer"))
    }

    /// As [`Dense::forward`], split over the pool's workers (on one worker: inline).
    pub fn forward_pool(&self, pool: Option<&PinnedPool>, x: &[f32], m: usize, y: &mut [f32]) -> Result<()> {
        match pool {
            Some(p) if p.threads() > 1 => {
                let (k, n) = (self.k(), self.n());
                self.inner.forward_par(p, &x[..m * k], m, &mut y[..m * n]).map_err(kernel("dense layer"))
            }
            _ => self.forward(x, m, y),
        }
    }
}
