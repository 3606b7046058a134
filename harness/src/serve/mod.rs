//! Serving a model under load: the fixture (model, meters, placement), one trial (generator,
//! engine and monitor together), the latency-bounded-throughput search and the reports. Used by
//! the `run`, `capacity` and `profile` commands.

pub mod capacity;
pub mod fixture;
pub mod rate_search;
pub mod report;
pub mod trial;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Set by Ctrl-C; trials poll it.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler once; the flag it sets.
pub fn interrupt_flag() -> &'static AtomicBool {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // A failure only means Ctrl-C kills the process outright, losing nothing already written.
        let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
    });
    &INTERRUPTED
}
