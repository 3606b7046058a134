//! The plain-loop reference every optimised path is tested against.

use super::Activation;

/// `act(x·Wᵀ + b)` with f64 accumulation; `x` is `m×k`, `weight` is `n×k` (nn.Linear layout), both
/// row-major. Slow on purpose: the obvious loops, for tests.
pub fn linear_reference(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    m: usize,
    k: usize,
    n: usize,
    act: Activation,
) -> Vec<f32> {
    assert_eq!(x.len(), m * k, "x length");
    assert_eq!(weight.len(), n * k, "weight length");
    let mut y = vec![0.0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = bias.map_or(0.0, |b| f64::from(b[j]));
            for p in 0..k {
                s += f64::from(x[i * k + p]) * f64::from(weight[j * k + p]);
            }
            y[i * n + j] = match act {
                Activation::None => s as f32,
                Activation::Relu => s.max(0.0) as f32,
                Activation::Sigmoid => (1.0 / (1.0 + (-s).exp())) as f32,
            };
        }
    }
    y
}
