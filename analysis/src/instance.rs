//! The numeric problem of one time slot, stripped of names: what every policy solves.

/// One slot's provisioning problem.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Latency-bounded QPS of one server of type `s` serving model `m`: `qps[m][s]`, 0 where the type
    /// has no table for the model (it cannot serve it).
    pub qps: Vec<Vec<f64>>,
    /// Servers of each type available.
    pub count: Vec<u32>,
    /// Cost of one provisioned server of each type in the objective (1 for servers, peak watts for power).
    pub cost: Vec<f64>,
    /// Capacity each model needs this slot: its load times (1 + headroom).
    pub demand: Vec<f64>,
}

impl Instance {
    /// Number of models.
    pub fn models(&self) -> usize {
        self.qps.len()
    }

    /// Number of server types.
    pub fn types(&self) -> usize {
        self.count.len()
    }

    /// The objective of `n` (cost of the servers it provisions).
    pub fn cost_of(&self, n: &[Vec<u32>]) -> f64 {
        n.iter().map(|row| row.iter().zip(&self.cost).map(|(&k, &c)| f64::from(k) * c).sum::<f64>()).sum()
    }

    /// Capacity `n` gives model `m`.
    pub fn capacity(&self, n: &[Vec<u32>], m: usize) -> f64 {
        n[m].iter().zip(&self.qps[m]).map(|(&k, &q)| f64::from(k) * q).sum()
    }

    /// Load not covered per model (0 where covered), with a relative tolerance so that float noise in
    /// the solvers never reports a phantom shortfall.
    pub fn shortfall(&self, n: &[Vec<u32>]) -> Vec<f64> {
        (0..self.models())
            .map(|m| {
                let short = self.demand[m] - self.capacity(n, m);
                if short > cover_tolerance(self.demand[m]) {
                    short
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Whether `n` covers every demand and stays within every type's count.
    pub fn is_feasible(&self, n: &[Vec<u32>]) -> bool {
        self.shortfall(n).iter().all(|&s| s == 0.0) && self.within_counts(n)
    }

    /// Whether `n` uses no type beyond its count.
    pub fn within_counts(&self, n: &[Vec<u32>]) -> bool {
        (0..self.types()).all(|s| n.iter().map(|row| row[s]).sum::<u32>() <= self.count[s])
    }

    /// An all-zero plan.
    pub fn zero_plan(&self) -> Vec<Vec<u32>> {
        vec![vec![0; self.types()]; self.models()]
    }
}

/// Load left uncovered below which a demand counts as covered: float noise in the solvers' sums, never
/// a real shortfall.
pub fn cover_tolerance(demand: f64) -> f64 {
    1e-9 * demand.max(1.0)
}

/// Whole servers of `qps` each that cover `need` QPS: at least one whenever `need` is positive (however
/// small against `qps`, so a search that asks always makes progress), and no extra server for float
/// noise just above a whole multiple. Saturates instead of overflowing.
pub fn servers_to_cover(need: f64, qps: f64) -> u64 {
    if !(need > 0.0 && qps > 0.0) {
        return 0;
    }
    // `as` saturates: an infinite or huge ratio becomes u64::MAX, which callers cap by a count.
    (need / qps - 1e-9).ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tiny_need_still_takes_one_server() {
        // need/qps far below the noise margin used to round to zero servers, and the top-up loop
        // then never progressed.
        assert_eq!(servers_to_cover(1e-6, 1000.0), 1);
        assert_eq!(servers_to_cover(1e4, 1e15), 1);
        assert_eq!(servers_to_cover(3000.0 + 1e-7, 1000.0), 3);
        assert_eq!(servers_to_cover(3001.0, 1000.0), 4);
        assert_eq!(servers_to_cover(0.0, 1000.0), 0);
        assert_eq!(servers_to_cover(f64::NAN, 1000.0), 0);
        assert_eq!(servers_to_cover(1e300, 1e-300), u64::MAX);
    }
}
