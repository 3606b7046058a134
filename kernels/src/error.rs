//! Errors of the kernel crate: every one names what was wrong and where.

use thiserror::Error;

/// An error from a kernel or its set-up. Messages are one line and say what and where.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum KernelError {
    /// An index in bag `bag` (position `pos` of the index array) is not a row of the table.
    #[error("index {index} at position {pos} (bag {bag}) is out of range for a table of {rows} rows")]
    IndexOutOfRange { index: u64, pos: usize, bag: usize, rows: usize },
    /// Offsets must start at 0, never decrease and end at the number of indices.
    #[error("offsets are invalid at bag {bag}: {why}")]
    BadOffsets { bag: usize, why: String },
    /// A buffer's length does not match the shape it is used with.
    #[error("{what}: expected length {expected}, got {got}")]
    ShapeMismatch { what: &'static str, expected: usize, got: usize },
    /// A shape that cannot be built (zero rows, zero width, overflow).
    #[error("invalid shape: {0}")]
    InvalidShape(String),
    /// A value that is not finite where a finite value is required.
    #[error("non-finite value in {what} at element {pos}")]
    NonFinite { what: &'static str, pos: usize },
    /// Asked for more memory than the machine can give.
    #[error("allocation of {requested} bytes for {what} exceeds available memory ({available} bytes free)")]
    OutOfMemory { what: String, requested: usize, available: usize },
    /// The operating system refused a memory mapping.
    #[error("mmap of {bytes} bytes failed: {err}")]
    Mmap { bytes: usize, err: String },
    /// A requested instruction set is not available on this CPU.
    #[error("instruction set {0} is not available on this CPU")]
    IsaUnavailable(String),
    /// A name (dtype, pooling, activation) that is not one of the known ones.
    #[error("{0}")]
    UnknownName(String),
    /// Thread pool set-up or pinning failed.
    #[error("thread pool: {0}")]
    Pool(String),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, KernelError>;

/// ShapeMismatch unless `got == expected`.
pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(KernelError::ShapeMismatch { what, expected, got })
    }
}
