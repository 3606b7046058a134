//! The activation applied in the epilogue of a [`super::Linear`] layer.

use crate::error::{KernelError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Element-wise function applied to `x·Wᵀ + b` before the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Identity (the last layer of a tower, or a layer followed by an interaction).
    #[default]
    None,
    /// `max(v, 0)`.
    Relu,
    /// `1 / (1 + e^-v)` (the click-probability head).
    Sigmoid,
}

impl Activation {
    /// All activations, for sweeps and tests.
    pub const ALL: [Activation; 3] = [Activation::None, Activation::Relu, Activation::Sigmoid];

    /// Applies the activation to one value (the scalar path and the reference both use this).
    #[inline]
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Activation::None => v,
            Activation::Relu => v.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-v).exp()),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::None => "none",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
        })
    }
}

impl FromStr for Activation {
    type Err = KernelError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "identity" | "linear" => Ok(Activation::None),
            "relu" => Ok(Activation::Relu),
            "sigmoid" => Ok(Activation::Sigmoid),
            other => Err(KernelError::UnknownName(format!(
                "activation {other:?} (expected none, relu or sigmoid)"
            ))),
        }
    }
}
