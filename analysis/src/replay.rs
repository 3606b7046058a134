//! Replay: each server's share of its model's load, checked against the measured QPS–latency curve of
//! its table, for the predicted tail latency of every slot.

use crate::cluster::TableRef;
use hercules_results::interpolate_tail;

/// What the curve predicts for one (model, type) assignment in one slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// QPS offered to each server (its share of the load, proportional to its capacity).
    pub offered_per_server: f64,
    /// Predicted tail latency at the SLA percentile, ms; `None` when the share lies beyond the last
    /// measured point of the curve (no measurement says what happens there).
    pub tail_ms: Option<f64>,
    /// Over the SLA target, or beyond the measured curve.
    pub at_risk: bool,
}

/// Predicts the tail for servers of one type that carry `utilisation` × their latency-bounded QPS.
/// Load is spread over a model's servers in proportion to capacity, so every server of the model runs
/// at the same utilisation (load / provisioned capacity).
pub fn predict(table: &TableRef, utilisation: f64) -> Prediction {
    let offered = utilisation * table.qps;
    let tail = interpolate_tail(&table.curve, table.percentile, offered);
    let at_risk = match tail {
        // A hair of tolerance: a server at exactly its latency-bounded QPS sits on the target.
        Some(ms) => ms > table.target_ms * (1.0 + 1e-9),
        None => true,
    };
    Prediction { offered_per_server: offered, tail_ms: tail, at_risk }
}
