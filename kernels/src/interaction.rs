//! DLRM's dot interaction: the pairwise dot products of each sample's feature vectors.
//!
//! A sample's `n` features of width `d` are an `n × d` row-major block; the output is the strict
//! lower triangle of its Gram matrix (with the diagonal under self-interaction), row by row. The
//! SIMD paths compute 4 × 4 blocks of dots on or below the diagonal: per step of K each of the
//! eight feature vectors is loaded once for four products, against two loads per product for dots
//! taken one at a time. While one sample computes, its blocks prefetch the next sample's features
//! (a batch's features stream from memory: 14 MB for MLPerf DLRM v1 at batch 1024).

use crate::embedding::prefetch::{prefetch_line, H_T0};
use crate::error::{KernelError, Result};
use crate::isa::Isa;

/// Features per side of a block.
const B: usize = 4;

/// Features whose slices `forward` fetches once per call (MLPerf DLRM v1 has 27).
const CACHED: usize = 64;

/// The dot interaction of `n` features of width `d`, for one ISA.
#[derive(Debug, Clone, Copy)]
pub struct DotInteraction {
    n: usize,
    d: usize,
    self_interaction: bool,
    isa: Isa,
}

impl DotInteraction {
    /// For the best ISA of this CPU.
    pub fn new(n: usize, d: usize, self_interaction: bool) -> Result<Self> {
        Self::with_isa(n, d, self_interaction, Isa::best())
    }

    /// For a given ISA (an error when this CPU lacks it).
    pub fn with_isa(n: usize, d: usize, self_interaction: bool, isa: Isa) -> Result<Self> {
        if n == 0 || d == 0 {
            return Err(KernelError::InvalidShape(format!(
                "dot interaction needs features (n) and width (d) > 0, got n={n}, d={d}"
            )));
        }
        n.checked_mul(d)
            .ok_or_else(|| KernelError::InvalidShape(format!("dot interaction: {n} x {d} overflows")))?;
        Ok(Self { n, d, self_interaction, isa: isa.require()? })
    }

    /// Dots per sample: `n(n−1)/2`, or `n(n+1)/2` with self-interaction.
    pub fn pairs(&self) -> usize {
        if self.self_interaction {
            self.n * (self.n + 1) / 2
        } else {
            self.n * (self.n - 1) / 2
        }
    }

    /// For each of `rows` samples r: feature f is `feature(f)[r·ld..][..d]`, and its pairs go to
    /// `out[r·ldo + at..]`, ordered by i, then j < i (j ≤ i with self-interaction). Features can
    /// be one `n × d` block per sample (`feature(f) = &x[f·d..]`, `ld = n·d`) or separate
    /// `rows × d` arrays (`ld = d`: the bottom MLP's output and each pooled table, as a model holds
    /// them, with no concatenation first and nothing allocated).
    pub fn forward<'a>(
        &self,
        feature: impl Fn(usize) -> &'a [f32],
        ld: usize,
        rows: usize,
        out: &mut [f32],
        ldo: usize,
        at: usize,
    ) -> Result<()> {
        let (d, pairs) = (self.d, self.pairs());
        if rows == 0 {
            return Ok(());
        }
        let bad = |what: String, need: usize, got: usize| {
            KernelError::InvalidShape(format!("dot interaction: {what} needs {need} floats, got {got}"))
        };
        if ld < d {
            return Err(bad("a sample's feature (d)".into(), d, ld));
        }
        if ldo < at + pairs {
            return Err(bad("a row of out (offset + pairs)".into(), at + pairs, ldo));
        }
        let need = (rows - 1).saturating_mul(ld).saturating_add(d);
        if let Some(f) = (0..self.n).find(|&f| feature(f).len() < need) {
            return Err(bad(format!("feature {f}"), need, feature(f).len()));
        }
        let need_out = (rows - 1).saturating_mul(ldo).saturating_add(at + pairs);
        if out.len() < need_out {
            return Err(bad("out".into(), need_out, out.len()));
        }
        // The features' slices, fetched once per call rather than eight times per block (on the
        // stack: nothing is allocated per call; models with more features ask `feature` each time).
        let mut cache: [&[f32]; CACHED] = [&[]; CACHED];
        let cached = self.n <= CACHED;
        if cached {
            for (f, c) in cache.iter_mut().enumerate().take(self.n) {
                *c = feature(f);
            }
        }
        let get = |f: usize| if cached { cache[f] } else { feature(f) };
        // Sample r's feature vectors, sliced once per sample.
        let mut cur: [&[f32]; CACHED] = [&[]; CACHED];
        for r in 0..rows {
            if cached {
                for (c, x) in cur.iter_mut().zip(&cache).take(self.n) {
                    *c = &x[r * ld..r * ld + d];
                }
            }
            let feat = |f: usize| if cached { cur[f] } else { &feature(f)[r * ld..r * ld + d] };
            let next_feat = |f: usize| &get(f)[(r + 1) * ld..(r + 1) * ld + d];
            let next = (r + 1 < rows).then_some(&next_feat);
            let o = &mut out[r * ldo + at..r * ldo + at + pairs];
            match self.isa {
                // SAFETY (both): the ISA was checked available at construction; every feature
                // slice the block kernels get holds d floats.
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe { self.blocked(&feat, next, o, |f| block_avx512(f, d)) },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { self.blocked(&feat, next, o, |f| block_avx2(f, d)) },
                _ => self.blocked(&feat, next, o, |f| block_scalar(f, d)),
            }
        }
        Ok(())
    }

    /// Position of pair (i, j) in a sample's output.
    fn index(&self, i: usize, j: usize) -> usize {
        let before = if self.self_interaction { i * (i + 1) / 2 } else { i * (i - 1) / 2 };
        before + j
    }

    /// Walks the 4 × 4 blocks on or below the diagonal of one sample (feature f is `feat(f)`),
    /// computing each with `block` (given the eight features' slices: the block's rows, then its
    /// columns) and keeping the pairs of the triangle. Features past `n` in a tail block repeat the
    /// block's first (valid memory, results discarded). With `next` (the next sample's features),
    /// each block also prefetches its share of the next sample's cache lines.
    fn blocked<'a>(
        &self,
        feat: &impl Fn(usize) -> &'a [f32],
        next: Option<&impl Fn(usize) -> &'a [f32]>,
        out: &mut [f32],
        block: impl Fn(&[&[f32]; 2 * B]) -> [[f32; B]; B],
    ) {
        let (n, d) = (self.n, self.d);
        let nb = n.div_ceil(B);
        let lines_per_feature = d.div_ceil(16);
        let lines = if next.is_some() { n * lines_per_feature } else { 0 };
        let per_block = lines.div_ceil(nb * (nb + 1) / 2);
        // The next line to prefetch: feature pf_f, its line pf_c.
        let (mut line, mut pf_f, mut pf_c) = (0, 0, 0);
        for ib in (0..n).step_by(B) {
            for jb in (0..=ib).step_by(B) {
                for _ in line..(line + per_block).min(lines) {
                    let Some(next) = next else { break };
                    prefetch_line::<H_T0>(next(pf_f)[16 * pf_c..].as_ptr().cast());
                    pf_c += 1;
                    if pf_c == lines_per_feature {
                        (pf_f, pf_c) = (pf_f + 1, 0);
                    }
                }
                line += per_block;
                // (A literal array: `array::from_fn` here compiled to a call per element.)
                let pick = |base: usize, off: usize| feat(if base + off < n { base + off } else { base });
                let f: [&[f32]; 2 * B] = [
                    pick(ib, 0),
                    pick(ib, 1),
                    pick(ib, 2),
                    pick(ib, 3),
                    pick(jb, 0),
                    pick(jb, 1),
                    pick(jb, 2),
                    pick(jb, 3),
                ];
                let sums = block(&f);
                for (a, row) in sums.iter().enumerate() {
                    let i = ib + a;
                    for (b, &s) in row.iter().enumerate() {
                        let j = jb + b;
                        if i < n && (j < i || (self.self_interaction && j == i)) {
                            out[self.index(i, j)] = s;
                        }
                    }
                }
            }
        }
    }
}

/// Dots of rows `f[0..4]` with columns `f[4..8]`, each with eight partial sums (so the baseline
/// ISA vectorises it).
fn block_scalar(f: &[&[f32]; 2 * B], d: usize) -> [[f32; B]; B] {
    let dot = |x: &[f32], y: &[f32]| {
        let mut acc = [0.0f32; 8];
        let (cx, cy) = (x[..d].chunks_exact(8), y[..d].chunks_exact(8));
        let tail: f32 = cx.remainder().iter().zip(cy.remainder()).map(|(p, q)| p * q).sum();
        for (p, q) in cx.zip(cy) {
            for l in 0..8 {
                acc[l] += p[l] * q[l];
            }
        }
        acc.iter().sum::<f32>() + tail
    };
    let mut out = [[0.0; B]; B];
    for (a, row) in out.iter_mut().enumerate() {
        for (b, o) in row.iter_mut().enumerate() {
            *o = dot(f[a], f[B + b]);
        }
    }
    out
}

/// AVX-512 block: 16 accumulators, 16 floats of K per step, the K tail under a mask.
///
/// # Safety
/// The CPU supports AVX-512F; every slice of `f` holds `d` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512(f: &[&[f32]; 2 * B], d: usize) -> [[f32; B]; B] {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); B]; B];
    let mut v = [_mm512_setzero_ps(); 2 * B];
    // SAFETY (both expansions): lanes k0.. under the mask lie inside every slice (d floats);
    // masked-off lanes are not read.
    macro_rules! step {
        ($k0:expr, $load:expr) => {
            for s in 0..2 * B {
                v[s] = unsafe { $load(f[s].as_ptr().add($k0)) };
            }
            for a in 0..B {
                for b in 0..B {
                    acc[a][b] = _mm512_fmadd_ps(v[a], v[B + b], acc[a][b]);
                }
            }
        };
    }
    let full = d / 16 * 16;
    let mut k0 = 0;
    while k0 < full {
        step!(k0, |p| _mm512_loadu_ps(p));
        k0 += 16;
    }
    if full < d {
        let mask: __mmask16 = (1u16 << (d - full)) - 1;
        step!(full, |p| _mm512_maskz_loadu_ps(mask, p));
    }
    // Row a's four sums at once: pairs of accumulators interleave and add within 128-bit lanes,
    // then the four lanes add (about a third of the shuffles of four separate reductions).
    let mut out = [[0.0; B]; B];
    for (o, v) in out.iter_mut().zip(&acc) {
        let t0 = _mm512_add_ps(_mm512_unpacklo_ps(v[0], v[1]), _mm512_unpackhi_ps(v[0], v[1]));
        let t1 = _mm512_add_ps(_mm512_unpacklo_ps(v[2], v[3]), _mm512_unpackhi_ps(v[2], v[3]));
        let u = _mm512_add_ps(_mm512_shuffle_ps::<0x44>(t0, t1), _mm512_shuffle_ps::<0xEE>(t0, t1));
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(u)));
        let h = _mm256_add_ps(_mm512_castps512_ps256(u), hi);
        let q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
        // SAFETY: o holds B = 4 floats.
        unsafe { _mm_storeu_ps(o.as_mut_ptr(), q) };
    }
    out
}

/// AVX2 block: two passes of 2 × 4 (8 accumulators, 4 column vectors and a row vector fit the
/// 16 ymm registers; 4 × 4 at once would spill), 8 floats of K per step, the K tail under a mask.
///
/// # Safety
/// The CPU supports AVX2 and FMA; every slice of `f` holds `d` floats.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2(f: &[&[f32]; 2 * B], d: usize) -> [[f32; B]; B] {
    use std::arch::x86_64::*;
    const H: usize = B / 2;
    let full = d / 8 * 8;
    let left = (d - full) as i32;
    let mask = crate::simd::lanes_below(left);
    let mut out = [[0.0; B]; B];
    for a0 in (0..B).step_by(H) {
        let mut acc = [[_mm256_setzero_ps(); B]; H];
        let mut col = [_mm256_setzero_ps(); B];
        // SAFETY (both expansions): lanes k0.. under the mask lie inside every slice (d floats);
        // masked-off lanes are not read.
        macro_rules! step {
            ($k0:expr, $load:expr) => {
                for b in 0..B {
                    col[b] = unsafe { $load(f[B + b].as_ptr().add($k0)) };
                }
                for a in 0..H {
                    let row = unsafe { $load(f[a0 + a].as_ptr().add($k0)) };
                    for b in 0..B {
                        acc[a][b] = _mm256_fmadd_ps(row, col[b], acc[a][b]);
                    }
                }
            };
        }
        let mut k0 = 0;
        while k0 < full {
            step!(k0, |p| _mm256_loadu_ps(p));
            k0 += 8;
        }
        if full < d {
            step!(full, |p| _mm256_maskload_ps(p, mask));
        }
        for a in 0..H {
            for b in 0..B {
                out[a0 + a][b] = crate::simd::hsum(acc[a][b]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Pairs by the definition, in f64.
    fn reference(x: &[f32], n: usize, d: usize, self_interaction: bool) -> Vec<f64> {
        let mut out = Vec::new();
        for i in 0..n {
            for j in 0..i + usize::from(self_interaction) {
                out.push((0..d).map(|k| f64::from(x[i * d + k]) * f64::from(x[j * d + k])).sum());
            }
        }
        out
    }

    fn check(rows: usize, n: usize, d: usize, self_interaction: bool, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        // Rows padded (ldx > n·d) and the output offset by 3.
        let (ldx, at) = (n * d + 5, 3);
        let x: Vec<f32> = (0..rows * ldx).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        // The same features as separate rows × d arrays (a model's bottom output and tables).
        let split: Vec<Vec<f32>> =
            (0..n).map(|f| (0..rows).flat_map(|r| x[r * ldx + f * d..][..d].to_vec()).collect()).collect();
        let in_block = |f: usize| x.get(f * d..).unwrap_or(&[]);
        let separate = |f: usize| split[f].as_slice();
        type Features<'a> = &'a dyn Fn(usize) -> &'a [f32];
        for (isa, (features, ld)) in Isa::available()
            .into_iter()
            .flat_map(|i| [(i, (&in_block as Features, ldx)), (i, (&separate, d))])
        {
            let k = DotInteraction::with_isa(n, d, self_interaction, isa).unwrap();
            let ldo = at + k.pairs() + 2;
            let mut out = vec![f32::NAN; rows * ldo];
            k.forward(features, ld, rows, &mut out, ldo, at).unwrap();
            for r in 0..rows {
                let want = reference(&x[r * ldx..], n, d, self_interaction);
                let got = &out[r * ldo..(r + 1) * ldo];
                assert!(
                    got[..at].iter().chain(&got[at + k.pairs()..]).all(|v| v.is_nan()),
                    "{isa}: wrote outside"
                );
                for (p, (&g, &w)) in got[at..at + k.pairs()].iter().zip(&want).enumerate() {
                    // Relative to Σ|x_i·x_j| ≤ d for |x| ≤ 1.
                    assert!(
                        (f64::from(g) - w).abs() <= 1e-6 * d as f64,
                        "{isa} n={n} d={d} row {r} pair {p}: {g} vs {w}"
                    );
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn every_isa_matches_reference(rows in 0usize..4, n in 1usize..30, d in 1usize..140, s: bool, seed: u64) {
            check(rows, n, d, s, seed);
        }
    }

    #[test]
    fn dlrm_shapes() {
        // MLPerf DLRM v1 (27 × 128), block-aligned, one feature (no pairs), ragged tails.
        for &(n, d) in &[(27, 128), (8, 64), (1, 16), (5, 17), (9, 3)] {
            check(3, n, d, false, 1);
            check(2, n, d, true, 2);
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(DotInteraction::new(0, 4, false).is_err());
        assert!(DotInteraction::new(3, 0, false).is_err());
        let k = DotInteraction::new(3, 4, false).unwrap();
        let x = [0.0; 24];
        let f = |i: usize| &x[4 * i..];
        let mut out = vec![0.0; 6];
        assert!(k.forward(f, 3, 2, &mut out, 3, 0).is_err(), "ld < d");
        assert!(k.forward(f, 12, 3, &mut out, 3, 0).is_err(), "x too short");
        assert!(k.forward(f, 12, 2, &mut out, 4, 0).is_err(), "out too short");
        assert!(k.forward(f, 12, 2, &mut out, 3, 1).is_err(), "offset past the row");
        assert!(k.forward(f, 12, 2, &mut out, 3, 0).is_ok());
    }
}
