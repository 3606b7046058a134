//! The checked description of one bag lookup that every ISA's kernel receives.

use super::input::IndexInt;
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
