//! DCNv2's cross update (DLRM's pairwise dots are `hercules_kernels::interaction`).

/// z ← x0 ⊙ v + z, elementwise.
pub(crate) fn cross_update(x0: &[f32], v: &[f32], z: &mut [f32]) {
    for ((z, &x), &v) in z.iter_mut().zip(x0).zip(v) {
        *z += x * v;
    }
}
