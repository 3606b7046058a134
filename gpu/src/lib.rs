//! GPU path.
