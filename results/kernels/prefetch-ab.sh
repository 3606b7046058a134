#!/usr/bin/env bash
# Issue 23: does the tuned prefetch beat the untuned default in the full benchmark, not only in the tuner's
# own short calls? `hercules kernels` with the tuning cache of a tuned-embedding.sh run (the tuned choice)
# and with `--prefetch 32` (the default: 32 rows ahead, prefetcht1), alternating who goes first, R rounds.
# Usage: bash results/kernels/prefetch-ab.sh <tuned-embedding-dir> [rounds] (needs `cargo build --release
# -p hercules`); writes <dir>/ab-*.json and <dir>/ab.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${1:?usage: prefetch-ab.sh <tuned-embedding-dir> [rounds]}
rounds=${2:-2}
export HERCULES_TUNING_CACHE="$dir/embedding-tuning.json"
[[ -f $HERCULES_TUNING_CACHE ]] || { echo "no tuning cache at $HERCULES_TUNING_CACHE" >&2; exit 2; }
shapes=(--op embedding --table-mib 2048 --lookups 80 --dim 32 --dim 64 --dim 128 --dtype fp32 --dtype fp16 --dtype int8)
side() { # tuned|default, round
  local extra=()
  [[ $1 == default ]] && extra=(--prefetch 32)
  ./target/release/hercules kernels "${shapes[@]}" "${extra[@]}" --json "$dir/ab-$1-$2.json" >/dev/null
}
for r in $(seq 1 "$rounds"); do
  if (( r % 2 )); then side tuned "$r"; side default "$r"; else side default "$r"; side tuned "$r"; fi
done
python3 results/kernels/prefetch_ab.py "$dir" "$rounds" | tee "$dir/ab.md"
