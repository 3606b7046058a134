//! The greedy baselines of SPEC §7: models in descending load each take their best type, spilling to
//! the next type when that one's count runs out.

use crate::instance::{cover_tolerance, servers_to_cover, Instance};

/// How a greedy policy ranks server types for a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    /// Most QPS per server first.
    QpsPerServer,
    /// Most QPS per (peak) watt first.
    QpsPerWatt,
}

/// Greedy plan for one slot. `watts[s]` is the peak power of type `s` (used by [`Rank::QpsPerWatt`]).
/// Returns servers per model and type; demands it cannot cover show up as the plan's shortfall.
pub fn greedy(inst: &Instance, watts: &[f64], rank: Rank) -> Vec<Vec<u32>> {
    let mut left = inst.count.clone();
    let mut n = inst.zero_plan();
    let mut order: Vec<usize> = (0..inst.models()).collect();
    // Descending load; ties by index so the result is deterministic.
    order.sort_by(|&a, &b| inst.demand[b].total_cmp(&inst.demand[a]).then(a.cmp(&b)));
    for m in order {
        let mut types: Vec<usize> = (0..inst.types()).filter(|&s| inst.qps[m][s] > 0.0).collect();
        let score = |s: usize| match rank {
            Rank::QpsPerServer => inst.qps[m][s],
            Rank::QpsPerWatt => inst.qps[m][s] / watts[s].max(f64::MIN_POSITIVE),
        };
        types.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
        let mut need = inst.demand[m];
        let tol = cover_tolerance(inst.demand[m]);
        for s in types {
            if need <= tol {
                break;
            }
            let take = servers_to_cover(need, inst.qps[m][s]).min(u64::from(left[s])) as u32;
            n[m][s] += take;
            left[s] -= take;
            need -= f64::from(take) * inst.qps[m][s];
        }
    }
    n
}
