//! DIEN: tanh RNN layers over the sequence tables, h_t = tanh(x_t·W_ihᵀ + b_ih + h_{t-1}·W_hhᵀ + b_hh),
//! h_0 = 0; between layers every step's output o becomes o + softmax(FC(o)). The last layer's final
//! hidden state is the block's output.

use crate::error::Result;
use crate::ops::Dense;
use crate::workspace::Scratch;
use std::ops::Range;

#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    layers: &[(Dense, Dense)],
    fcs: &[Dense],
    first: usize,
    steps: usize,
    dim: usize,
    pooled: &[f32],
    at: &[usize],
    rows: Range<usize>,
    s: &mut Scratch,
    out: &mut [f32],
) -> Result<()> {
    let n = rows.len();
    // Layer input, step-major: steps × n × width (one GEMM over all steps for the input projection).
    let Scratch { a: seq, b: ih, c: outs, d: zero, e: hh } = s;
    for t in 0..steps {
        let src = super::table_rows(pooled, at, first + t, dim, &rows);
        seq[t * n * dim..(t + 1) * n * dim].copy_from_slice(src);
    }
    let (mut input, mut outs) = (seq, outs);
    for (l, (wih, whh)) in layers.iter().enumerate() {
        let h = wih.n();
        let sn = n * h;
        wih.forward(&input[..steps * n * wih.k()], steps * n, ih)?;
        zero[..sn].fill(0.0);
        for t in 0..steps {
            let (done, rest) = outs.split_at_mut(t * sn);
            let prev: &[f32] = if t == 0 { &zero[..sn] } else { &done[(t - 1) * sn..t * sn] };
            whh.forward(prev, n, hh)?;
            let cur = &mut rest[..sn];
            let x = &ih[t * sn..(t + 1) * sn];
            for j in 0..sn {
                cur[j] = fast_tanh(x[j] + hh[j]);
            }
        }
        if let Some(fc) = fcs.get(l) {
            fc.forward(&outs[..steps * sn], steps * n, ih)?;
            for (o, f) in outs[..steps * sn].chunks_exact_mut(h).zip(ih.chunks_exact_mut(h)) {
                softmax(f);
                for (a, b) in o.iter_mut().zip(f.iter()) {
                    *a += b;
                }
            }
        }
        std::mem::swap(&mut input, &mut outs);
    }
    // After the final swap the last layer's outputs are in `input`.
    let h = layers[layers.len() - 1].0.n();
    out.copy_from_slice(&input[(steps - 1) * n * h..steps * n * h]);
    Ok(())
}

/// tanh as a 13/6 rational function on [-7.9, 7.9] (Eigen's float kernel; plain multiply-adds, since
/// `mul_add` without the FMA target feature is a libm call): within a few ulp of libm's,
/// branch-free so the step loop vectorises; libm's tanhf made the RNN several times slower.
// The coefficients are kept as published.
#[allow(clippy::excessive_precision)]
#[inline]
pub(crate) fn fast_tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = -2.760_768_5e-16_f32;
    p = p * x2 + 2.000_187_9e-13;
    p = p * x2 - 8.604_671_5e-11;
    p = p * x2 + 5.122_297e-8;
    p = p * x2 + 1.485_722_4e-5;
    p = p * x2 + 6.372_619_3e-4;
    p = p * x2 + 4.893_524_6e-3;
    p *= x;
    let mut q = 1.198_258_4e-6_f32;
    q = q * x2 + 1.185_347_1e-4;
    q = q * x2 + 2.268_434_6e-3;
    q = q * x2 + 4.893_525e-3;
    // Tiny |x|: tanh(x) = x to float precision, and p/q would lose it to rounding.
    let r = p / q;
    if x.abs() < 4e-4 {
        x
    } else {
        r
    }
}

/// In-place softmax of one row (max-subtracted, as PyTorch does).
fn softmax(x: &mut [f32]) {
    let m = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - m).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fast_tanh_matches_libm() {
        let mut worst = 0.0f64;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4;
            let (a, b) = (f64::from(super::fast_tanh(x)), f64::from(x.tanh()));
            worst = worst.max((a - b).abs() / b.abs().max(1e-30));
        }
        assert!(worst < 2e-6, "worst relative error {worst:e}");
        assert_eq!(super::fast_tanh(100.0), super::fast_tanh(7.905_311));
        assert!(super::fast_tanh(f32::NAN).is_nan() || super::fast_tanh(f32::NAN).abs() <= 1.0);
    }
}
