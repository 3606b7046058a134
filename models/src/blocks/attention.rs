//! DIN attention units: for each behaviour table u, cat(beh, ad, beh + ad) → the unit's MLP; the unit
//! outputs are summed in unit order.

use super::{chain, table_rows};
use crate::error::Result;
use crate::ops::Dense;
use crate::workspace::Scratch;
use std::ops::Range;

#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    units: &[Vec<Dense>],
    first: usize,
    query: usize,
    dim: usize,
    pooled: &[f32],
    at: &[usize],
    rows: Range<usize>,
    s: &mut Scratch,
    out: &mut [f32],
) -> Result<()> {
    let n = rows.len();
    let q = table_rows(pooled, at, query, dim, &rows);
    out.fill(0.0);
    for (u, layers) in units.iter().enumerate() {
        let beh = table_rows(pooled, at, first + u, dim, &rows);
        let x = &mut s.a[..n * 3 * dim];
        for r in 0..n {
            let (b, qq) = (&beh[r * dim..(r + 1) * dim], &q[r * dim..(r + 1) * dim]);
            let row = &mut x[r * 3 * dim..(r + 1) * 3 * dim];
            row[..dim].copy_from_slice(b);
            row[dim..2 * dim].copy_from_slice(qq);
            for j in 0..dim {
                row[2 * dim + j] = b[j] + qq[j];
            }
        }
        let y = chain(layers, &s.a[..n * 3 * dim], n, &mut s.b, &mut s.c)?;
        for (o, v) in out.iter_mut().zip(y) {
            *o += v;
        }
    }
    Ok(())
}
