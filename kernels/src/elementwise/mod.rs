//! Element-wise functions that model blocks apply between GEMMs: DIEN's RNN step `tanh(a + b)` and
//! its row softmax added to the step outputs. As scalar loops (libm's `expf` one value at a time)
//! they took more of a DIEN pass than the RNN's GEMMs; here they run per ISA, 16 or 8 lanes.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "x86_64")]
mod simd;

use crate::error::{check_len, KernelError, Result};
use crate::isa::Isa;
#[cfg(target_arch = "x86_64")]
use {
    crate::simd::{Avx2, Avx512},
    simd::ElementwiseSimd,
};

/// Element-wise functions for one ISA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elementwise {
    isa: Isa,
}

impl Default for Elementwise {
    fn default() -> Self {
        Self { isa: Isa::best() }
    }
}

impl Elementwise {
    /// For the best ISA of this CPU.
    pub fn new() -> Self {
        Self::default()
    }

    /// For a given ISA (an error when this CPU lacks it).
    pub fn with_isa(isa: Isa) -> Result<Self> {
        Ok(Self { isa: isa.require()? })
    }

    /// The ISA these functions run on.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// `out[i] = tanh(a[i] + b[i])`, with [`tanh`]'s accuracy (a few ulp).
    pub fn tanh_of_sum(&self, a: &[f32], b: &[f32], out: &mut [f32]) -> Result<()> {
        check_len("tanh_of_sum: b", a.len(), b.len())?;
        check_len("tanh_of_sum: out", a.len(), out.len())?;
        match self.isa {
            // SAFETY: `require` checked the CPU has the ISA; the three slices have equal lengths.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { Avx512::tanh_of_sum(a, b, out) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { Avx2::tanh_of_sum(a, b, out) },
            _ => out.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (&x, &y))| *o = tanh(x + y)),
        }
        Ok(())
    }

    /// For each row of `width` floats, `out_row += softmax(logits_row)` (max-subtracted, as
    /// PyTorch computes it); `logits` is scratch, its contents afterwards unspecified.
    pub fn add_softmax_rows(&self, logits: &mut [f32], out: &mut [f32], width: usize) -> Result<()> {
        check_len("add_softmax_rows: out", logits.len(), out.len())?;
        if width == 0 || !logits.len().is_multiple_of(width) {
            return Err(KernelError::InvalidShape(format!(
                "add_softmax_rows: {} floats are not rows of width {width}",
                logits.len()
            )));
        }
        match self.isa {
            // SAFETY: `require` checked the CPU has the ISA; equal lengths, `width` divides them.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { Avx512::add_softmax_rows(logits, out, width) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { Avx2::add_softmax_rows(logits, out, width) },
            _ => logits
                .chunks_exact_mut(width)
                .zip(out.chunks_exact_mut(width))
                .for_each(|(x, o)| add_softmax(x, o)),
        }
        Ok(())
    }
}

/// Clamp of [`tanh`]'s argument: beyond it tanh is ±1 in f32.
const TANH_CLAMP: f32 = 7.905_311;
/// Below this |x|, tanh(x) = x in f32, and the rational form would lose it to rounding.
const TANH_LINEAR: f32 = 4e-4;
/// Numerator of [`tanh`], odd powers of x, highest first (Eigen's float kernel, as published).
#[allow(clippy::excessive_precision)]
const TANH_P: [f32; 7] = [
    -2.760_768_5e-16,
    2.000_187_9e-13,
    -8.604_671_5e-11,
    5.122_297e-8,
    1.485_722_4e-5,
    6.372_619_3e-4,
    4.893_524_6e-3,
];
/// Denominator of [`tanh`], even powers of x, highest first.
#[allow(clippy::excessive_precision)]
const TANH_Q: [f32; 4] = [1.198_258_4e-6, 1.185_347_1e-4, 2.268_434_6e-3, 4.893_525e-3];

/// tanh as a 13/6 rational function on [-7.9, 7.9] (Eigen's float kernel): within a few ulp of
/// libm's, branch-free. The scalar path and the SIMD paths' reference; NaN stays NaN.
#[inline]
pub fn tanh(x: f32) -> f32 {
    let x = x.clamp(-TANH_CLAMP, TANH_CLAMP);
    let x2 = x * x;
    let p = TANH_P[1..].iter().fold(TANH_P[0], |p, &c| p * x2 + c) * x;
    let q = TANH_Q[1..].iter().fold(TANH_Q[0], |q, &c| q * x2 + c);
    if x.abs() < TANH_LINEAR {
        x
    } else {
        p / q
    }
}

/// The scalar row softmax, added to `o`.
fn add_softmax(x: &mut [f32], o: &mut [f32]) {
    let m = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - m).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for (o, &e) in o.iter_mut().zip(x.iter()) {
        *o += e * inv;
    }
}

/// Cephes' expf: range reduction to [-ln2/2, ln2/2] with ln2 split in two (Cody–Waite, so n·ln2_hi
/// is exact), then this degree-6 polynomial; the SIMD paths share it.
pub(crate) mod exp_poly {
    /// ln 2, high part.
    pub const LN2_HI: f32 = 0.693_359_4;
    /// ln 2, low part.
    pub const LN2_LO: f32 = -2.121_944_4e-4;
    /// Coefficients of r^6 … r^2 (then `+ r + 1`), highest first.
    pub const P: [f32; 6] =
        [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_6e-1, 0.5];
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn tanh_matches_libm() {
        let mut worst = 0.0f64;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4;
            let (a, b) = (f64::from(tanh(x)), f64::from(x.tanh()));
            worst = worst.max((a - b).abs() / b.abs().max(1e-30));
        }
        assert!(worst < 2e-6, "worst relative error {worst:e}");
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-1e30), -1.0);
        assert!(tanh(f32::NAN).is_nan());
    }

    /// Every ISA against f64 `tanh` and softmax, on random lengths (every tail) and values.
    fn check(len: usize, width: usize, scale: f32, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let a: Vec<f32> = (0..len).map(|_| rng.gen_range(-scale..scale)).collect();
        let b: Vec<f32> = (0..len).map(|_| rng.gen_range(-scale..scale)).collect();
        let o0: Vec<f32> = (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let rows = len / width;
        for isa in Isa::available() {
            let ew = Elementwise::with_isa(isa).unwrap();
            let mut out = vec![f32::NAN; len];
            ew.tanh_of_sum(&a, &b, &mut out).unwrap();
            for (i, &g) in out.iter().enumerate() {
                let w = (f64::from(a[i]) + f64::from(b[i])).tanh();
                assert!((f64::from(g) - w).abs() <= 2e-6 * w.abs(), "{isa} tanh [{i}]: {g} vs {w}");
            }
            let mut x = a[..rows * width].to_vec();
            let mut o = o0[..rows * width].to_vec();
            ew.add_softmax_rows(&mut x, &mut o, width).unwrap();
            for r in 0..rows {
                let row = &a[r * width..(r + 1) * width];
                let m = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
                let s: f64 = row.iter().map(|&v| (f64::from(v) - m).exp()).sum();
                for j in 0..width {
                    let i = r * width + j;
                    let w = f64::from(o0[i]) + (f64::from(a[i]) - m).exp() / s;
                    assert!(
                        (f64::from(o[i]) - w).abs() <= 1e-6,
                        "{isa} softmax row {r} col {j}: {} vs {w}",
                        o[i]
                    );
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
        #[test]
        fn every_isa_matches_reference(len in 0usize..300, width in 1usize..70, big: bool, seed: u64) {
            // Small values hit tanh's linear range and near-uniform softmaxes; big ones saturate
            // tanh and push e^(x − max) down to where it underflows.
            check(len, width, if big { 120.0 } else { 1.0 }, seed);
        }
    }

    #[test]
    fn dien_shape() {
        check(64 * 40, 64, 4.0, 1);
    }

    #[test]
    fn bad_shapes_are_errors() {
        let ew = Elementwise::new();
        let mut out = [0.0; 3];
        assert!(ew.tanh_of_sum(&[0.0; 3], &[0.0; 2], &mut out).is_err());
        assert!(ew.tanh_of_sum(&[0.0; 2], &[0.0; 2], &mut out).is_err());
        let mut x = [0.0; 6];
        assert!(ew.add_softmax_rows(&mut x, &mut [0.0; 5], 3).is_err(), "lengths differ");
        assert!(ew.add_softmax_rows(&mut x, &mut [0.0; 6], 4).is_err(), "ragged rows");
        assert!(ew.add_softmax_rows(&mut x, &mut [0.0; 6], 0).is_err(), "zero width");
        assert!(ew.add_softmax_rows(&mut x, &mut [0.0; 6], 3).is_ok());
    }
}
