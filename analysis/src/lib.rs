//! Provisioning analysis: turns efficiency tables into cluster provisioning decisions (SPEC §7).
//!
//! `cluster` reads the inventory and matches it with tables, `load` makes the load per slot,
//! `policy` holds the greedy baselines and the MILP optimum, `provision` runs them over the day,
//! `replay` checks each plan against the measured latency curves, `report` writes the outputs,
//! `roofline` draws a host's roofline picture, and `synth` makes synthetic fleets for scale tests.
//! `catalogue` reads server types described by their figures, and `project` turns measured tables into
//! `modelled` ones for them; `merge` gathers many hosts' tables into one folder per server type.
//! `limits` holds every resource bound and numeric range.

pub mod catalogue;
pub mod cluster;
pub mod instance;
pub mod limits;
pub mod load;
pub mod merge;
pub mod policy;
pub mod project;
pub mod provision;
pub mod replay;
pub mod report;
pub mod roofline;
pub mod synth;
