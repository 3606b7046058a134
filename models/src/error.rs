//! Errors of the model crate: one line each, naming the model, the field or tensor, and what is wrong.

use thiserror::Error;

/// An error from parsing, building or running a model.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A spec file that is not valid JSON/TOML or has unknown keys (serde names the key and position).
    #[error("spec {source_name}: {msg}")]
    Parse { source_name: String, msg: String },
    /// A spec that parses but describes an impossible model; `field` is the path inside the spec.
    #[error("{model}: {field}: {msg}")]
    Invalid { model: String, field: String, msg: String },
    /// A model name that is not in the zoo and not a readable file.
    #[error("unknown model {name:?} (the zoo has: {known}); or give a path to a .json/.toml spec")]
    UnknownModel { name: String, known: String },
    /// A weight tensor that is missing, has the wrong shape, or holds non-finite values.
    #[error("{model}: tensor {tensor}: {msg}")]
    Weight { model: String, tensor: String, msg: String },
    /// The model does not fit in the memory this machine has free.
    #[error(
        "{model}: needs {need_gib:.2} GiB (tables, weights, build copy) but only {free_gib:.2} GiB is available; \
         use --rows-scale or --max-rows"
    )]
    OutOfMemory { model: String, need_gib: f64, free_gib: f64 },
    /// An input set that does not fit the model (wrong batch, table count, index range).
    #[error("{model}: input: {msg}")]
    Input { model: String, msg: String },
    /// A trace file that cannot be read, parsed or replayed on a model; names the file and line (0: the
    /// file as a whole, and then no line is shown).
    #[error("trace {path}{}: {msg}", line_suffix(*.line))]
    Trace { path: String, line: usize, msg: String },
    /// A safetensors checkpoint that is truncated, malformed or inconsistent; names the file.
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: String, msg: String },
    /// A kernel failed; `what` says which operator of which model.
    #[error("{what}: {source}")]
    Kernel {
        what: String,
        #[source]
        source: hercules_kernels::KernelError,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn line_suffix(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;

/// Wraps a kernel error with the operator it came from.
pub(crate) fn kernel(what: impl Into<String>) -> impl FnOnce(hercules_kernels::KernelError) -> ModelError {
    let what = what.into();
    move |source| ModelError::Kernel { what, source }
}
