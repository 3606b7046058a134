//! DIEN: tanh RNN layers over the sequence tables, h_t = tanh(x_t·W_ihᵀ + b_ih + h_{t-1}·W_hhᵀ + b_hh),
//! h_0 = 0; between layers every step's output o becomes o + softmax(FC(o)). The last layer's final
//! hidden state is the block's output.

use crate::error::{kernel, Result};
use crate::ops::Dense;
use crate::workspace::Scratch;
use hercules_kernels::elementwise::Elementwise;
use std::ops::Range;

#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    layers: &[(Dense, Dense)],
    fcs: &[Dense],
    ew: &Elementwise,
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
            ew.tanh_of_sum(&ih[t * sn..(t + 1) * sn], &hh[..sn], &mut rest[..sn])
                .map_err(kernel("rnn step"))?;
        }
        if let Some(fc) = fcs.get(l) {
            fc.forward(&outs[..steps * sn], steps * n, ih)?;
            ew.add_softmax_rows(&mut ih[..steps * sn], &mut outs[..steps * sn], h)
                .map_err(kernel("rnn fc softmax"))?;
        }
        std::mem::swap(&mut input, &mut outs);
    }
    // After the final swap the last layer's outputs are in `input`.
    let h = layers[layers.len() - 1].0.n();
    out.copy_from_slice(&input[(steps - 1) * n * h..steps * n * h]);
    Ok(())
}
