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
                if short > 1e-9 * self.demand[m].max(1.0) {
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
