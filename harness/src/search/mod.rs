//! The schedule search of `profile`: `space` holds the grid of knob values, `strategy` the three
//! searches (exhaustive, DeepRecSched, gradient), `eval` the measured (and checkpointed) objective
//! they share.

pub mod eval;
pub mod space;
pub mod strategy;
