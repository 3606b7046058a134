#!/usr/bin/env bash
# Does the noise guard catch a neighbour on the host (issue 21)? One schedule (wnd, 1 instance x 1 thread on
# core 0, the load generator on core 1, profile's trial settings) measured with `capacity --repeats 1` and
# the guard on (it repeats a rejected trial once), in rounds of four runs:
#   quiet     - nothing else running;
#   mid       - a neighbour on core 1 starts 0-8 s after the first trial's first load step, runs 10 s;
#   mid-core0 - the same on core 0, the instance's own core (a neighbour that really slows the trial);
#   whole     - a neighbour on core 1 from before the first trial to the end of the run.
# The neighbour is a memory-bandwidth hog (python copying a 512 MiB buffer, larger than the last-level
# cache, in a loop): the kind of job another user starts on a shared machine.
# Then results/trust/neighbour.py over the runs.
# Usage: bash results/trust/neighbour.sh [out-dir] [rounds] [modes...] (default: all four; needs
# `cargo build --release -p hercules`).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-results/trust/neighbour-$(date -u +%Y-%m-%d)}
rounds=${2:-3}
mkdir -p "$out"
hog() { exec taskset -c "$1" python3 -c 'b = bytearray(512 << 20)
while True: c = bytes(b); del c'; }
run() { # name, the neighbour's mode, its core
  local name=$1 mode=$2 core=$3 log="$out/$1.txt" pid hog_pid=""
  rm -f "$out/$name.json"
  [[ $mode == whole ]] && { hog "$core" & hog_pid=$!; }
  ./target/release/hercules capacity --model wnd --sla p95:25ms --schedule instances=1,threads=1,cores=0 \
    --repeats 1 --trial-duration 6s --min-duration 1500ms --min-queries 600 --tolerance 0.03 --max-trials 14 \
    --json "$out/$name.json" >"$log" 2>&1 &
  pid=$!
  if [[ $mode == mid ]]; then
    # The JSON is first written when the first load step of the rate search ends (stdout to a file is
    # only flushed at exit, so the log cannot tell).
    until [[ -e "$out/$name.json" ]] || ! kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    sleep $((RANDOM % 9))
    hog "$core" & hog_pid=$!
    sleep 10
    kill "$hog_pid"; wait "$hog_pid" 2>/dev/null || true; hog_pid=""
  fi
  wait "$pid"
  [[ -n $hog_pid ]] && { kill "$hog_pid"; wait "$hog_pid" 2>/dev/null || true; }
  echo "$name: $(tail -1 "$log")"
}
modes=("${@:3}")
[[ ${#modes[@]} -gt 0 ]] || modes=(quiet mid mid-core0 whole)
for r in $(seq 1 "$rounds"); do
  for m in "${modes[@]}"; do
    case $m in
      quiet) run "quiet-$r" quiet 1 ;;
      mid) run "mid-$r" mid 1 ;;
      mid-core0) run "mid-core0-$r" mid 0 ;;
      whole) run "whole-$r" whole 1 ;;
      *) echo "unknown mode $m (quiet, mid, mid-core0, whole)" >&2; exit 2 ;;
    esac
  done
done
python3 results/trust/neighbour.py "$out"/*.json | tee "$out/neighbour.md"
