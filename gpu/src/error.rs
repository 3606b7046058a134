//! The errors of the GPU path.

/// Everything that can go wrong on the GPU path. Every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No usable CUDA device: no driver library, no device, or a library the kernels need is missing.
    #[error("no CUDA device: {0}")]
    NoDevice(String),
    /// A CUDA driver call failed.
    #[error("CUDA driver error in {what}: {msg}")]
    Driver {
        /// The operation.
        what: String,
        /// The driver's error.
        msg: String,
    },
    /// NVRTC could not compile a kernel source.
    #[error("NVRTC could not compile {source_name} for {arch}: {log}")]
    Compile {
        /// Which .cu source.
        source_name: &'static str,
        /// The target architecture (sm_XY).
        arch: String,
        /// The compiler's log, on one line.
        log: String,
    },
    /// A cuBLAS call failed.
    #[error("cuBLAS error in {what}: {msg}")]
    Blas {
        /// The operation.
        what: String,
        /// cuBLAS' status.
        msg: String,
    },
    /// An embedding index past its table's end (found on the host before the launch, or by the kernel).
    #[error(
        "embedding index {index} out of range for table {table} ({rows} rows) in bag {bag} at position {pos}"
    )]
    IndexOutOfRange {
        /// Table number in the batch.
        table: usize,
        /// Bag within that table.
        bag: usize,
        /// Position within that table's indices.
        pos: usize,
        /// The index.
        index: u64,
        /// Rows of the table.
        rows: u64,
    },
    /// Bag offsets or lengths that do not describe the indices.
    #[error("bad bags for table {table}: {why}")]
    BadBags {
        /// Table number in the batch.
        table: usize,
        /// What is wrong.
        why: String,
    },
    /// A buffer of the wrong size or a shape the GPU path cannot take.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The model uses something the GPU path does not implement.
    #[error("not supported on the GPU path: {0}")]
    Unsupported(String),
    /// The device does not have the memory for what was asked.
    #[error("out of device memory: {what} needs {need_mib:.0} MiB, {free_mib:.0} MiB free")]
    OutOfMemory {
        /// What was being allocated.
        what: String,
        /// MiB needed.
        need_mib: f64,
        /// MiB free on the device.
        free_mib: f64,
    },
    /// An error from the CPU kernels crate (table encoding).
    #[error(transparent)]
    Kernel(#[from] hercules_kernels::KernelError),
    /// An error from the models crate (spec, weights).
    #[error(transparent)]
    Model(#[from] hercules_models::ModelError),
}

/// Result with [`GpuError`].
pub type Result<T, E = GpuError> = std::result::Result<T, E>;

/// Collapses whitespace runs (newlines included) to single spaces, so messages stay one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Maps a driver error into [`GpuError::Driver`] naming the operation.
pub(crate) fn drv(what: &str) -> impl FnOnce(cudarc::driver::DriverError) -> GpuError + '_ {
    move |e| GpuError::Driver { what: what.to_string(), msg: one_line(&format!("{e:?}")) }
}

/// Maps a cuBLAS error into [`GpuError::Blas`] naming the operation.
pub(crate) fn blas(what: &str) -> impl FnOnce(cudarc::cublas::result::CublasError) -> GpuError + '_ {
    move |e| GpuError::Blas { what: what.to_string(), msg: one_line(&format!("{e:?}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_device_is_one_line() {
        let e = GpuError::NoDevice(one_line("libcuda.so.1 not found\n(no driver)"));
        assert_eq!(e.to_string(), "no CUDA device: libcuda.so.1 not found (no driver)");
    }
}
