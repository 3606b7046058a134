//! The checked description of one bag lookup that every ISA's kernel receives.

use super::input::IndexInt;
use super::prefetch::{hint_code, prefetch_line, H_NTA, H_T0, H_T1};
use super::table::DType;
use super::PrefetchHint;
use super::{DT_F32, DT_I8};

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

    /// The prefetch schedule of a kernel pass over values `col ..` of each row that reads `slice_bytes`
    /// bytes from there (the int8 scale and bias, when outside the slice, are asked for as well).
    #[inline(always)]
    pub fn slice_plan(&self, col: usize, slice_bytes: usize) -> SlicePlan {
        let near = match self.hint {
            PrefetchHint::T1T0 if self.prefetch != 0 => (self.prefetch / 4).max(1),
            _ => 0,
        };
        let start = col * self.dtype.value_bytes();
        let last = slice_bytes.max(1) - 1;
        // Int8 rows end with scale and bias, which every pass reads (asked for apart when past the slice).
        let extra = (self.dtype == DType::Int8).then(|| self.dim - start + 7).filter(|&e| e > last);
        // A slice of whole lines in line-aligned rows is covered by its lines alone.
        let ragged = ![self.stride, start, last + 1].iter().all(|b| b.is_multiple_of(64));
        SlicePlan { far: self.prefetch, near, start, last, extra, ragged }
    }

    /// The prefetch plan of a SIMD pass `width` values wide (`N · lanes`) from `col`, for dtype code
    /// `DT`, and its line count: a constant of the pass, so the prefetches unroll into straight-line
    /// code.
    #[inline(always)]
    pub fn pass_prefetch<const DT: u8>(&self, col: usize, width: usize) -> (SlicePlan, usize) {
        let esize = DType::code_value_bytes(DT);
        (self.slice_plan(col, (self.dim - col).min(width) * esize), (width * esize).div_ceil(64))
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

/// What a kernel pass prefetches at each lookup: its own slice of the row `far` positions ahead (and
/// `near` positions ahead with `prefetcht0`, for [`PrefetchHint::T1T0`]), as FBGEMM's generated
/// loop does per block of registers.
///
/// The line count is a compile-time constant of the pass (`lines` is called with one), the hint a
/// const parameter, and a position past the share's end is clamped rather than branched around, so
/// a lookup costs a few straight-line instructions. The same prefetches issued by a loop over a
/// run-time line count with a run-time hint gained nothing over no prefetch at all (see
/// results/notebook-2026.md).
#[derive(Clone, Copy)]
pub(super) struct SlicePlan {
    far: usize,
    near: usize,
    /// Byte offset of the slice in the row.
    start: usize,
    /// Offset of the slice's last byte from its start.
    last: usize,
    /// The int8 scale and bias, from the slice's start, when the slice does not reach them.
    extra: Option<usize>,
    /// The slice may end in a line its whole lines from `start` do not reach (rows not line-aligned,
    /// or the slice not a whole number of lines), so its last byte is asked for as well.
    ragged: bool,
}

impl SlicePlan {
    /// Issues the prefetches for lookup position `i` (`i < pf_end ≤ indices.len()`): `lines` lines
    /// from the slice's start, each clamped to the slice, then, when the slice is ragged, its last byte (it may
    /// start mid-line), and for int8 rows (`DT`) the scale and bias. `lines` should be a constant:
    /// the slice's length in whole lines rounded up.
    #[inline(always)]
    pub fn issue<const H: u8, const DT: u8, I: IndexInt>(
        &self,
        job: &Job<'_, I>,
        i: usize,
        pf_end: usize,
        lines: usize,
    ) {
        if self.far != 0 {
            self.slice::<H, DT, I>(job, (i + self.far).min(pf_end - 1), lines);
        }
        if self.near != 0 {
            self.slice::<H_T0, DT, I>(job, (i + self.near).min(pf_end - 1), lines);
        }
    }

    /// [`issue`](Self::issue) with the hint and whether rows are int8 chosen at run time (for the
    /// scalar kernel, which is not specialised on them; any other tag than `DT_I8` prefetches alike).
    #[inline(always)]
    pub fn issue_any<I: IndexInt>(&self, job: &Job<'_, I>, i: usize, pf_end: usize, lines: usize) {
        match (hint_code(job.hint), job.dtype == DType::Int8) {
            (H_T0, false) => self.issue::<H_T0, DT_F32, I>(job, i, pf_end, lines),
            (H_T0, true) => self.issue::<H_T0, DT_I8, I>(job, i, pf_end, lines),
            (H_T1, false) => self.issue::<H_T1, DT_F32, I>(job, i, pf_end, lines),
            (H_T1, true) => self.issue::<H_T1, DT_I8, I>(job, i, pf_end, lines),
            (_, false) => self.issue::<H_NTA, DT_F32, I>(job, i, pf_end, lines),
            (_, true) => self.issue::<H_NTA, DT_I8, I>(job, i, pf_end, lines),
        }
    }

    /// The prefetches of the row named at position `j`.
    #[inline(always)]
    fn slice<const H: u8, const DT: u8, I: IndexInt>(&self, job: &Job<'_, I>, j: usize, lines: usize) {
        // SAFETY: j < pf_end ≤ indices.len() (the caller's contract). The index is not range-checked:
        // a prefetch of any address is harmless, and a bad index is reported when its turn comes.
        let next = unsafe { job.indices.get_unchecked(j) }.to_u64() as usize;
        let p = job.data.as_ptr().wrapping_add(next.wrapping_mul(job.stride).wrapping_add(self.start));
        for l in 0..lines {
            prefetch_line::<H>(p.wrapping_add((l * 64).min(self.last)));
        }
        if self.ragged {
            prefetch_line::<H>(p.wrapping_add(self.last));
        }
        if let (DT_I8, Some(extra)) = (DT, self.extra) {
            prefetch_line::<H>(p.wrapping_add(extra));
        }
    }
}
