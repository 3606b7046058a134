//! CPU kernels for recommendation inference: embedding bags (SparseLengthsSum semantics), fused MLP
//! layers on packed weights, and micro-benchmarks of the machine's ceilings.
//!
//! Every SIMD path is chosen at run time ([`isa::Isa::best`]) and tested against a scalar reference.

pub mod ceiling;
pub mod elementwise;
pub mod embedding;
pub mod error;
pub mod interaction;
pub mod isa;
pub mod mem;
pub mod mlp;
pub mod pool;
#[cfg(target_arch = "x86_64")]
mod simd;

pub use error::{KernelError, Result};
pub use isa::Isa;
pub use mem::{HugeBuf, HugePages};
pub use pool::PinnedPool;
