//! Portable kernel: safe Rust, one value at a time (the fallback and the baseline of the SIMD paths).

use super::input::IndexInt;
use super::job::Job;
use super::quant::dequant_i8;
use super::table::DType;
use std::ops::Range;

/// Pools bags `bags` of `job` into `out` (`bags.len() × dim`). Returns the position of the first
/// out-of-range index, if any (then `out` is partly written).
pub(super) fn run<I: IndexInt>(job: &Job<'_, I>, bags: Range<usize>, out: &mut [f32]) -> Result<(), usize> {
    let dim = job.dim;
    let pf_end = job.prefetch_end(&bags);
    let row_data = job.row_data_bytes();
    let plan = job.slice_plan(0, row_data);
    let lines = row_data.div_ceil(64);
    for (b, o) in bags.zip(out.chunks_exact_mut(dim)) {
        o.fill(0.0);
        let mut bias = 0f32;
        let (s, e) = (job.offsets[b], job.offsets[b + 1]);
        for i in s..e {
            let idx = job.indices[i].to_u64();
            if idx >= job.rows as u64 {
                return Err(i);
            }
            plan.issue_any(job, i, pf_end, lines);
            let w = job.weights.map_or(1.0, |w| w[i]);
            let start = idx as usize * job.stride;
            let row = &job.data[start..start + row_data];
            match job.dtype {
                DType::F32 => {
                    for (acc, c) in o.iter_mut().zip(row.chunks_exact(4)) {
                        *acc += w * f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    }
                }
                DType::F16 => {
                    for (acc, c) in o.iter_mut().zip(row.chunks_exact(2)) {
                        *acc += w * half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32();
                    }
                }
                DType::Int8 => {
                    // Sum q·(scale·w) per value and bias·w once per row, as the SIMD paths do.
                    let (scale, b) = dequant_i8(row, dim);
                    let sw = scale * w;
                    for (acc, &q) in o.iter_mut().zip(&row[..dim]) {
                        *acc += q as f32 * sw;
                    }
                    bias += b * w;
                }
            }
        }
        let scale = job.final_scale(e - s);
        for acc in o.iter_mut() {
            *acc = (*acc + bias) * scale;
        }
    }
    Ok(())
}
