#!/usr/bin/env bash
# Does the noise guard catch a deliberately slowed host (issue 21)? One schedule (wnd, 1 instance x 1 thread
# on core 0, profile's trial settings) measured with `capacity --repeats 1` and the guard on, in rounds of
# three runs:
#   quiet  - nothing else running;
#   mid    - a neighbour starts 2-10 s into the first trial's load and runs for 10 s;
#   whole  - the neighbour runs from before the first trial to the end of the run.
# The neighbour is a memory-bandwidth hog on core 1 (python copying a 512 MiB buffer, larger than the
# last-level cache, in a loop): the kind of job another user starts on a shared machine.
# Then results/trust/neighbour.py over the runs.
# Usage: bash results/trust/neighbour.sh [out-dir] [rounds] (needs `cargo build --release -p hercules`).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-results/trust/neighbour-$(date -u +%Y-%m-%d)}
rounds=${2:-4}
mkdir -p "$out"
hog() { exec taskset -c 1 python3 -c 'b = bytearray(512 << 20)
while True: c = bytes(b); del c'; }
run() { # name, then the neighbour's mode
  local name=$1 mode=$2 log="$out/$1.txt" pid hog_pid=""
  [[ $mode == whole ]] && { hog & hog_pid=$!; }
  ./target/release/hercules capacity --model wnd --sla p95:25ms --schedule instances=1,threads=1,cores=0 \
    --repeats 1 --trial-duration 6s --min-duration 1500ms --min-queries 600 --tolerance 0.03 --max-trials 14 \
    --json "$out/$name.json" >"$log" 2>&1 &
  pid=$!
  if [[ $mode == mid ]]; then
    until grep -q '^calibration' "$log" 2>/dev/null || ! kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    sleep $((2 + RANDOM % 9))
    hog & hog_pid=$!
    sleep 10
    kill "$hog_pid"; wait "$hog_pid" 2>/dev/null || true; hog_pid=""
  fi
  wait "$pid"
  [[ -n $hog_pid ]] && { kill "$hog_pid"; wait "$hog_pid" 2>/dev/null || true; }
  echo "$name: $(tail -1 "$log")"
}
for r in $(seq 1 "$rounds"); do
  run "quiet-$r" quiet
  run "mid-$r" mid
  run "whole-$r" whole
done
python3 results/trust/neighbour.py "$out"/*.json | tee "$out/neighbour.md"
