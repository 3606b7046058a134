//! End-to-end tests across crates: the `hercules` binary's output read back through the `results`
//! schema, as the analysis would read it.

use std::path::PathBuf;

/// Path of a workspace binary built in the same profile as the running test (`cargo test --workspace`
/// builds every member's binaries before any test runs).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(|d| d.parent()).expect("target profile dir");
    let bin = dir.join(name);
    assert!(bin.exists(), "{} not built: run `cargo test --workspace`", bin.display());
    bin
}
