//! The GPU path of Hercules, on CUDA through `cudarc` loaded at run time: nothing CUDA is needed to
//! build or test this crate, and where there is no driver or device [`Device::open`] returns
//! [`GpuError::NoDevice`] ("no CUDA device: ...", one line).
//!
//! CUDA C kernels (`src/cu/*.cu`) are compiled at run time with NVRTC for the device's own
//! architecture and cached per [`Device`].

#![warn(missing_docs)]

pub mod device;
pub mod error;

pub use device::{library_versions, Device, DeviceInfo, LibraryVersions};
pub use error::{GpuError, Result};
pub mod embedding;
pub mod plan;

pub use embedding::{BagPtrs, DeviceBags, GpuTables};
pub use plan::{plan_bags, BagPlan, TableBags, TableShape};
pub mod lt;
pub mod mlp;
pub use mlp::{Blas, GpuLinear};
pub mod bench;
pub mod ceiling;
pub mod graph;
pub mod layout;
pub mod model;
pub use model::{GpuModel, GpuRunner};
