#!/usr/bin/env bash
# Run the kernels' (and models') unit tests under AddressSanitizer, and the few kernel tests that
# Miri can interpret. Hardening check, run by hand; NOT part of CI: on a shared 2-core host the
# ASan build alone took ~9 min (kernels) + ~5 min (models) from cold, and the runs ~0.5 min.
#
# Why RUSTC_BOOTSTRAP=1: -Zsanitizer is an unstable flag. The project builds with stable rustc
# (1.95); RUSTC_BOOTSTRAP=1 is the documented escape hatch that lets stable accept -Z flags. It is
# used only here, never for normal builds. (A nightly, 1.97.0-nightly 2026-05-19, is also installed
# on the host; it is used only for Miri, which stable cannot run.)
#
# --target is explicit so that build scripts and proc-macros are built for the host without the
# sanitizer; only the test binaries (and their dependencies) are instrumented.
# The std library is not rebuilt with ASan, so only Rust code of this workspace and crates.io deps
# is instrumented. Memory from HugeBuf (anonymous mmap) has no redzones: ASan does not bound-check
# accesses inside those buffers (embedding tables, packed MLP panels, stream arrays).
#
# Known flake (not ASan): ceiling::tests::small_ceilings_are_positive asserts a measured bandwidth
# > 0.1 GB/s over 1 MiB; on a loaded host (load ~6 on 2 cores, nice 19) it fails intermittently
# with or without ASan.
#
# Usage: kernels/sanitize.sh [asan|miri|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/sanitize}"
TARGET=x86_64-unknown-linux-gnu
what="${1:-all}"

run_asan() {
    echo "== ASan: hercules-kernels (lib + tests)"
    RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
        nice -n 19 cargo +stable test -p hercules-kernels --lib --tests --target "$TARGET"
    echo "== ASan: hercules-models (lib)"
    RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
        nice -n 19 cargo +stable test -p hercules-models --lib --target "$TARGET"
}

# Only the tests that do not allocate a HugeBuf: HugeBuf reads /proc/meminfo (needs
# -Zmiri-disable-isolation) and then calls mmap with MAP_NORESERVE, which Miri does not support
# (it accepts only MAP_PRIVATE|MAP_ANONYMOUS). Every kernel test with real data stops there.
MIRI_TESTS=(
    isa::tests::parse_round_trips
    isa::tests::scalar_always_available_and_best_is_available
    pool::tests::split_range_covers_exactly
    elementwise::tests::bad_shapes_are_errors
    interaction::tests::bad_shapes_are_errors
    mlp::tests::bad_inputs_name_the_field
    mlp::tests::activation_parses_and_serialises_lowercase
)

run_miri() {
    if ! cargo +nightly miri --version >/dev/null 2>&1; then
        echo "== Miri: skipped (no nightly toolchain with the miri component)"
        return 0
    fi
    echo "== Miri: hercules-kernels, ${#MIRI_TESTS[@]} tests that avoid HugeBuf"
    nice -n 19 cargo +nightly miri setup
    for t in "${MIRI_TESTS[@]}"; do
        nice -n 19 cargo +nightly miri test -q -p hercules-kernels --lib -- --exact "$t"
    done
}

case "$what" in
    asan) run_asan ;;
    miri) run_miri ;;
    all) run_asan; run_miri ;;
    *) echo "usage: $0 [asan|miri|all]" >&2; exit 2 ;;
esac
