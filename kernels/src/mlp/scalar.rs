//! Portable microkernel: 4×8 tile in plain arrays (the compiler vectorises what the baseline ISA
//! allows). The reference for dispatch and the fallback off x86.

use super::driver::{Block, KernelSpec};

/// Rows of the register tile.
const MR: usize = 4;
/// Panel width.
const NR: usize = 8;

/// The scalar kernel.
pub(crate) const SPEC: KernelSpec = KernelSpec { mr: MR, nr: NR, kc_max: 512, mc: 128, run: run_block };

/// Sweeps the block's rows in tiles of up to MR rows.
///
/// # Safety
/// Every pointer of `b` is valid for its extent (see [`Block`]).
pub(crate) unsafe fn run_block(b: &Block) {
    let mut r = 0;
    while r < b.rows {
        let rows = MR.min(b.rows - r);
        // SAFETY: rows r..r+rows are inside the block.
        unsafe { tile(b, r, rows) };
        r += rows;
    }
}

/// One `rows × NR` tile (rows ≤ MR) over the block's K range, with the epilogue on the last block.
///
/// # Safety
/// Rows `r0..r0+rows` of the block exist.
unsafe fn tile(b: &Block, r0: usize, rows: usize) {
    let cols = b.cols.min(NR);
    let mut acc = [[0.0f32; NR]; MR];
    for (i, row) in acc.iter_mut().enumerate().take(rows) {
        if !b.first {
            // SAFETY: row r0+i, columns 0..cols of the tile are inside y.
            let c = unsafe { std::slice::from_raw_parts(b.c.add((r0 + i) * b.ldc), cols) };
            row[..cols].copy_from_slice(c);
        }
    }
    for k in 0..b.kc {
        // SAFETY: the panel block holds kc rows of NR floats.
        let w = unsafe { std::slice::from_raw_parts(b.b.add(k * NR), NR) };
        for (i, row) in acc.iter_mut().enumerate().take(rows) {
            // SAFETY: row r0+i of x holds kc floats from b.a.
            let xv = unsafe { *b.a.add((r0 + i) * b.lda + k) };
            for (s, &wv) in row.iter_mut().zip(w) {
                *s += xv * wv;
            }
        }
    }
    for (i, row) in acc.iter_mut().enumerate().take(rows) {
        if b.last {
            if !b.bias.is_null() {
                // SAFETY: the padded bias holds NR floats for every panel.
                let bias = unsafe { std::slice::from_raw_parts(b.bias, NR) };
                row.iter_mut().zip(bias).for_each(|(s, &bv)| *s += bv);
            }
            row.iter_mut().for_each(|s| *s = b.act.apply(*s));
        }
        // SAFETY: row r0+i, columns 0..cols of the tile are inside y, written by this tile only.
        let c = unsafe { std::slice::from_raw_parts_mut(b.c.add((r0 + i) * b.ldc), cols) };
        c.copy_from_slice(&row[..cols]);
    }
}
