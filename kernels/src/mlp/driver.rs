//! The loop nest around the microkernels: M blocks × K blocks × panels, one thread or split over
//! a pinned pool.
//!
//! Order (per thread): for each MC block of rows, for each K block, for each panel, the ISA kernel
//! sweeps the rows in MR-row tiles. The panel's `kc × NR` block is reused (from L1 or L2) by every
//! tile of the sweep, each tile's rows of `x` stay in L1 for its K loop, and the `MC × kc` block of
//! `x` stays in L2 across panels. Partial sums of earlier K blocks live in `y` and are reloaded;
//! bias and activation are applied only after the last K block.

use super::{Activation, PackedWeights};
use std::ops::Range;

/// Packed W up to this size counts as L2-resident for the choice of M block (see `run`).
const SMALL_W_BYTES: usize = 256 << 10;

/// Whether the packed weights of `panels` panels fit in L2 with room to spare.
pub(crate) fn small_w(w: &PackedWeights, panels: usize) -> bool {
    w.k * panels * w.nr * 4 <= SMALL_W_BYTES
}

/// One ISA kernel call: `rows` rows of `x` × one panel × one K block.
#[derive(Clone, Copy)]
pub(crate) struct Block {
    /// `x` at (first row, first k of the block); rows are `lda` floats apart.
    pub a: *const f32,
    pub lda: usize,
    pub rows: usize,
    /// The packed panel at the first k of the block (`kc` rows of NR floats).
    pub b: *const f32,
    pub kc: usize,
    /// `y` at (first row, first column of the panel); rows are `ldc` floats apart.
    pub c: *mut f32,
    pub ldc: usize,
    /// Valid columns of this panel (≤ NR); the rest of the panel is padding and is not stored.
    pub cols: usize,
    /// The panel block the sweep reads after this one (next panel, else the next K or M block's
    /// first), for a kernel to prefetch into L2 while this one computes; null after the last.
    pub next: *const f32,
    /// Padded bias at the panel's first column, or null when the layer has none.
    pub bias: *const f32,
    /// First K block: start from zero instead of reloading `y`.
    pub first: bool,
    /// Last K block: add the bias, apply the activation, store the result.
    pub last: bool,
    pub act: Activation,
}

impl Block {
    /// Where the `t`-th full row tile of this block prefetches its slice of the next panel block:
    /// each tile's K loop prefetches two 64-byte lines per four K steps, so tile `t` takes lines
    /// from `t · 2 · (kc / 4)` of the next block's `kc · nr / 16`; once they are all asked for
    /// (or there is no next block), this block's own panel, already cached, so the prefetches
    /// cost an issue slot and no traffic. The address wraps rather than being bounds-checked: the
    /// next block may be a few K rows shorter (the last K block), and a prefetch cannot fault.
    pub fn tile_prefetch(&self, t: usize, nr: usize) -> *const f32 {
        let line = t * 2 * (self.kc / 4);
        if self.next.is_null() || line >= self.kc * nr / 16 {
            self.b
        } else {
            self.next.wrapping_add(16 * line)
        }
    }
}

/// The shape of one ISA's microkernel and its block entry point.
#[derive(Clone, Copy)]
pub(crate) struct KernelSpec {
    /// Rows of a register tile.
    pub mr: usize,
    /// Panel width (columns of a register tile).
    pub nr: usize,
    /// Largest K block: `kc_max × nr × 4` bytes of panel should sit in L1/L2.
    pub kc_max: usize,
    /// Rows per M block (a multiple of `mr`): `mc × kc` floats of `x` should sit in L2.
    pub mc: usize,
    /// Runs one block. Safety: every pointer of the block is valid for its extent.
    pub run: unsafe fn(&Block),
}

/// `y` pointer that worker threads share; each writes a disjoint set of elements.
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(pub *mut f32);
// SAFETY: workers write disjoint (row, column) ranges of the buffer behind the pointer (see
// `forward_par`), and the owner's &mut borrow outlives the broadcast that uses it.
unsafe impl Send for SharedOut {}
// SAFETY: as for Send.
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// The pointer (a method, so closures capture the whole Sync wrapper, not the raw field).
    pub fn ptr(self) -> *mut f32 {
        self.0
    }
}

/// Computes rows `rows` × panels `panels` of `y = act(x·Wᵀ + b)`.
///
/// # Safety
/// `x` holds `rows.end × k` floats, `y` holds `rows.end × n` floats, `panels.end ≤ w.panels()`,
/// `spec.nr == w.nr`, and `spec.run` is callable on this CPU; no other thread writes the same
/// region of `y` concurrently.
pub(crate) unsafe fn run(
    spec: &KernelSpec,
    w: &PackedWeights,
    act: Activation,
    x: *const f32,
    y: *mut f32,
    rows: Range<usize>,
    panels: Range<usize>,
) {
    let (k, n, nr) = (w.k, w.n, w.nr);
    debug_assert_eq!(nr, spec.nr);
    // Equal K blocks (479 → 240 + 239, not 256 + 223) so no block is a short, overhead-heavy one.
    let kblocks = k.div_ceil(spec.kc_max);
    let kcb = k.div_ceil(kblocks);
    // When the whole (packed) W fits in L2 and K is one block, W costs nothing to re-stream, so
    // short M blocks finish whole rows of y together: the stores then go out as sequential row
    // runs instead of 64-column strips of a tall block (this pays where y dominates, as at K = 13).
    let mc_max = if kblocks == 1 && small_w(w, panels.len()) { 4 * spec.mr } else { spec.mc };
    let mut i0 = rows.start;
    while i0 < rows.end {
        let mc = mc_max.min(rows.end - i0);
        for kb in 0..kblocks {
            let k0 = kb * kcb;
            let kc = kcb.min(k - k0);
            for p in panels.clone() {
                // SAFETY (adds): panel p + 1 < panels.end exists, and k0 + kcb < k when there is a
                // next K block, so each pointer is inside the packed weights.
                let next = if p + 1 < panels.end {
                    w.panel_ptr(p + 1).add(k0 * nr)
                } else if kb + 1 < kblocks {
                    w.panel_ptr(panels.start).add((k0 + kcb) * nr)
                } else if i0 + mc < rows.end {
                    w.panel_ptr(panels.start)
                } else {
                    std::ptr::null()
                };
                let blk = Block {
                    next,
                    // SAFETY (all adds): i0 < rows.end, k0 < k, p < panels, within the buffers.
                    a: x.add(i0 * k + k0),
                    lda: k,
                    rows: mc,
                    b: w.panel_ptr(p).add(k0 * nr),
                    kc,
                    c: y.add(i0 * n + p * nr),
                    ldc: n,
                    cols: nr.min(n - p * nr),
                    bias: if w.has_bias { w.bias.as_ptr().add(p * nr) } else { std::ptr::null() },
                    first: kb == 0,
                    last: kb + 1 == kblocks,
                    act,
                };
                // SAFETY: the block lies within x, y and the packed panel, per this fn's contract.
                (spec.run)(&blk);
            }
        }
        i0 += mc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_prefetch_the_next_block_in_slices_then_their_own() {
        let (own, next) = ([0f32; 4], [0f32; 4]);
        let mut blk = Block {
            a: std::ptr::null(),
            lda: 0,
            rows: 24,
            b: own.as_ptr(),
            kc: 8,
            c: std::ptr::null_mut(),
            ldc: 0,
            cols: 16,
            next: next.as_ptr(),
            bias: std::ptr::null(),
            first: true,
            last: true,
            act: Activation::None,
        };
        // kc = 8: 4 lines per tile; a 16-wide panel block is 8 lines, a 64-wide one 32.
        assert_eq!(blk.tile_prefetch(0, 16), next.as_ptr());
        assert_eq!(blk.tile_prefetch(1, 16), next.as_ptr().wrapping_add(64));
        assert_eq!(blk.tile_prefetch(2, 16), own.as_ptr());
        assert_eq!(blk.tile_prefetch(7, 64), next.as_ptr().wrapping_add(16 * 28));
        assert_eq!(blk.tile_prefetch(8, 64), own.as_ptr());
        blk.next = std::ptr::null();
        assert_eq!(blk.tile_prefetch(0, 64), own.as_ptr());
    }
}
