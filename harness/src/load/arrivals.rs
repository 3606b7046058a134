//! Seeded Poisson arrivals: exponential gaps at a given rate (SPEC §4), precomputed so the
//! generator thread does no arithmetic beyond waiting.

use rand::SeedableRng;
use rand_distr::{Distribution, Exp};

/// Arrival times in nanoseconds from the trial's start for a Poisson process of `qps` queries per
/// second, up to (not including) `horizon_ns`. The same seed gives the same times.
pub fn poisson(qps: f64, horizon_ns: u64, seed: u64) -> Vec<u64> {
    assert!(qps > 0.0 && qps.is_finite(), "arrival rate must be positive");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let gap = Exp::new(qps).expect("positive rate");
    let mut out = Vec::with_capacity((qps * horizon_ns as f64 * 1e-9 * 1.1) as usize + 16);
    let mut t = 0.0f64;
    loop {
        t += gap.sample(&mut rng) * 1e9;
        if t >= horizon_ns as f64 {
            return out;
        }
        out.push(t as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_have_exponential_mean_and_variance() {
        let qps = 2000.0;
        let t = poisson(qps, 50_000_000_000, 7);
        let gaps: Vec<f64> = t.windows(2).map(|w| (w[1] - w[0]) as f64 * 1e-9).collect();
        let n = gaps.len() as f64;
        let mean = gaps.iter().sum::<f64>() / n;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1.0);
        // Exponential(λ): mean 1/λ, variance 1/λ²; with ~100k gaps both are within 2%.
        assert!((mean * qps - 1.0).abs() < 0.02, "mean gap {mean}");
        assert!((var * qps * qps - 1.0).abs() < 0.04, "gap variance {var}");
        assert!((t.len() as f64 / 50.0 / qps - 1.0).abs() < 0.02, "count {}", t.len());
    }

    #[test]
    fn seeded_and_sorted() {
        assert_eq!(poisson(100.0, 1_000_000_000, 1), poisson(100.0, 1_000_000_000, 1));
        assert_ne!(poisson(100.0, 1_000_000_000, 1), poisson(100.0, 1_000_000_000, 2));
        assert!(poisson(1000.0, 1_000_000_000, 3).windows(2).all(|w| w[0] <= w[1]));
    }
}
