//! DLRM's dot interaction: the pairwise dot products of each sample's feature vectors.
//!
//! A sample's `n` features of width `d` are an `n × d` row-major block; the output is the strict
//! lower triangle of its Gram matrix (with the diagonal under self-interaction), row by row. The
//! SIMD paths compute 4 × 4 blocks of dots on or below the diagonal: per step of K each of the
//! eight feature vectors is loaded once for four products, against two loads per product for dots
//! taken one at a time. While one sample computes, its blocks prefetch the next sample's features
//! (a batch's features stream from memory: 14 MB for MLPerf DLRM v1 at batch 1024).
//!
//! One block kernel per ISA (`avx512`, `avx2`, `scalar`), chosen in `forward`; the walk over the
//! blocks and the prefetching (`blocked`) are shared.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod scalar;
#[cfg(test)]
mod tests;

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
                Isa::Avx512 => unsafe { self.blocked(&feat, next, o, |f| avx512::block(f, d)) },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { self.blocked(&feat, next, o, |f| avx2::block(f, d)) },
                _ => self.blocked(&feat, next, o, |f| scalar::block(f, d)),
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
