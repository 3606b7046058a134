//! NCF: MF branch = mf_user + mf_item (elementwise); MLP branch over cat(mlp_user, mlp_item); output
//! cat(MF, MLP).

use super::{chain, table_rows};
use crate::error::Result;
use crate::ops::Dense;
use crate::workspace::Scratch;
use std::ops::Range;

#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    mlp: &[Dense],
    mf: [usize; 2],
    mlp_tables: [usize; 2],
    dim: usize,
    pooled: &[f32],
    at: &[usize],
    rows: Range<usize>,
    s: &mut Scratch,
    out: &mut [f32],
) -> Result<()> {
    let n = rows.len();
    let k = mlp[0].k();
    let (u, i) = (
        table_rows(pooled, at, mlp_tables[0], k / 2, &rows),
        table_rows(pooled, at, mlp_tables[1], k / 2, &rows),
    );
    let h = k / 2;
    for r in 0..n {
        s.a[r * k..r * k + h].copy_from_slice(&u[r * h..(r + 1) * h]);
        s.a[r * k + h..(r + 1) * k].copy_from_slice(&i[r * h..(r + 1) * h]);
    }
    let y = chain(mlp, &s.a[..n * k], n, &mut s.b, &mut s.c)?;
    let yw = mlp[mlp.len() - 1].n();
    let ow = dim + yw;
    let (a, b) = (table_rows(pooled, at, mf[0], dim, &rows), table_rows(pooled, at, mf[1], dim, &rows));
    for r in 0..n {
        let o = &mut out[r * ow..(r + 1) * ow];
        for j in 0..dim {
            o[j] = a[r * dim + j] + b[r * dim + j];
        }
        o[dim..].copy_from_slice(&y[r * yw..(r + 1) * yw]);
    }
    Ok(())
}
