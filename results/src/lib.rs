//! The versioned JSON schema shared by the `hercules` harness (the writer) and
//! `hercules-analysis` (the reader). Neither binary defines its own copy.

pub mod ceilings;
pub mod host;

pub use ceilings::{Ceilings, KernelRecord, KernelReport, Measured, RooflineReport, BENCH_SCHEMA_VERSION};
pub use host::{CacheInfo, GpuInfo, HostFingerprint};
