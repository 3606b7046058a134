//! The versioned results schema.
