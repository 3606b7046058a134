//! One module per `hercules` subcommand: its arguments and its `run`. Command modules use the
//! rooms below them (serve, search, engine, load, ceilings, output) and never each other.

pub mod campaign;
pub mod capacity;
pub mod infer;
pub mod kernels;
pub mod models;
pub mod profile;
pub mod roofline;
pub mod run;
