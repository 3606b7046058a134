#!/usr/bin/env bash
# Issue 21's must-show: the same dlrm-rmc1 schedule measured 5 times with `capacity --repeats 3`;
# each run's 90% interval, and how many of the 5 medians it covers (results/trust/coverage.py).
# Usage: bash results/trust/rmc1-repeats.sh [out-dir] (needs `cargo build --release -p hercules`).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-results/trust/rmc1-$(date -u +%Y-%m-%d)}
mkdir -p "$out"
for run in 1 2 3 4 5; do
  ./target/release/hercules capacity --model dlrm-rmc1 --sla p95:100ms \
    --schedule instances=2,threads=1,sub-batch=64 --repeats 3 --seed $((run * 100)) \
    --json "$out/run$run.json" --csv "$out/run$run.csv" | tee "$out/run$run.txt"
done
python3 results/trust/coverage.py "$out"/run*.json | tee "$out/coverage.md"
