//! Layers with a few output features (the logit layer that ends most of the zoo's towers): one dot
//! product of a row of `x` with each row of W, kept as nn.Linear stores it.
//!
//! A panel kernel computes a whole panel whatever N is: 64 columns on AVX-512, so N = 1 did 63
//! columns of padding, far behind the gemm crate (results/notebook-2026.md). Here a tile is up to
//! 4 rows × 4 features: each vector of `x` is loaded once for all the tile's features, each vector
//! of W once for all its rows, and the products are summed across lanes at the end of the row.

use super::Activation;
use std::ops::Range;

/// Rows and features of a register tile (R × C vector accumulators, at most 16).
pub(crate) const TILE: usize = 4;

/// Weights and bias in nn.Linear layout, for a layer of a few output features.
#[derive(Debug)]
pub(crate) struct RowWeights {
    pub k: usize,
    pub n: usize,
    /// `n × k`, row-major.
    pub w: Vec<f32>,
    /// `n` floats (zeros when the layer has none).
    pub bias: Vec<f32>,
}

impl RowWeights {
    /// Copies `weight` (`n×k`) and `bias` (`n`).
    pub fn new(weight: &[f32], bias: Option<&[f32]>, k: usize, n: usize) -> Self {
        Self { k, n, w: weight.to_vec(), bias: bias.map_or_else(|| vec![0.0; n], <[f32]>::to_vec) }
    }
}

/// Rows `rows` of `y = act(x·Wᵀ + b)`, every feature.
///
/// # Safety
/// `x` holds `rows.end × k` floats and `y` `rows.end × n`; `isa` is available on this CPU; no
/// other thread writes these rows of `y` concurrently.
pub(crate) unsafe fn run(
    isa: crate::isa::Isa,
    w: &RowWeights,
    act: Activation,
    x: *const f32,
    y: *mut f32,
    rows: Range<usize>,
) {
    let mut r = rows.start;
    while r < rows.end {
        let nr = TILE.min(rows.end - r);
        let mut j = 0;
        while j < w.n {
            let nc = TILE.min(w.n - j);
            let t = Tile {
                // SAFETY (adds): row r < rows.end of x and y, feature j < n of W, y and the bias.
                x: unsafe { x.add(r * w.k) },
                w: unsafe { w.w.as_ptr().add(j * w.k) },
                k: w.k,
                y: unsafe { y.add(r * w.n + j) },
                ldy: w.n,
                bias: &w.bias[j..j + nc],
                act,
            };
            // SAFETY: the tile's nr rows and nc features lie inside x, W and y (contract above);
            // the ISA was checked available when the layer was built.
            unsafe { dispatch(isa, &t, nr, nc) };
            j += nc;
        }
        r += nr;
    }
}

/// One tile's operands: `x` and `w` at their first row (both `k` floats per row), `y` at the tile's
/// first element.
struct Tile<'a> {
    x: *const f32,
    w: *const f32,
    k: usize,
    y: *mut f32,
    ldy: usize,
    bias: &'a [f32],
    act: Activation,
}

/// Runs the `rows × cols` tile with the ISA's kernel (both in `1..=TILE`).
///
/// # Safety
/// As for `run`, for the tile's rows and features.
unsafe fn dispatch(isa: crate::isa::Isa, t: &Tile, rows: usize, cols: usize) {
    macro_rules! shapes {
        ($f:ident) => {
            match (rows, cols) {
                (1, 1) => $f::<1, 1>(t),
                (1, 2) => $f::<1, 2>(t),
                (1, 3) => $f::<1, 3>(t),
                (1, _) => $f::<1, 4>(t),
                (2, 1) => $f::<2, 1>(t),
                (2, 2) => $f::<2, 2>(t),
                (2, 3) => $f::<2, 3>(t),
                (2, _) => $f::<2, 4>(t),
                (3, 1) => $f::<3, 1>(t),
                (3, 2) => $f::<3, 2>(t),
                (3, 3) => $f::<3, 3>(t),
                (3, _) => $f::<3, 4>(t),
                (_, 1) => $f::<4, 1>(t),
                (_, 2) => $f::<4, 2>(t),
                (_, 3) => $f::<4, 3>(t),
                (_, _) => $f::<4, 4>(t),
            }
        };
    }
    match isa {
        // SAFETY (each arm): the ISA is available; the tile is inside the buffers.
        #[cfg(target_arch = "x86_64")]
        crate::isa::Isa::Avx512 => unsafe { shapes!(tile_avx512) },
        #[cfg(target_arch = "x86_64")]
        crate::isa::Isa::Avx2 => unsafe { shapes!(tile_avx2) },
        _ => unsafe { shapes!(tile_scalar) },
    }
}

/// Writes `act(sum + bias)` for every (row, feature) of a tile.
///
/// # Safety
/// The tile's R rows × C features of `y` are writable.
#[inline(always)]
unsafe fn store<const R: usize, const C: usize>(t: &Tile, sums: [[f32; C]; R]) {
    for (i, row) in sums.iter().enumerate() {
        for (c, &s) in row.iter().enumerate() {
            // SAFETY: (i, c) is inside the tile.
            unsafe { *t.y.add(i * t.ldy + c) = t.act.apply(s + t.bias[c]) };
        }
    }
}

/// Portable tile: eight partial sums per dot product, so the compiler can vectorise the K loop.
///
/// # Safety
/// As for `dispatch`.
unsafe fn tile_scalar<const R: usize, const C: usize>(t: &Tile) {
    const L: usize = 8;
    let mut acc = [[[0.0f32; L]; C]; R];
    // SAFETY: R rows of x and C rows of W, k floats each.
    let xs: [&[f32]; R] =
        std::array::from_fn(|i| unsafe { std::slice::from_raw_parts(t.x.add(i * t.k), t.k) });
    let ws: [&[f32]; C] =
        std::array::from_fn(|c| unsafe { std::slice::from_raw_parts(t.w.add(c * t.k), t.k) });
    for k0 in (0..t.k).step_by(L) {
        let len = L.min(t.k - k0);
        for (i, x) in xs.iter().enumerate() {
            for (c, w) in ws.iter().enumerate() {
                for l in 0..len {
                    acc[i][c][l] += x[k0 + l] * w[k0 + l];
                }
            }
        }
    }
    let mut sums = [[0.0f32; C]; R];
    for i in 0..R {
        for c in 0..C {
            sums[i][c] = acc[i][c].iter().sum();
        }
    }
    // SAFETY: as for this fn.
    unsafe { store::<R, C>(t, sums) };
}

/// A SIMD tile function: `lanes` floats of K per step, the K tail under a mask, the sums reduced
/// across lanes at the end; the AVX-512 and AVX2 tiles differ only in the intrinsics passed in.
/// (Plain loops over fixed-size arrays: `array::from_fn` and `map` here compiled to out-of-line
/// calls.)
macro_rules! simd_tile {
    (@step $t:ident, $acc:ident, $wv:ident, $fma:path, $k0:expr, $load:expr) => {
        for c in 0..C {
            // SAFETY: lanes k0.. under the mask lie inside row c of W (k floats); masked-off lanes
            // are not read.
            $wv[c] = unsafe { $load($t.w.add(c * $t.k + $k0)) };
        }
        for i in 0..R {
            // SAFETY: as above, for row i of x.
            let xv = unsafe { $load($t.x.add(i * $t.k + $k0)) };
            for c in 0..C {
                $acc[i][c] = $fma(xv, $wv[c], $acc[i][c]);
            }
        }
    };
    ($(#[$doc:meta])* $name:ident, $feat:literal, $lanes:literal, $zero:path, $loadu:path, $fma:path,
     tail |$left:ident| $mask:expr, |$p:ident, $m:ident| $mload:expr, reduce |$v:ident| $reduce:expr) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// As for `dispatch`, and the CPU has the target features.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feat)]
        unsafe fn $name<const R: usize, const C: usize>(t: &Tile) {
            use std::arch::x86_64::*;
            let mut acc = [[$zero(); C]; R];
            let mut wv = [$zero(); C];
            let full = t.k / $lanes * $lanes;
            let mut k0 = 0;
            while k0 < full {
                simd_tile!(@step t, acc, wv, $fma, k0, |p| $loadu(p));
                k0 += $lanes;
            }
            if full < t.k {
                let $left = t.k - full;
                let $m = $mask;
                simd_tile!(@step t, acc, wv, $fma, full, |$p| $mload);
            }
            let mut sums = [[0.0f32; C]; R];
            for i in 0..R {
                for c in 0..C {
                    let $v = acc[i][c];
                    sums[i][c] = $reduce;
                }
            }
            // SAFETY: as for this fn.
            unsafe { store::<R, C>(t, sums) };
        }
    };
}

simd_tile!(
    /// AVX-512 tile: 16 floats of K per step.
    tile_avx512, "avx512f", 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_fmadd_ps,
    tail |left| ((1u32 << left) - 1) as __mmask16, |p, mask| _mm512_maskz_loadu_ps(mask, p),
    reduce |v| _mm512_reduce_add_ps(v)
);

simd_tile!(
    /// AVX2 tile: 8 floats of K per step.
    tile_avx2, "avx2,fma", 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_fmadd_ps,
    tail |left| crate::simd::lanes_below(left as i32), |p, mask| _mm256_maskload_ps(p, mask),
    reduce |v| crate::simd::hsum(v)
);
