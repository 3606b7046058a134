//! Provisioning policies: the greedy baselines and the optimum.

pub mod greedy;
pub mod optimal;

pub use greedy::{greedy, Rank};
pub use optimal::{solve_slot, Backend, OptimalOptions, SlotSolution, Status};
