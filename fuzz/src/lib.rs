//! Shared pieces of the fuzz targets: the invariant checks and the allocation bound.
//!
//! The invariant every target asserts: no panic, no single allocation beyond [`MAX_ALLOC_BYTES`]
//! (with libFuzzer's `-rss_limit_mb` bounding the total), and every error is one line.

// The `hercules` binary crate has no library target: its self-contained parser modules are compiled
// here from its source files, so the fuzz targets call the very code the binary runs. `sizes` names
// `crate::limits`, hence `limits` at this crate's root. If one of these files moves or gains a
// dependency on the rest of the binary, update the paths (or build with --no-default-features).
#[cfg(feature = "harness-src")]
#[allow(dead_code, clippy::all)]
#[path = "../../harness/src/args.rs"]
pub mod args;
#[cfg(feature = "harness-src")]
#[allow(dead_code, clippy::all)]
#[path = "../../harness/src/latency.rs"]
pub mod latency;
#[cfg(feature = "harness-src")]
#[allow(dead_code, clippy::all)]
#[path = "../../harness/src/limits.rs"]
pub mod limits;
#[cfg(feature = "harness-src")]
#[allow(dead_code, clippy::all)]
#[path = "../../harness/src/load/sizes.rs"]
pub mod sizes;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Display;
use std::path::PathBuf;

/// The largest single allocation a parser may make on any input: 1 GiB, as `-malloc_limit_mb=1024`
/// would enforce under a sanitizer. libFuzzer's own malloc limit needs a sanitizer's malloc hooks,
/// which a stable build without sanitizer lacks, so this allocator enforces it instead.
pub const MAX_ALLOC_BYTES: usize = 1 << 30;

/// The system allocator, aborting (a crash libFuzzer records, with its input) on an allocation
/// above [`MAX_ALLOC_BYTES`].
pub struct BoundedAlloc;

fn over_bound(size: usize) -> ! {
    // No allocation here: write the message with a fixed buffer, then abort.
    let mut buf = [0u8; 96];
    let msg = b"==fuzz== allocation of ";
    let mut n = 0;
    for &b in msg {
        buf[n] = b;
        n += 1;
    }
    let mut digits = [0u8; 20];
    let (mut d, mut x) = (0, size);
    loop {
        digits[d] = b'0' + (x % 10) as u8;
        d += 1;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    while d > 0 {
        d -= 1;
        buf[n] = digits[d];
        n += 1;
    }
    for &b in b" bytes exceeds the 1 GiB bound\n" {
        buf[n] = b;
        n += 1;
    }
    // SAFETY: writing a valid buffer to stderr.
    unsafe {
        libc_write(2, buf.as_ptr(), n);
    }
    std::process::abort()
}

extern "C" {
    #[link_name = "write"]
    fn libc_write(fd: i32, buf: *const u8, count: usize) -> isize;
}

// SAFETY: defers to `System` for every allocation it allows.
unsafe impl GlobalAlloc for BoundedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOC_BYTES {
            over_bound(layout.size());
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOC_BYTES {
            over_bound(layout.size());
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOC_BYTES {
            over_bound(new_size);
        }
        System.realloc(ptr, layout, new_size)
    }
}

/// Every target installs the bounded allocator with this line.
#[macro_export]
macro_rules! bounded_alloc {
    () => {
        #[global_allocator]
        static ALLOC: $crate::BoundedAlloc = $crate::BoundedAlloc;
    };
}

/// Asserts the error contract: the message is not empty and is one line, i.e. holds no `\n`.
/// `HERCULES_FUZZ_ERRORS` changes the check: `strict` refuses every control character (`\r`, `\0`,
/// escape sequences: what the models crate's own messages escape), `off` only asks for a message, to
/// look for panics past a known multi-line message.
pub fn one_line(what: &str, e: &dyn Display) {
    let msg = e.to_string();
    assert!(!msg.trim().is_empty(), "{what}: empty error message");
    match std::env::var("HERCULES_FUZZ_ERRORS").as_deref() {
        Ok("off") => {}
        Ok("strict") => assert!(
            !msg.chars().any(char::is_control),
            "{what}: error message holds a control character: {msg:?}"
        ),
        _ => assert!(!msg.contains('\n'), "{what}: error message is not one line: {msg:?}"),
    }
}

/// The input as text, if it is UTF-8 (the file readers take `&str` or refuse non-UTF-8 first).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A scratch file of this process, for parsers that only read from a path: in
/// `$HERCULES_FUZZ_SCRATCH` (which `run.sh` makes and removes), else `/dev/shm` where it exists, so a
/// write per execution stays cheap, else the temporary directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = match std::env::var_os("HERCULES_FUZZ_SCRATCH") {
        Some(d) => PathBuf::from(d),
        None if std::path::Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
        None => std::env::temp_dir(),
    };
    dir.join(format!("hercules-fuzz-{}-{name}", std::process::id()))
}

/// Writes `data` to the scratch file `name` and returns its path.
pub fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    let p = scratch(name);
    std::fs::write(&p, data).expect("scratch file is writable");
    p
}

/// Model specs: the checks every spec target runs, and a tiny valid spec for the targets that need one.
pub mod spec {
    use hercules_models::{ModelSpec, Scale};
    use std::sync::OnceLock;

    /// A two-table model small enough to check traces and checkpoints against on every execution.
    pub const TINY: &str = r#"{
  "name": "tiny",
  "dense_features": 2,
  "tables": [{"name": "t", "count": 2, "rows": 8, "dim": 4, "lookups": 2}],
  "bottom_mlp": {"widths": [2, 4]},
  "interaction": {"kind": "dot"},
  "top_mlp": {"widths": [7, 1]}
}"#;

    /// [`TINY`], parsed once.
    pub fn tiny() -> &'static ModelSpec {
        static SPEC: OnceLock<ModelSpec> = OnceLock::new();
        SPEC.get_or_init(|| ModelSpec::parse(TINY, "tiny.json").expect("the tiny spec is valid"))
    }

    /// Parses `text` as a spec named `source_name`; on success, computes what the harness computes
    /// from a spec before it allocates anything (shapes, widths, parameter list, scaled copies).
    pub fn check(text: &str, source_name: &str) {
        let spec = match ModelSpec::parse(text, source_name) {
            Err(e) => return crate::one_line("ModelSpec::parse", &e),
            Ok(s) => s,
        };
        let _ = spec.num_tables();
        let groups = spec.table_groups();
        for t in [0, groups.len() / 2, groups.len().saturating_sub(1), groups.len()] {
            assert_eq!(spec.table_group(t), groups.get(t).copied(), "table_group({t})");
        }
        for (g, grp) in spec.tables.iter().enumerate() {
            let _ = spec.group_start(g);
            assert!(spec.group(&grp.name).is_some());
        }
        let _ = spec.dense_out();
        for b in 0..spec.blocks.len() {
            let _ = spec.block_out(b);
        }
        let _ = spec.features();
        let _ = spec.features_width();
        let _ = spec.interaction_out();
        let _ = spec.output_width();
        let _ = spec.dense_params();
        let _ = hercules_models::weights::params(&spec);
        for scale in [
            Scale { rows_scale: 1e-3, max_rows: Some(1000) },
            Scale { rows_scale: 1e-12, max_rows: None },
            Scale { rows_scale: 1.0, max_rows: Some(1) },
        ] {
            match spec.scaled(scale) {
                Err(e) => crate::one_line("ModelSpec::scaled", &e),
                Ok(s) => {
                    if let Err(e) = s.validate() {
                        panic!("scaled spec fails validation: {e}");
                    }
                }
            }
        }
        // A valid spec round-trips through JSON (the harness records specs in its results).
        let json = serde_json::to_string(&spec).expect("a valid spec serialises");
        let back =
            ModelSpec::parse(&json, "back.json").unwrap_or_else(|e| panic!("spec does not read back: {e}"));
        assert_eq!(back, spec, "JSON round trip changed the spec");
    }
}
