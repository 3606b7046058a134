//! Runs the kernels of `src/cu/blocks.cu` on the host: `tests/host_cu/blocks_test.cpp` includes the .cu
//! file through a small CUDA shim (`tests/host_cu/shim.h`), is compiled with the system C++ compiler
//! (`$CXX`, else `c++`; C++20 for std::barrier) and checks every kernel against references written from
//! the CPU model's blocks: grid-stride kernels on one thread and on a split launch, the warp-shuffle
//! softmax as 32 threads in lockstep. Needs no GPU; skips with a printed reason where there is no C++
//! compiler.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn block_kernels_index_like_the_cpu_blocks() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/host_cu");
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let exe = std::env::temp_dir().join(format!("hercules_blocks_cu_test_{}", std::process::id()));
    let compiled = Command::new(&cxx)
        .args(["-std=c++20", "-O1", "-pthread", "-o"])
        .arg(&exe)
        .arg(dir.join("blocks_test.cpp"))
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
    assert!(run.status.success(), "host kernel checks failed:\n{text}");
}
