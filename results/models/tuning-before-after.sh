#!/usr/bin/env bash
# Issue 23: dlrm-rmc1 and dlrm-rmc2 samples/s at batch 16 / 64 / 1024, 1 and 2 threads, against the PyTorch
# reference, with the prefetch as it was before the per-host tuner (a build of <before-rev>) and after it
# (this tree), each through models/reference/peer_infer.py (2 alternating rounds with PyTorch), the two builds
# taking turns going first. Usage: bash results/models/tuning-before-after.sh <before-rev> [out-dir]
# (needs ~/.cache/hercules/peers-venv from kernels/peers/run.sh; builds <before-rev> in a worktree unless
# HERCULES_BEFORE_BIN names a binary already built from it).
set -euo pipefail
cd "$(dirname "$0")/../.."
rev=${1:?usage: tuning-before-after.sh <before-rev> [out-dir]}
out=${2:-results/models/tuning-before-after-$(date -u +%Y-%m-%d)}
py=${HERCULES_PEERS_VENV:-$HOME/.cache/hercules/peers-venv}/bin/python
mkdir -p "$out"
before=${HERCULES_BEFORE_BIN:-}
if [[ -z $before ]]; then
  wt=$(mktemp -d)/before
  git worktree add -q "$wt" "$rev"
  (cd "$wt" && CARGO_TARGET_DIR="$wt-target" cargo build --release -q -p hercules)
  before="$wt-target/release/hercules"
fi
cargo build --release -q -p hercules
export HERCULES_TUNING_CACHE="$out/embedding-tuning.json"
side() { # before|after, model
  local bin=./target/release/hercules
  [[ $1 == before ]] && bin=$before
  "$py" models/reference/peer_infer.py --model "$2" --rows-scale 0.25 --batch 16 64 1024 --threads 1 2 \
    --seconds 1.0 --rounds 2 --hercules "$bin" --json "$out/$1-$2.json" | tee "$out/$1-$2.txt"
}
side after dlrm-rmc1; side before dlrm-rmc1
side before dlrm-rmc2; side after dlrm-rmc2
[[ -z ${wt:-} ]] || git worktree remove --force "$wt"
