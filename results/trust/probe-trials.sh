#!/usr/bin/env bash
# Which host probe predicts a trial (issue 21's noise guard)? Two schedules whose trials varied most in
# the committed tables, measured with `capacity --no-guard --repeats 12` (every trial kept, every probe
# recorded, profile's trial settings), then results/trust/probes.py over them.
# Usage: bash results/trust/probe-trials.sh [out-dir] (needs `cargo build --release -p hercules`).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-results/trust/probes-$(date -u +%Y-%m-%d)}
mkdir -p "$out"
trial=(--trial-duration 6s --min-duration 1500ms --min-queries 600 --tolerance 0.03 --max-trials 14)
./target/release/hercules capacity --model wnd --sla p95:25ms --schedule instances=2,threads=1,sub-batch=128 \
  --no-guard --repeats 12 "${trial[@]}" --json "$out/wnd-2x1-sb128.json" | tee "$out/wnd-2x1-sb128.txt"
./target/release/hercules capacity --model wnd --sla p95:25ms --schedule instances=1,threads=1,cores=0 \
  --no-guard --repeats 12 "${trial[@]}" --json "$out/wnd-1x1-core0.json" | tee "$out/wnd-1x1-core0.txt"
python3 results/trust/probes.py "$out"/*.json | tee "$out/probes.md"
