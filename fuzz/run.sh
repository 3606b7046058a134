#!/usr/bin/env bash
# Builds every libFuzzer target of fuzz/ and runs each for SECONDS (default 10), at most $FUZZ_JOBS
# (default: the core count) at a time. Prints executions and time per target. Exits 1 on a crash, a
# leak of the allocation bound, a timeout or a failed build, leaving the input in
# fuzz/artifacts/<target>/; exits 0 with "SKIPPED" and the reason when the engine itself cannot be
# built here (no C++ compiler, no crates). See fuzz/README.md.
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]
set -uo pipefail
secs=${1:-10}
shift || true
cd "$(dirname "$0")"
fuzz=$(pwd)
export CARGO_TERM_COLOR=never
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$fuzz/target}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}

skip() {
  echo "fuzz: SKIPPED ($1)"
  exit 0
}

triple=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
[ -n "$triple" ] || skip "no rustc"
# Coverage instrumentation for libFuzzer with stable rustc's codegen flags (what cargo-fuzz passes
# with --sanitizer none). The explicit --target keeps them off build scripts and proc macros.
export RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing"
build=(cargo build --release --target "$triple")
log=$(mktemp)
trap 'rm -f "$log"' EXIT

start=$(date +%s)
# The engine: libFuzzer's C++ sources, compiled by libfuzzer-sys's build script.
command -v c++ >/dev/null || command -v g++ >/dev/null || command -v clang++ >/dev/null ||
  skip "no C++ compiler to build libFuzzer (apt-get install g++)"
if ! "${build[@]}" -p libfuzzer-sys >"$log" 2>&1; then
  tail -n 20 "$log"
  skip "libFuzzer (crate libfuzzer-sys) does not build here; its error is above"
fi
if ! "${build[@]}" --bins >"$log" 2>&1; then
  tail -n 60 "$log"
  echo "fuzz: FAILED to build the targets"
  exit 1
fi
echo "fuzz: built in $(($(date +%s) - start)) s"

bin=$CARGO_TARGET_DIR/$triple/release
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cd fuzz_targets && ls -- *.rs | sed 's/\.rs$//')
fi

scratch=$(mktemp -d)
logs=$(mktemp -d)
trap 'rm -rf "$log" "$scratch" "$logs"' EXIT
export HERCULES_FUZZ_SCRATCH=$scratch

run_one() {
  local t=$1
  mkdir -p "work/$t" "artifacts/$t" "corpus/$t"
  local t0 t1 rc
  t0=$(date +%s.%N)
  # work/<t> first: libFuzzer adds what it finds there and leaves the committed seeds alone.
  "$bin/$t" "work/$t" "corpus/$t" \
    -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$logs/$t.log" 2>&1
  rc=$?
  t1=$(date +%s.%N)
  echo "$rc $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" >"$logs/$t.rc"
}

running=0
for t in "${targets[@]}"; do
  [ -x "$bin/$t" ] || { echo "fuzz: no target $t"; exit 1; }
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

failed=0
printf '%-18s %12s %8s %10s %7s  %s\n' target execs seconds execs/s corpus result
for t in "${targets[@]}"; do
  read -r rc took <"$logs/$t.rc"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -n 1)
  units=$(find "work/$t" -type f | wc -l)
  result=ok
  if [ "$rc" != 0 ]; then
    result="CRASH (exit $rc): $(ls -t "artifacts/$t" 2>/dev/null | head -n 1 | sed "s|^|fuzz/artifacts/$t/|")"
    failed=1
  fi
  printf '%-18s %12s %8.1f %10.0f %7s  %s\n' "$t" "${execs:-?}" "$took" \
    "$(awk -v n="${execs:-0}" -v s="$took" 'BEGIN { print (s > 0 ? n / s : 0) }')" "$units" "$result"
done
if [ "$failed" != 0 ]; then
  for t in "${targets[@]}"; do
    read -r rc _ <"$logs/$t.rc"
    if [ "$rc" != 0 ]; then
      echo "---- $t"
      grep -v '^#\|^INFO\|^stat::' "$logs/$t.log" | tail -n 40
    fi
  done
  echo "fuzz: FAILED (reproduce: $bin/TARGET fuzz/artifacts/TARGET/FILE)"
  exit 1
fi
echo "fuzz: all $((${#targets[@]})) targets ran ${secs} s each without a crash"
