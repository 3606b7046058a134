//! The plain reference: dequantise each row exactly (f64) and accumulate in f64. Slow and obviously
//! right; tests compare every kernel with it.

use super::input::{bag_of, checked_offsets, Bags, Indices};
use super::table::EmbeddingTable;
use super::{check_weights, index_error, Pooling};
use crate::error::Result;

/// Pools each bag like [`super::embedding_bag`], returning `B × dim` values computed in f64 from
/// exactly dequantised rows. Validates its inputs and reports errors as the kernels do.
pub fn embedding_bag_reference(
    table: &EmbeddingTable,
    indices: Indices<'_>,
    bags: Bags<'_>,
    weights: Option<&[f32]>,
    pooling: Pooling,
) -> Result<Vec<f32>> {
    let n = indices.len();
    let offsets = checked_offsets(bags, n)?;
    check_weights(weights, n)?;
    let dim = table.dim();
    let bag_count = offsets.len() - 1;
    let mut out = vec![0f32; bag_count * dim];
    for (b, o) in out.chunks_exact_mut(dim).enumerate() {
        let (s, e) = (offsets[b], offsets[b + 1]);
        let mut acc = vec![0f64; dim];
        for i in s..e {
            let idx = indices.get(i);
            if idx >= table.rows() as u64 {
                debug_assert_eq!(bag_of(&offsets, i), b);
                return Err(index_error(idx, i, b, table.rows()));
            }
            let w = weights.map_or(1.0, |w| w[i] as f64);
            for (a, v) in acc.iter_mut().zip(table.row_f64(idx as usize)) {
                *a += w * v;
            }
        }
        let scale = match pooling {
            Pooling::Mean if e > s => 1.0 / (e - s) as f64,
            _ => 1.0,
        };
        for (o, a) in o.iter_mut().zip(acc) {
            *o = (a * scale) as f32;
        }
    }
    Ok(out)
}
