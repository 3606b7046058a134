//! The schedule type lives in the results schema, so the harness and the analysis share one
//! definition of its fields, its string form and its placement rules.

pub use hercules_results::schedule::{parse_core_list, Schedule};
