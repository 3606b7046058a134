#!/usr/bin/env bash
# Issue 23: the embedding bag against the same run's row-touch ceiling, with the per-host prefetch tuning.
# Two runs of `hercules kernels` over fp32, fp16 and int8 rows (2 GiB of fp32 rows, L = 80, D = 32/64/128, 1 and
# 2 threads): the first with an empty tuning cache (it measures every table class), the second reusing it.
# Usage: bash results/kernels/tuned-embedding.sh [out-dir] (needs `cargo build --release -p hercules`).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-results/kernels/tuned-embedding-$(date -u +%Y-%m-%d)}
mkdir -p "$out"
export HERCULES_TUNING_CACHE="$out/embedding-tuning.json"
rm -f "$HERCULES_TUNING_CACHE"
for run in 1 2; do
  ./target/release/hercules kernels --op embedding --table-mib 2048 --lookups 80 --dim 32 --dim 64 --dim 128 \
    --dtype fp32 --dtype fp16 --dtype int8 --json "$out/run$run.json" | tee "$out/run$run.txt"
done
python3 results/kernels/tuned_embedding.py "$out"/run1.json "$out"/run2.json | tee "$out/summary.md"
