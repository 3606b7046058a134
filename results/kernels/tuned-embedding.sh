#!/usr/bin/env bash
# Issue 23: the embedding bag against the same run's row-touch ceiling, with the per-host prefetch tuning.
# RUNS (default 4) runs of `hercules kernels` over fp32, fp16 and int8 rows (2 GiB of fp32 rows, L = 80,
# D = 32/64/128, 1 and 2 threads): the first with an empty tuning cache (it measures every table class and
# thread count), the others reusing it. Each run measures the kernel and then its row-touch ceiling.
# ISA=avx2 measures that path on a host that has more.
# Usage: [RUNS=n] [ISA=..] bash results/kernels/tuned-embedding.sh [out-dir] (needs `cargo build --release -p hercules`).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-results/kernels/tuned-embedding-$(date -u +%Y-%m-%d)}
mkdir -p "$out"
export HERCULES_TUNING_CACHE="$out/embedding-tuning.json"
rm -f "$HERCULES_TUNING_CACHE"
runs=()
for run in $(seq 1 "${RUNS:-4}"); do
  ./target/release/hercules kernels --op embedding --table-mib 2048 --lookups 80 --dim 32 --dim 64 --dim 128 \
    ${ISA:+--isa "$ISA"} --dtype fp32 --dtype fp16 --dtype int8 --json "$out/run$run.json" | tee "$out/run$run.txt"
  runs+=("$out/run$run.json")
done
python3 results/kernels/tuned_embedding.py "${runs[@]}" | tee "$out/summary.md"
