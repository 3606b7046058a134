//! AVX-512 microkernel: 6×64 register tile (24 zmm accumulators), broadcast-FMA from `x` rows.
//!
//! Per K step: four aligned zmm loads of the packed panel, six broadcasts from the rows of `x`, 24
//! FMAs. One broadcast per four FMAs (6×64, as 8×48 would be) is the mix that came nearest the
//! FMA-only peak with L1-resident operands in `examples/mlp_kernel_probe`, ahead of one per two
//! and of embedded-broadcast FMAs (figures in results/notebook-2026.md). 64-wide panels also divide
//! every N of the sweep (64…1024), so no panel computes padding. `x` is read in place (no packing
//! copy): six row pointers are two base registers plus scaled offsets, and a scalar packing pass
//! was slower than the strided reads it replaced. Row tails (M mod 6) use narrower tiles of the same code;
//! column tails use masked loads and stores. The full 6-row K loop is inline assembly because LLVM
//! spent ~10 extra integer uops per K step on row addressing, on the ports the FMAs need.

use super::driver::{Block, KernelSpec};
use super::Activation;
use crate::elementwise::avx512::exp;
use std::arch::x86_64::*;

/// Rows of the register tile.
const MR: usize = 6;
/// Panel width: four zmm of f32.
const NR: usize = 64;
/// zmm registers per panel row.
const V: usize = NR / 16;

/// The AVX-512 kernel: one K block up to 1024, as it beat shorter ones (no reloads of `y`, long K
/// loops; the panel block streams from L2 while the tile's rows of `x`, 6 × 4 KiB at most, stay in
/// L1); the M block size mattered less than the noise (figures in results/notebook-2026.md).
pub(crate) const SPEC: KernelSpec = KernelSpec { mr: MR, nr: NR, kc_max: 1024, mc: 192, run: run_block };

/// Sweeps the block's rows in MR-row tiles, then one narrower tile for the remainder.
///
/// # Safety
/// The CPU supports AVX-512F; every pointer of `b` is valid for its extent (see [`Block`]).
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
pub(crate) unsafe fn run_block(b: &Block) {
    let mut r = 0;
    // The first full tiles each prefetch a slice of the next panel block, so that block streams in
    // from L3 while this one is reused from L2.
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

/// Store masks of the four zmm of a panel row with `cols` valid columns.
fn col_masks(cols: usize) -> [u16; V] {
    let m: u64 = if cols >= NR { u64::MAX } else { (1u64 << cols) - 1 };
    std::array::from_fn(|j| (m >> (16 * j)) as u16)
}

/// One `R × 64` tile over the block's K range, with the epilogue on the last K block. A full tile
/// also prefetches `kc / 2` lines from `pf` into L2.
///
/// # Safety
/// Rows `r0..r0+R` of the block exist; the panel pointer is 64-byte aligned (panels are
/// page-aligned and every K row is 256 bytes).
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
#[inline]
unsafe fn tile<const R: usize>(b: &Block, r0: usize, pf: *const f32) {
    // SAFETY: r0 < rows, so these stay within x and y.
    let (a, c) = unsafe { (b.a.add(r0 * b.lda), b.c.add(r0 * b.ldc)) };
    let masks = col_masks(b.cols);
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    if R == MR && b.kc > 0 {
        // Inline, without `accumulate`'s out-of-line call and copy through memory: at small K the
        // epilogue is a large share of the tile (see results/notebook-2026.md).
        if !b.first {
            load_tile(&mut acc, c, b.ldc, &masks);
        }
        // SAFETY: R == 6 rows of x (lda apart, kc floats each) and the kc × 64 panel block.
        unsafe { k_loop_6x64(a, b.lda, b.b, b.kc, pf, &mut acc) };
    } else {
        // SAFETY: forwarded contract of this fn.
        unsafe { accumulate::<R>(b, a, c, &masks, &mut acc) };
    }
    if b.last {
        if !b.bias.is_null() {
            // SAFETY: the padded bias holds NR floats for every panel.
            let bias: [__m512; V] = std::array::from_fn(|j| unsafe { _mm512_loadu_ps(b.bias.add(16 * j)) });
            for row in acc.iter_mut() {
                for (v, bv) in row.iter_mut().zip(bias) {
                    *v = _mm512_add_ps(*v, bv);
                }
            }
        }
        match b.act {
            Activation::None => {}
            Activation::Relu => {
                acc.iter_mut().flatten().for_each(|v| *v = _mm512_max_ps(*v, _mm512_setzero_ps()))
            }
            Activation::Sigmoid => acc.iter_mut().flatten().for_each(|v| *v = sigmoid(*v)),
        }
    }
    let full = b.cols >= NR;
    for (i, row) in acc.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            // SAFETY: row i of the tile is inside y; masked stores write only the valid columns.
            unsafe {
                let p = c.add(i * b.ldc + 16 * j);
                if full {
                    _mm512_storeu_ps(p, v);
                } else {
                    _mm512_mask_storeu_ps(p, masks[j], v);
                }
            }
        }
    }
}

/// The K loop of a tile: `acc = (first ? 0 : y) + x·W` over the block's K range.
///
/// Kept out of line on purpose: with the epilogue inlined beside it, LLVM leaves the accumulator
/// array in memory and stores it every K step; alone, every loop here unrolls fully and the
/// accumulators live in registers.
///
/// # Safety
/// As [`tile`]; `a` and `c` point at the tile's first row of `x` and `y`.
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
#[inline(never)]
unsafe fn accumulate<const R: usize>(
    b: &Block,
    a: *const f32,
    c: *const f32,
    masks: &[u16; V],
    out: &mut [[__m512; V]; R],
) {
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    if !b.first {
        load_tile(&mut acc, c, b.ldc, masks);
    }
    // SAFETY: i < R rows, each row of x holds at least kc floats from here.
    let rows: [*const f32; R] = std::array::from_fn(|i| unsafe { a.add(i * b.lda) });
    let mut bp = b.b;
    for k in 0..b.kc {
        // SAFETY: bp walks the kc × 64 panel block, 64-byte aligned; rows[i].add(k) < row end.
        unsafe {
            let w: [__m512; V] = std::array::from_fn(|j| _mm512_load_ps(bp.add(16 * j)));
            for i in 0..R {
                let xi = _mm512_set1_ps(*rows[i].add(k));
                for j in 0..V {
                    acc[i][j] = _mm512_fmadd_ps(xi, w[j], acc[i][j]);
                }
            }
            bp = bp.add(NR);
        }
    }
    *out = acc;
}

/// Loads the partial sums of earlier K blocks from `y` (masked to the valid columns).
#[target_feature(enable = "avx512f")]
#[inline]
fn load_tile<const R: usize>(acc: &mut [[__m512; V]; R], c: *const f32, ldc: usize, masks: &[u16; V]) {
    for (i, row) in acc.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            // SAFETY: rows i < R of the tile are inside y (the caller's block contract) and masked
            // loads touch only the valid columns, suppressing faults on the rest.
            *v = unsafe { _mm512_maskz_loadu_ps(masks[j], c.add(i * ldc + 16 * j)) };
        }
    }
}

/// One K step of the 6×64 tile: four panel loads at `[bp + $b + 64j]`, six broadcasts at byte
/// offset `$a` of the rows, 24 FMAs into zmm0–zmm23 (row r, column j: zmm(4r + j)).
#[rustfmt::skip]
macro_rules! step_6x64 {
    ($b:literal, $a:literal) => {
        concat!(
            "vmovaps zmm24, zmmword ptr [{bp} + ", $b, " + 0]\n",
            "vmovaps zmm25, zmmword ptr [{bp} + ", $b, " + 64]\n",
            "vmovaps zmm26, zmmword ptr [{bp} + ", $b, " + 128]\n",
            "vmovaps zmm27, zmmword ptr [{bp} + ", $b, " + 192]\n",
            "vbroadcastss zmm28, dword ptr [{p0} + ", $a, "]\n",
            "vfmadd231ps zmm0, zmm28, zmm24\n",
            "vfmadd231ps zmm1, zmm28, zmm25\n",
            "vfmadd231ps zmm2, zmm28, zmm26\n",
            "vfmadd231ps zmm3, zmm28, zmm27\n",
            "vbroadcastss zmm29, dword ptr [{p0} + {l} + ", $a, "]\n",
            "vfmadd231ps zmm4, zmm29, zmm24\n",
            "vfmadd231ps zmm5, zmm29, zmm25\n",
            "vfmadd231ps zmm6, zmm29, zmm26\n",
            "vfmadd231ps zmm7, zmm29, zmm27\n",
            "vbroadcastss zmm28, dword ptr [{p0} + 2*{l} + ", $a, "]\n",
            "vfmadd231ps zmm8, zmm28, zmm24\n",
            "vfmadd231ps zmm9, zmm28, zmm25\n",
            "vfmadd231ps zmm10, zmm28, zmm26\n",
            "vfmadd231ps zmm11, zmm28, zmm27\n",
            "vbroadcastss zmm29, dword ptr [{p0} + {l3} + ", $a, "]\n",
            "vfmadd231ps zmm12, zmm29, zmm24\n",
            "vfmadd231ps zmm13, zmm29, zmm25\n",
            "vfmadd231ps zmm14, zmm29, zmm26\n",
            "vfmadd231ps zmm15, zmm29, zmm27\n",
            "vbroadcastss zmm28, dword ptr [{p1} + ", $a, "]\n",
            "vfmadd231ps zmm16, zmm28, zmm24\n",
            "vfmadd231ps zmm17, zmm28, zmm25\n",
            "vfmadd231ps zmm18, zmm28, zmm26\n",
            "vfmadd231ps zmm19, zmm28, zmm27\n",
            "vbroadcastss zmm29, dword ptr [{p1} + {l} + ", $a, "]\n",
            "vfmadd231ps zmm20, zmm29, zmm24\n",
            "vfmadd231ps zmm21, zmm29, zmm25\n",
            "vfmadd231ps zmm22, zmm29, zmm26\n",
            "vfmadd231ps zmm23, zmm29, zmm27\n",
        )
    };
}

/// The 6×64 K loop in assembly: rows addressed as `[p0 + {0, l, 2l, 3l}]`, `[p1 + {0, l}]`,
/// unrolled by four K steps so the pointer bumps (which compete with FMAs for ports 0 and 5)
/// are three per 96 FMAs.
///
/// Each unrolled iteration also prefetches two lines at `pf` (advancing) into L2: prefetches
/// never fault, so `pf` need only point where the caller wants lines brought in.
///
/// # Safety
/// `kc ≥ 1`; rows `a + i·lda` (i < 6) hold `kc` floats; `b` is a 64-byte aligned `kc × 64` block.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn k_loop_6x64<const R: usize>(
    a: *const f32,
    lda: usize,
    b: *const f32,
    kc: usize,
    pf: *const f32,
    acc: &mut [[__m512; V]; R],
) {
    debug_assert!(R == 6 && kc > 0);
    // SAFETY: the caller guarantees the 6 rows, the panel block and kc ≥ 1; the asm reads only
    // [p0 + {0,l,2l,3l}], [p1 + {0,l}] for kc steps of 4 bytes and kc × 256 bytes of b.
    unsafe {
        k_loop_asm!(
            step_6x64, ["256", "256", "512", "768", "1024"],
            a = a, lda = lda, b = b, kc = kc, pf = pf,
            out("zmm24") _,
            out("zmm25") _,
            out("zmm26") _,
            out("zmm27") _,
            out("zmm28") _,
            out("zmm29") _,
            inout("zmm0") acc[0][0],
            inout("zmm1") acc[0][1],
            inout("zmm2") acc[0][2],
            inout("zmm3") acc[0][3],
            inout("zmm4") acc[1][0],
            inout("zmm5") acc[1][1],
            inout("zmm6") acc[1][2],
            inout("zmm7") acc[1][3],
            inout("zmm8") acc[2][0],
            inout("zmm9") acc[2][1],
            inout("zmm10") acc[2][2],
            inout("zmm11") acc[2][3],
            inout("zmm12") acc[3][0],
            inout("zmm13") acc[3][1],
            inout("zmm14") acc[3][2],
            inout("zmm15") acc[3][3],
            inout("zmm16") acc[4][0],
            inout("zmm17") acc[4][1],
            inout("zmm18") acc[4][2],
            inout("zmm19") acc[4][3],
            inout("zmm20") acc[5][0],
            inout("zmm21") acc[5][1],
            inout("zmm22") acc[5][2],
            inout("zmm23") acc[5][3],
        );
    }
}

/// `1 / (1 + e^-v)` on 16 lanes, within a few ulp (the shared vector exp; the true division keeps
/// full precision, rcp14 would not).
#[target_feature(enable = "avx512f")]
#[inline]
fn sigmoid(v: __m512) -> __m512 {
    let one = _mm512_set1_ps(1.0);
    _mm512_div_ps(one, _mm512_add_ps(one, exp(_mm512_sub_ps(_mm512_setzero_ps(), v))))
}
