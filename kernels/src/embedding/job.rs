//! The checked description of one bag lookup that every ISA's kernel receives.

use super::input::IndexInt;
use super::prefetch::prefetch_row;
use super::table::DType;
use super::PrefetchHint;

/// A validated lookup: offsets are monotone, start at 0 and end at `indices.len()`; `weights`, when
/// present, has one entry per index; `data` holds `rows` rows every `stride` bytes, each at least
/// `dtype.packed_row_bytes(dim)` long. Indices themselves are *not* checked: kernels check each one
/// before reading its row and report the position of the first bad one.
pub(super) struct Job<'a, I: IndexInt> {
    /// The table's bytes, row `r` at `r · stride`.
    pub data: &'a [u8],
    /// Rows in the table (valid indices are below this).
    pub rows: usize,
    /// Bytes from one row to the next.
    pub stride: usize,
    /// Values per row (and per output row).
    pub dim: usize,
    /// Row format.
    pub dtype: DType,
    /// All bags' indices, concatenated.
    pub indices: &'a [I],
    /// B + 1 checked offsets into `indices`.
    pub offsets: &'a [usize],
    /// Per-index weights (one per index), if any.
    pub weights: Option<&'a [f32]>,
    /// Divide each bag's sum by its length.
    pub mean: bool,
    /// Rows ahead to prefetch (0 = off).
    pub prefetch: usize,
    /// Cache level the prefetches target.
    pub hint: PrefetchHint,
}

impl<I: IndexInt> Job<'_, I> {
    /// Bytes a lookup reads from its row (the packed row; padding is never read).
    pub fn row_data_bytes(&self) -> usize {
        self.dtype.packed_row_bytes(self.dim)
    }

    /// Index positions this job's prefetcher may look at for bags `bags` (its own share only, so
    /// parallel workers do not pull in each other's rows).
    pub fn prefetch_end(&self, bags: &std::ops::Range<usize>) -> usize {
        self.offsets[bags.end]
    }

    /// The prefetch schedule of a pass that prefetches `pf` lookups ahead (0 = none).
    #[inline(always)]
    pub fn prefetch_plan(&self, pf: usize) -> PrefetchPlan {
        let (hint, near) = match self.hint {
            PrefetchHint::T1T0 if pf != 0 => (PrefetchHint::T1, (pf / 4).max(1)),
            h => (h, 0),
        };
        PrefetchPlan { far: pf, hint, near, row_data: self.row_data_bytes() }
    }

    /// 1/len for a mean over a bag of `len` indices, 1 for a sum (and for an empty bag, whose
    /// result is zeros either way).
    #[inline(always)]
    pub fn final_scale(&self, len: usize) -> f32 {
        if self.mean && len > 0 {
            1.0 / len as f32
        } else {
            1.0
        }
    }
}

/// What a kernel prefetches at each lookup: every line of the row `far` positions ahead with
/// `hint`, and (for [`PrefetchHint::T1T0`]) `prefetcht0` of the row `near` positions ahead, which
/// the far prefetch should by then have brought into L2. Hoisted out of the loop so the default
/// (one level) costs the same instructions as before the two-level option existed.
#[derive(Clone, Copy)]
pub(super) struct PrefetchPlan {
    far: usize,
    hint: PrefetchHint,
    near: usize,
    row_data: usize,
}

impl PrefetchPlan {
    /// Issues the prefetches for lookup position `i`; positions at or past `pf_end` and
    /// out-of-range indices are skipped (the latter are reported when their turn comes).
    #[inline(always)]
    pub fn issue<I: IndexInt>(&self, job: &Job<'_, I>, i: usize, pf_end: usize) {
        let base = job.data.as_ptr();
        if self.far != 0 && i + self.far < pf_end {
            // SAFETY: i + far < pf_end ≤ indices.len() (prefetch_end returns an offset).
            let next = unsafe { job.indices.get_unchecked(i + self.far) }.to_u64();
            if next < job.rows as u64 {
                prefetch_row(base.wrapping_add(next as usize * job.stride), self.row_data, self.hint);
            }
        }
        if self.near != 0 && i + self.near < pf_end {
            // SAFETY: as above.
            let next = unsafe { job.indices.get_unchecked(i + self.near) }.to_u64();
            if next < job.rows as u64 {
                prefetch_row(base.wrapping_add(next as usize * job.stride), self.row_data, PrefetchHint::T0);
            }
        }
    }
}
