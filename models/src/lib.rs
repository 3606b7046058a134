//! The model zoo of Hercules: DLRM-style recommendation models described by declarative specs
//! ([`spec::ModelSpec`]), built with seeded DeepRecSys-style or checkpointed weights ([`weights`]), and
//! run batch by batch ([`model::Model::forward`]) on the kernels of `hercules-kernels`.
//!
//! The built-in zoo ([`zoo`]) holds the eight DeepRecSys models and MLPerf DLRM v1/v2; every model can be
//! shrunk with a row scale ([`spec::Scale`]) so tests and small machines run it.

mod blocks;
pub mod error;
pub mod forward;
pub mod inputs;
pub mod limits;
pub mod model;
pub mod ops;
pub mod plan;
pub mod runner;
pub mod spec;
pub mod stats;
pub mod weights;
pub mod workspace;
pub mod zoo;

pub use error::{ModelError, Result};
pub use forward::{ForwardOpts, Profile};
pub use inputs::{IndexDist, InputPool, InputSet};
pub use model::Model;
pub use plan::ModelPlan;
pub use spec::{ModelSpec, Scale};
pub use weights::{Init, WeightSource};
pub use workspace::Workspace;
