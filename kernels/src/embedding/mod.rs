//! Embedding bags with FBGEMM EmbeddingSpMDM / Caffe2 SparseLengthsSum semantics: for each bag,
//! gather the rows its indices name and pool them (sum, mean, or weighted sum).
//!
//! Semantics, precisely:
//! - bag `b` covers index positions `offsets[b]..offsets[b+1]` (or consecutive runs of `lengths`);
//! - `Sum`: Σ wᵢ·row(idxᵢ), with wᵢ = 1 without weights; `Mean`: that sum divided by the bag's
//!   length (weights, when given, are applied before the division, like FBGEMM's
//!   `normalize_by_lengths`); an empty bag gives zeros in both modes;
//! - int8 rows are dequantised as q·scale + bias; kernels add Σ q·(scale·w) and Σ bias·w separately;
//! - accumulation is in f32 (the reference uses f64).
//!
//! Inputs are checked before any row is read: bad offsets/lengths → `BadOffsets`, a wrong `out` or
//! `weights` length → `ShapeMismatch`. Each index is checked in the gather loop just before its row
//! is read; the first out-of-range one → `IndexOutOfRange` (with its position and bag), and `out` is
//! then partly written. Kernels: scalar, and one SIMD body (`simd.rs`) for AVX2 (+FMA, F16C) and
//! AVX-512, chosen by [`EmbeddingOpts`], all prefetching the row `prefetch_distance` lookups ahead.

mod avx2;
mod avx512;
mod input;
mod job;
mod par;
pub(crate) mod prefetch;
mod quant;
mod reference;
mod scalar;
mod simd;
mod table;
#[cfg(test)]
mod tests;
mod tune;
mod tune_cache;

pub use input::{random_bags, random_bags_u64, Bags, Indices};
pub use par::embedding_bag_par;
pub use reference::embedding_bag_reference;
pub use table::{DType, EmbeddingTable};
pub use tune::{
    candidates, tune_prefetch, tune_prefetch_cached, CandidateTime, PrefetchTuning, TuningSource,
};
pub use tune_cache::{default_cache_path, host_fingerprint, shape_class, TuningCache, CACHE_ENV};

use crate::error::{KernelError, Result};
use crate::isa::Isa;
use input::{bag_of, checked_offsets, IndexInt};
use job::Job;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// How the rows of a bag are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Σ rows (a weighted sum when weights are given).
    Sum,
    /// Σ rows / bag length; zeros for an empty bag.
    Mean,
}

impl std::fmt::Display for Pooling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pooling::Sum => "sum",
            Pooling::Mean => "mean",
        })
    }
}

impl std::str::FromStr for Pooling {
    type Err = KernelError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sum" => Ok(Pooling::Sum),
            "mean" => Ok(Pooling::Mean),
            other => {
                Err(KernelError::UnknownName(format!("unknown pooling {other:?} (expected sum or mean)")))
            }
        }
    }
}

/// Which cache level a software prefetch targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrefetchHint {
    /// `prefetcht0`: into L1 (and all levels below).
    T0,
    /// `prefetcht1`: into L2.
    T1,
    /// `prefetchnta`: non-temporal, into L1 with minimal pollution of the other levels.
    Nta,
    /// Two levels: `prefetcht1` at the prefetch distance, then `prefetcht0` of the same row at a
    /// quarter of the distance, so the loads find the row in L1 rather than L2.
    T1T0,
}

/// Rows ahead the kernels prefetch by default. Tuned on a 2-core Xeon (KVM) with 2 GiB
/// tables: 32–64 rows ahead with `prefetcht1` were best at D = 32, 64, 128 (16 was slightly worse,
/// `prefetcht0` no better than no prefetch at all). Other machines differ (16 rows ahead was best on a
/// 2-core EPYC guest), so models and `hercules kernels` measure distance and hint per host and shape
/// class with [`tune_prefetch_cached`].
pub const DEFAULT_PREFETCH_DISTANCE: usize = 32;

/// The prefetch hint of [`EmbeddingOpts::default`] (see [`DEFAULT_PREFETCH_DISTANCE`]).
pub const DEFAULT_HINT: PrefetchHint = PrefetchHint::T1;

/// Tables up to this size are served from the last-level cache once warm; there, software prefetch
/// only costs instructions (−25% at 8 MiB on that Xeon VM), so [`EmbeddingOpts::for_table`] turns it off.
pub const PREFETCH_MIN_TABLE_BYTES: usize = 32 << 20;

/// Tuning knobs of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddingOpts {
    /// Instruction set of the kernel (must be available).
    pub isa: Isa,
    /// How many lookups ahead to prefetch whole rows (0 = no software prefetch).
    pub prefetch_distance: usize,
    /// Cache level the prefetch targets.
    pub prefetch_hint: PrefetchHint,
}

impl Default for EmbeddingOpts {
    /// The best ISA, prefetching [`DEFAULT_PREFETCH_DISTANCE`] rows ahead into L2.
    fn default() -> Self {
        Self { isa: Isa::best(), prefetch_distance: DEFAULT_PREFETCH_DISTANCE, prefetch_hint: DEFAULT_HINT }
    }
}

impl EmbeddingOpts {
    /// The defaults, with prefetch off for a table small enough to stay in cache
    /// (at most [`PREFETCH_MIN_TABLE_BYTES`]).
    pub fn for_table(table: &EmbeddingTable) -> Self {
        let prefetch_distance =
            if table.bytes() <= PREFETCH_MIN_TABLE_BYTES { 0 } else { DEFAULT_PREFETCH_DISTANCE };
        Self { prefetch_distance, ..Self::default() }
    }
}

/// Kernel-internal tags of the storage type (const-generic parameters of the SIMD passes).
const DT_F32: u8 = 0;
const DT_F16: u8 = 1;
const DT_I8: u8 = 2;

/// Pools every bag of `indices` from `table` into `out` (`B × dim`, row-major) on the calling thread.
pub fn embedding_bag(
    table: &EmbeddingTable,
    indices: Indices<'_>,
    bags: Bags<'_>,
    weights: Option<&[f32]>,
    pooling: Pooling,
    out: &mut [f32],
    opts: &EmbeddingOpts,
) -> Result<()> {
    let (isa, offsets) = validate(table, &indices, bags, weights, out, opts)?;
    let bag_count = offsets.len() - 1;
    let res = match indices {
        Indices::U32(ix) => {
            run(isa, &make_job(table, ix, &offsets, weights, pooling, opts), 0..bag_count, out)
        }
        Indices::U64(ix) => {
            run(isa, &make_job(table, ix, &offsets, weights, pooling, opts), 0..bag_count, out)
        }
    };
    res.map_err(|pos| index_error(indices.get(pos), pos, bag_of(&offsets, pos), table.rows()))
}

/// Validates a call before any row is read: the ISA is available, the offsets are sound, and `out` and
/// `weights` fit them. Returns the ISA and the offsets (converted from lengths where needed).
fn validate<'a>(
    table: &EmbeddingTable,
    indices: &Indices<'_>,
    bags: Bags<'a>,
    weights: Option<&[f32]>,
    out: &[f32],
    opts: &EmbeddingOpts,
) -> Result<(Isa, std::borrow::Cow<'a, [usize]>)> {
    let isa = opts.isa.require()?;
    let offsets = checked_offsets(bags, indices.len())?;
    check_shapes(table, &offsets, indices.len(), weights, out)?;
    Ok((isa, offsets))
}

/// Checks `out` and `weights` against the validated offsets.
fn check_shapes(
    table: &EmbeddingTable,
    offsets: &[usize],
    n: usize,
    weights: Option<&[f32]>,
    out: &[f32],
) -> Result<()> {
    let expected = (offsets.len() - 1) * table.dim();
    if out.len() != expected {
        return Err(KernelError::ShapeMismatch {
            what: "embedding output (bags × dim)",
            expected,
            got: out.len(),
        });
    }
    check_weights(weights, n)
}

/// Weights, when given, must have one entry per index.
fn check_weights(weights: Option<&[f32]>, n: usize) -> Result<()> {
    match weights {
        Some(w) if w.len() != n => Err(KernelError::ShapeMismatch {
            what: "embedding weights (one per index)",
            expected: n,
            got: w.len(),
        }),
        _ => Ok(()),
    }
}

/// The error for index `index` at position `pos` of bag `bag`.
fn index_error(index: u64, pos: usize, bag: usize, rows: usize) -> KernelError {
    KernelError::IndexOutOfRange { index, pos, bag, rows }
}

/// The kernel's view of one validated call.
fn make_job<'a, I: IndexInt>(
    table: &'a EmbeddingTable,
    indices: &'a [I],
    offsets: &'a [usize],
    weights: Option<&'a [f32]>,
    pooling: Pooling,
    opts: &EmbeddingOpts,
) -> Job<'a, I> {
    Job {
        data: table.data(),
        rows: table.rows(),
        stride: table.row_bytes(),
        dim: table.dim(),
        dtype: table.dtype(),
        indices,
        offsets,
        weights,
        mean: pooling == Pooling::Mean,
        prefetch: opts.prefetch_distance,
        hint: opts.prefetch_hint,
    }
}

/// Runs the kernel of `isa` (checked available) on bags `bags`; `out` holds exactly their rows.
fn run<I: IndexInt>(
    isa: Isa,
    job: &Job<'_, I>,
    bags: Range<usize>,
    out: &mut [f32],
) -> std::result::Result<(), usize> {
    debug_assert_eq!(out.len(), bags.len() * job.dim);
    match isa {
        Isa::Scalar => scalar::run(job, bags, out),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked the ISA is available; the job was built from validated inputs
        // (offsets, weights), bags lie within them, and out has bags.len() × dim values.
        Isa::Avx2 => unsafe { simd::run::<crate::simd::Avx2, I>(job, bags, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx512 => unsafe { simd::run::<crate::simd::Avx512, I>(job, bags, out) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => scalar::run(job, bags, out),
    }
}
