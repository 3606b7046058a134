//! The `gemm` crate (sarah-ek, 0.18) computing the same layer, for side-by-side benchmarks.
//!
//! Not part of the `hercules-kernels` library: the one copy, included with `#[path]` by the crate's
//! bench, examples and tests (where `gemm` is a dev-dependency) and by `hercules kernels` (where it
//! is a dependency of the harness), so the library itself does not depend on `gemm`.
//!
//! Note: on stable Rust, gemm 0.18 compiles its AVX-512 microkernels only with its `nightly`
//! feature, so at run time it dispatches to its AVX2+FMA kernels on this build. Its threads come
//! from the current rayon pool (rayon's global pool, unpinned, unless called inside another).

// Each crate that includes this file uses a part of it.
#![allow(dead_code)]

use gemm::{gemm, Parallelism};
use hercules_kernels::mlp::Activation;

/// `y = x · Wᵀ` with `gemm::gemm`: `x` is `m×k`, `w` is `n×k` (nn.Linear layout, read through
/// strides, no copy), `y` is `m×n`, all row-major. `threads > 1` uses rayon.
///
/// # Panics
/// When a buffer length does not match the shape.
pub fn gemm_crate_plain(x: &[f32], w: &[f32], m: usize, k: usize, n: usize, y: &mut [f32], threads: usize) {
    assert_eq!(x.len(), m * k, "x length");
    assert_eq!(w.len(), n * k, "w length");
    assert_eq!(y.len(), m * n, "y length");
    if m == 0 || n == 0 {
        return;
    }
    let par = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
    // SAFETY: dst is m×n with row stride n; lhs = x is m×k with row stride k; rhs = Wᵀ is k×n, its
    // element (p, j) = w[j·k + p] (row stride 1, column stride k); the lengths are asserted above.
    unsafe {
        gemm(
            m,
            n,
            k,
            y.as_mut_ptr(),
            1,
            n as isize,
            false,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr(),
            k as isize,
            1,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        )
    };
}

/// `y = act(x · Wᵀ + b)`: [`gemm_crate_plain`] then bias and activation in a second pass over `y`
/// (what a caller of a plain GEMM library has to do).
#[allow(clippy::too_many_arguments)]
pub fn gemm_crate_linear(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    m: usize,
    k: usize,
    n: usize,
    act: Activation,
    y: &mut [f32],
    threads: usize,
) {
    gemm_crate_plain(x, w, m, k, n, y, threads);
    if n == 0 {
        return;
    }
    for row in y.chunks_exact_mut(n) {
        match bias {
            Some(b) => row.iter_mut().zip(b).for_each(|(v, &bv)| *v = act.apply(*v + bv)),
            None if act != Activation::None => row.iter_mut().for_each(|v| *v = act.apply(*v)),
            None => {}
        }
    }
}
