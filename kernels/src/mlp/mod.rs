//! Fused MLP layer: `y = act(x·Wᵀ + b)` on weights packed once into microkernel panels.
//!
//! A BLIS-style packed-panel GEMM (see `driver`) with one microkernel per ISA (`avx512`, `avx2`,
//! `scalar`) chosen at run time, and the bias add and activation fused into the epilogue of the
//! last K block, so `y` is written once. Layers of a few output features (the logit layer) run as
//! dot products on W's rows instead (`narrow`).

mod activation;
#[cfg(target_arch = "x86_64")]
#[macro_use]
mod k_loop;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod driver;
mod narrow;
mod pack;
mod reference;
mod scalar;
#[cfg(test)]
mod tests;

pub use activation::Activation;
pub use pack::PackedWeights;
pub use reference::linear_reference;

use crate::error::{check_len, KernelError, Result};
use crate::isa::Isa;
use crate::pool::{split_range, PinnedPool};
use driver::{KernelSpec, SharedOut};
use narrow::RowWeights;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Multiply-adds (counting at least `MIN_ROWS_OF_WORK` rows) below which `forward_par` stays on
/// the calling thread: below it the pool's hand-off costs more than splitting the layer saves
/// (`examples/mlp_probe`; figures in results/notebook-2026.md).
const PAR_MIN_WORK: usize = 1 << 19;

/// Rows a layer counts as at least against `PAR_MIN_WORK`. A batch of one or two streams W instead
/// of computing, so its time follows W's size rather than its rows.
const MIN_ROWS_OF_WORK: usize = 4;

/// Chunks per worker in `forward_par`: enough that a stalled worker's share can be taken over,
/// few enough that each chunk still reuses its block of `x` across several panels.
const CHUNKS_PER_THREAD: usize = 2;

/// A fully connected layer (nn.Linear layout) with its weights packed for one ISA's microkernel.
#[derive(Debug)]
pub struct Linear {
    act: Activation,
    isa: Isa,
    weights: Weights,
}

/// A layer's weights in the layout of the kernel that runs it.
#[derive(Debug)]
enum Weights {
    /// Microkernel panels (the GEMM path).
    Panels(PackedWeights),
    /// nn.Linear rows, for layers of fewer than half a panel of output features (dot products).
    Rows(RowWeights),
}

/// The microkernel of `isa`.
fn spec(isa: Isa) -> &'static KernelSpec {
    match isa {
        Isa::Scalar => &scalar::SPEC,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => &avx2::SPEC,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => &avx512::SPEC,
        #[cfg(not(target_arch = "x86_64"))]
        _ => &scalar::SPEC,
    }
}

/// `a · b`, or an InvalidShape error naming the product.
fn checked_len(what: &str, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| KernelError::InvalidShape(format!("{what}: {a} x {b} overflows")))
}

/// NonFinite at the first NaN or infinity of `v`.
fn check_finite(what: &'static str, v: &[f32]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(pos) => Err(KernelError::NonFinite { what, pos }),
        None => Ok(()),
    }
}

impl Linear {
    /// Packs `weight` (`n×k`, row-major, as nn.Linear stores it) and `bias` (`n`) for the best ISA.
    pub fn new(weight: &[f32], bias: Option<&[f32]>, k: usize, n: usize, act: Activation) -> Result<Self> {
        Self::with_isa(weight, bias, k, n, act, Isa::best())
    }

    /// As [`Linear::new`], for a given ISA (an error when this CPU lacks it).
    pub fn with_isa(
        weight: &[f32],
        bias: Option<&[f32]>,
        k: usize,
        n: usize,
        act: Activation,
        isa: Isa,
    ) -> Result<Self> {
        if k == 0 || n == 0 {
            return Err(KernelError::InvalidShape(format!(
                "linear layer needs in_features (k) and out_features (n) > 0, got k={k}, n={n}"
            )));
        }
        let isa = isa.require()?;
        check_len("weight (n*k)", checked_len("weight", n, k)?, weight.len())?;
        check_finite("weight", weight)?;
        if let Some(b) = bias {
            check_len("bias (n)", n, b.len())?;
            check_finite("bias", b)?;
        }
        // A layer that would leave its panel more than half padding runs as dot products instead
        // (`narrow`): about where `mlp_probe` saw the dot products overtake the padded panel on
        // both ISAs (figures in results/notebook-2026.md).
        let weights = if 2 * n < spec(isa).nr {
            Weights::Rows(RowWeights::new(weight, bias, k, n))
        } else {
            Weights::Panels(PackedWeights::new(weight, bias, k, n, spec(isa).nr)?)
        };
        Ok(Self { act, isa, weights })
    }

    /// Input features (K).
    pub fn in_features(&self) -> usize {
        self.dims().0
    }

    /// Output features (N).
    pub fn out_features(&self) -> usize {
        self.dims().1
    }

    /// (K, N).
    fn dims(&self) -> (usize, usize) {
        match &self.weights {
            Weights::Panels(p) => (p.k, p.n),
            Weights::Rows(r) => (r.k, r.n),
        }
    }

    /// The fused activation.
    pub fn activation(&self) -> Activation {
        self.act
    }

    /// The ISA whose microkernel runs this layer.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Floating-point operations of one forward pass over `m` rows (`2·m·k·n`, bias and activation
    /// not counted).
    pub fn flops(&self, m: usize) -> f64 {
        let (k, n) = self.dims();
        2.0 * m as f64 * k as f64 * n as f64
    }

    /// Checks `x` (`m×k`) and `y` (`m×n`) against the layer.
    fn check_io(&self, x: &[f32], m: usize, y: &[f32]) -> Result<()> {
        let (k, n) = self.dims();
        check_len("x (m*k)", checked_len("x", m, k)?, x.len())?;
        check_len("y (m*n)", checked_len("y", m, n)?, y.len())
    }

    /// `y = act(x·Wᵀ + b)` on the calling thread; `x` is `m×k`, `y` is `m×n`, both row-major.
    pub fn forward(&self, x: &[f32], m: usize, y: &mut [f32]) -> Result<()> {
        self.check_io(x, m, y)?;
        if m == 0 {
            return Ok(());
        }
        // SAFETY: lengths checked above; this thread holds the only (&mut) reference to y.
        unsafe { self.run(x.as_ptr(), y.as_mut_ptr(), 0..m, None) };
        Ok(())
    }

    /// Rows `rows` × panels `panels` of y (all of them when None; narrow layers have no panels).
    ///
    /// # Safety
    /// `x` holds `rows.end × k` floats and `y` `rows.end × n`; no other thread writes the same
    /// region of `y` concurrently.
    unsafe fn run(&self, x: *const f32, y: *mut f32, rows: Range<usize>, panels: Option<Range<usize>>) {
        match &self.weights {
            // SAFETY (both): this fn's contract; the ISA was checked available at construction.
            Weights::Panels(p) => unsafe {
                let panels = panels.unwrap_or(0..p.panels());
                driver::run(spec(self.isa), p, self.act, x, y, rows, panels)
            },
            Weights::Rows(r) => unsafe { narrow::run(self.isa, r, self.act, x, y, rows) },
        }
    }

    /// As [`Linear::forward`], split over the pool's workers in a few chunks per worker: groups of
    /// N panels (each chunk then streams only its share of the weights), and row blocks as well
    /// when N has too few panels or W is small enough to fit in L2. Workers claim chunks from a
    /// shared counter rather than being assigned them, so a worker that the OS has descheduled
    /// (other jobs on the cores) delays nothing but the chunk it holds: the others take the rest.
    /// A one-worker pool, and problems below `PAR_MIN_WORK` (counting at least `MIN_ROWS_OF_WORK`
    /// rows), run on the calling thread (no hand-off).
    pub fn forward_par(&self, pool: &PinnedPool, x: &[f32], m: usize, y: &mut [f32]) -> Result<()> {
        self.check_io(x, m, y)?;
        let threads = pool.threads();
        if m == 0 {
            return Ok(());
        }
        let (k, n) = self.dims();
        if threads == 1 || m.max(MIN_ROWS_OF_WORK).saturating_mul(k * n) < PAR_MIN_WORK {
            return self.forward(x, m, y);
        }
        let want = CHUNKS_PER_THREAD * threads;
        // Rows per tile, panels, and the groups the panels split into.
        let (mr, panels, groups) = match &self.weights {
            Weights::Panels(p) => {
                let panels = p.panels();
                // Small W: every chunk reading all of it is free, and whole-row chunks keep y's
                // stores sequential (the K = 13 layers are bound by writing y).
                (spec(self.isa).mr, panels, if driver::small_w(p, panels) { 1 } else { panels.min(want) })
            }
            // Narrow: a chunk computes every feature of its rows.
            Weights::Rows(_) => (narrow::TILE, 1, 1),
        };
        let row_tiles = m.div_ceil(mr);
        let blocks = want.div_ceil(groups).min(row_tiles);
        let out = SharedOut(y.as_mut_ptr());
        let next = AtomicUsize::new(0);
        pool.broadcast(|_, _| loop {
            let chunk = next.fetch_add(1, Ordering::Relaxed);
            if chunk >= groups * blocks {
                return;
            }
            let t = split_range(row_tiles, blocks, chunk / groups);
            let rows = (t.start * mr).min(m)..(t.end * mr).min(m);
            let cols = split_range(panels, groups, chunk % groups);
            if rows.is_empty() || cols.is_empty() {
                continue;
            }
            // SAFETY: lengths checked above; each chunk is claimed once and chunks are disjoint
            // (row block, panel group) pairs, so no two write the same element of y, and y's &mut
            // borrow outlives the broadcast that runs them.
            unsafe { self.run(x.as_ptr(), out.ptr(), rows, Some(cols)) };
        });
        Ok(())
    }
}
