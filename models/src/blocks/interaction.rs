//! Interactions that are not a plain concatenation: DLRM's pairwise dots and DCNv2's cross update.

/// For each row of `x0` (rows × `xw`, holding `n` features of `d` each): the first feature, then the
/// dots of pairs (i, j), j < i (j ≤ i with `self_interaction`), ordered by i then j.
pub(crate) fn dot_interaction(
    x0: &[f32],
    xw: usize,
    n: usize,
    d: usize,
    self_interaction: bool,
    out: &mut [f32],
) {
    let rows = x0.len() / xw.max(1);
    let ow = out.len() / rows.max(1);
    for r in 0..rows {
        let x = &x0[r * xw..(r + 1) * xw];
        let o = &mut out[r * ow..(r + 1) * ow];
        o[..d].copy_from_slice(&x[..d]);
        let mut k = d;
        for i in 0..n {
            let fi = &x[i * d..(i + 1) * d];
            for j in 0..i + usize::from(self_interaction) {
                let fj = &x[j * d..(j + 1) * d];
                o[k] = dot(fi, fj);
                k += 1;
            }
        }
    }
}

/// Dot product with 8 independent accumulators (so it vectorises).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// z ← x0 ⊙ v + z, elementwise.
pub(crate) fn cross_update(x0: &[f32], v: &[f32], z: &mut [f32]) {
    for ((z, &x), &v) in z.iter_mut().zip(x0).zip(v) {
        *z += x * v;
    }
}
