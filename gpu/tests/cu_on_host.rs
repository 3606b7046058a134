//! Runs the CUDA C kernels on the host: each `tests/host_cu/*_test.cpp` includes a `.cu` file through a
//! small CUDA shim (`tests/host_cu/shim.h`), is compiled with the system C++ compiler (`$CXX`, else
//! `c++`; C++20 for std::barrier) and checks the kernels against references of its own. Needs no GPU;
//! skips with a printed reason where there is no C++ compiler.
//! - `blocks_test.cpp`: every kernel of `src/cu/blocks.cu` against references written from the CPU
//!   model's blocks: grid-stride kernels on one thread and on a split launch, the warp-shuffle softmax
//!   as 32 threads in lockstep.
//! - `embedding_test.cpp`: every specialisation of the table-batched bag of `src/cu/embedding.cu` on
//!   random tables in the device row layout (dims not a multiple of 4, ragged and empty bags, weights,
//!   mean pooling, an out-of-range index) against a double-precision reference.

use std::path::PathBuf;
use std::process::Command;

/// Compiles `tests/host_cu/<name>.cpp` and runs it; the program's exit status is the verdict.
fn run_host_test(name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/host_cu");
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let exe = std::env::temp_dir().join(format!("hercules_{name}_{}", std::process::id()));
    // Rows are bytes read through vector types, as on the device: no strict aliasing.
    let compiled = Command::new(&cxx)
        .args(["-std=c++20", "-O1", "-fno-strict-aliasing", "-pthread", "-o"])
        .arg(&exe)
        .arg(dir.join(format!("{name}.cpp")))
        .current_dir(&dir)
        .output();
    let out = match compiled {
        Ok(o) => o,
        Err(e) => {
            println!("skipped: no C++ compiler ({cxx}: {e})");
            return;
        }
    };
    assert!(out.status.success(), "{cxx} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let run = Command::new(&exe).output().expect("run the host kernel test");
    let _ = std::fs::remove_file(&exe);
    let text = String::from_utf8_lossy(&run.stdout);
    println!("{text}");
    assert!(run.status.success(), "host kernel checks failed ({}):\n{text}", run.status);
}

#[test]
fn block_kernels_index_like_the_cpu_blocks() {
    run_host_test("blocks_test");
}

#[test]
fn embedding_bag_kernel_pools_like_the_reference() {
    run_host_test("embedding_test");
}
