//! AVX2 microkernel: 6×16 register tile (12 ymm accumulators), broadcast-FMA from `x` rows.
//!
//! The classic Haswell-era shape: 12 accumulators + 2 panel loads + 2 broadcasts = 16 ymm.
//! Same structure as the AVX-512 kernel, its full-tile K loop in assembly for the same reason (the
//! A/B run against LLVM's loop is `results/kernels/mlp-avx2-asm-ab-xeon-2c.txt`); N tails use
//! `vmaskmovps`.

use super::driver::{Block, KernelSpec};
use super::Activation;
use crate::elementwise::avx2::exp;
use crate::simd::lanes_below;
use std::arch::x86_64::*;

/// Rows of the register tile.
const MR: usize = 6;
/// Panel width: two ymm of f32.
const NR: usize = 16;

/// The AVX2 kernel: 384 × 16 × 4 B = 24 KiB of panel per K block.
pub(crate) const SPEC: KernelSpec = KernelSpec { mr: MR, nr: NR, kc_max: 384, mc: 192, run: run_block };

/// Sweeps the block's rows in MR-row tiles, then one narrower tile for the remainder.
///
/// # Safety
/// The CPU supports AVX2 and FMA; every pointer of `b` is valid for its extent (see [`Block`]).
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn run_block(b: &Block) {
    let mut r = 0;
    while r + MR <= b.rows {
        let pf = b.tile_prefetch(r / MR, NR);
        // SAFETY: rows r..r+MR are inside the block; features enabled on this fn.
        unsafe { tile::<MR>(b, r, pf) };
        r += MR;
    }
    // SAFETY: rows r..b.rows (fewer than MR) are inside the block.
    unsafe {
        match b.rows - r {
            0 => {}
            1 => tile::<1>(b, r, b.b),
            2 => tile::<2>(b, r, b.b),
            3 => tile::<3>(b, r, b.b),
            4 => tile::<4>(b, r, b.b),
            _ => tile::<5>(b, r, b.b),
        }
    }
}

/// Lane masks for columns `0..cols` of the two ymm halves of a panel row.
#[target_feature(enable = "avx2")]
#[inline]
fn col_masks(cols: usize) -> (__m256i, __m256i) {
    let c = cols.min(NR) as i32;
    (lanes_below(c), lanes_below(c - 8))
}

/// One `R × 16` tile over the block's K range, with the epilogue on the last K block. A full tile
/// also prefetches `kc / 2` lines from `pf` into L2.
///
/// # Safety
/// Rows `r0..r0+R` of the block exist; the panel pointer is 32-byte aligned.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile<const R: usize>(b: &Block, r0: usize, pf: *const f32) {
    // SAFETY: r0 < rows, so these stay within x and y.
    let (a, c) = unsafe { (b.a.add(r0 * b.lda), b.c.add(r0 * b.ldc)) };
    let full = b.cols >= NR;
    let (m0, m1) = col_masks(b.cols);
    let mut acc0 = [_mm256_setzero_ps(); R];
    let mut acc1 = [_mm256_setzero_ps(); R];
    if !b.first {
        for i in 0..R {
            // SAFETY: masked loads touch only the `cols` valid columns of row i of the tile.
            unsafe {
                acc0[i] = _mm256_maskload_ps(c.add(i * b.ldc), m0);
                acc1[i] = _mm256_maskload_ps(c.add(i * b.ldc + 8), m1);
            }
        }
    }
    if R == MR && b.kc > 0 {
        // SAFETY: R == 6 rows of x (lda apart, kc floats each) and the kc × 16 panel block.
        unsafe { k_loop_6x16(a, b.lda, b.b, b.kc, pf, &mut acc0, &mut acc1) };
    } else {
        // SAFETY: i < R rows, each row of x holds at least kc floats from here.
        let rows: [*const f32; R] = std::array::from_fn(|i| unsafe { a.add(i * b.lda) });
        let mut bp = b.b;
        for k in 0..b.kc {
            // SAFETY: bp walks the kc × 16 panel block, 32-byte aligned; rows[i].add(k) < row end.
            unsafe {
                let b0 = _mm256_load_ps(bp);
                let b1 = _mm256_load_ps(bp.add(8));
                for i in 0..R {
                    let ai = _mm256_broadcast_ss(&*rows[i].add(k));
                    acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
                    acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
                }
                bp = bp.add(NR);
            }
        }
    }
    if b.last {
        if !b.bias.is_null() {
            // SAFETY: the padded bias holds NR floats for every panel.
            let (bb0, bb1) = unsafe { (_mm256_loadu_ps(b.bias), _mm256_loadu_ps(b.bias.add(8))) };
            for i in 0..R {
                acc0[i] = _mm256_add_ps(acc0[i], bb0);
                acc1[i] = _mm256_add_ps(acc1[i], bb1);
            }
        }
        match b.act {
            Activation::None => {}
            Activation::Relu => {
                let z = _mm256_setzero_ps();
                for i in 0..R {
                    acc0[i] = _mm256_max_ps(acc0[i], z);
                    acc1[i] = _mm256_max_ps(acc1[i], z);
                }
            }
            Activation::Sigmoid => {
                for i in 0..R {
                    acc0[i] = sigmoid(acc0[i]);
                    acc1[i] = sigmoid(acc1[i]);
                }
            }
        }
    }
    for i in 0..R {
        // SAFETY: row i of the tile is inside y; masked stores write only the valid columns.
        unsafe {
            let p = c.add(i * b.ldc);
            if full {
                _mm256_storeu_ps(p, acc0[i]);
                _mm256_storeu_ps(p.add(8), acc1[i]);
            } else {
                _mm256_maskstore_ps(p, m0, acc0[i]);
                _mm256_maskstore_ps(p.add(8), m1, acc1[i]);
            }
        }
    }
}

/// `1 / (1 + e^-v)` on 8 lanes, with the shared vector exp.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn sigmoid(v: __m256) -> __m256 {
    let one = _mm256_set1_ps(1.0);
    _mm256_div_ps(one, _mm256_add_ps(one, exp(_mm256_sub_ps(_mm256_setzero_ps(), v))))
}

/// One K step of the 6×16 tile: two panel loads at `[bp + $b]`, six broadcasts at byte offset `$a`
/// of the rows, 12 FMAs into ymm0–ymm11 (row r: ymm(2r) columns 0–7, ymm(2r + 1) columns 8–15).
#[rustfmt::skip]
macro_rules! step_6x16 {
    ($b:literal, $a:literal) => {
        concat!(
            "vmovaps ymm12, ymmword ptr [{bp} + ", $b, "]\n",
            "vmovaps ymm13, ymmword ptr [{bp} + ", $b, " + 32]\n",
            "vbroadcastss ymm14, dword ptr [{p0} + ", $a, "]\n",
            "vfmadd231ps ymm0, ymm14, ymm12\n",
            "vfmadd231ps ymm1, ymm14, ymm13\n",
            "vbroadcastss ymm15, dword ptr [{p0} + {l} + ", $a, "]\n",
            "vfmadd231ps ymm2, ymm15, ymm12\n",
            "vfmadd231ps ymm3, ymm15, ymm13\n",
            "vbroadcastss ymm14, dword ptr [{p0} + 2*{l} + ", $a, "]\n",
            "vfmadd231ps ymm4, ymm14, ymm12\n",
            "vfmadd231ps ymm5, ymm14, ymm13\n",
            "vbroadcastss ymm15, dword ptr [{p0} + {l3} + ", $a, "]\n",
            "vfmadd231ps ymm6, ymm15, ymm12\n",
            "vfmadd231ps ymm7, ymm15, ymm13\n",
            "vbroadcastss ymm14, dword ptr [{p1} + ", $a, "]\n",
            "vfmadd231ps ymm8, ymm14, ymm12\n",
            "vfmadd231ps ymm9, ymm14, ymm13\n",
            "vbroadcastss ymm15, dword ptr [{p1} + {l} + ", $a, "]\n",
            "vfmadd231ps ymm10, ymm15, ymm12\n",
            "vfmadd231ps ymm11, ymm15, ymm13\n",
        )
    };
}

/// The 6×16 K loop in assembly, as the AVX-512 kernel's: rows addressed as `[p0 + {0, l, 2l, 3l}]`
/// and `[p1 + {0, l}]`, unrolled by four K steps, so the loop spends three pointer bumps per 48
/// FMAs where LLVM's version of the Rust loop recomputed the six row addresses every K step (eight
/// integer uops per 12 FMAs, competing for the FMA ports). Each unrolled iteration also prefetches
/// two lines at `pf` (advancing) into L2; prefetches never fault.
///
/// # Safety
/// `kc ≥ 1`; rows `a + i·lda` (i < 6) hold `kc` floats; `b` is a 32-byte aligned `kc × 16` block.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn k_loop_6x16<const R: usize>(
    a: *const f32,
    lda: usize,
    b: *const f32,
    kc: usize,
    pf: *const f32,
    acc0: &mut [__m256; R],
    acc1: &mut [__m256; R],
) {
    debug_assert!(R == MR && kc > 0);
    // SAFETY: the caller guarantees the 6 rows, the panel block and kc ≥ 1; the asm reads only
    // [p0 + {0,l,2l,3l}], [p1 + {0,l}] for kc steps of 4 bytes and kc × 64 bytes of b.
    unsafe {
        k_loop_asm!(
            step_6x16, ["64", "64", "128", "192", "256"],
            a = a, lda = lda, b = b, kc = kc, pf = pf,
            out("ymm12") _,
            out("ymm13") _,
            out("ymm14") _,
            out("ymm15") _,
            inout("ymm0") acc0[0],
            inout("ymm1") acc1[0],
            inout("ymm2") acc0[1],
            inout("ymm3") acc1[1],
            inout("ymm4") acc0[2],
            inout("ymm5") acc1[2],
            inout("ymm6") acc0[3],
            inout("ymm7") acc1[3],
            inout("ymm8") acc0[4],
            inout("ymm9") acc1[4],
            inout("ymm10") acc0[5],
            inout("ymm11") acc1[5],
        );
    }
}
