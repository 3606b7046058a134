#!/usr/bin/env bash
# Peer comparison: runs `hercules kernels` and PyTorch (EmbeddingBag, nn.Linear+ReLU, bmm for the dot interaction) on the same shapes and
# thread counts in one run, and prints both with the ratio. Not part of CI: it needs PyTorch (~3 GB), which
# it installs into a virtualenv of its own (HERCULES_PEERS_VENV, default ~/.cache/hercules/peers-venv).
#   kernels/peers/run.sh [--quick] [--out results/peers] [extra `hercules kernels` flags...]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${HERCULES_PEERS_VENV:-$HOME/.cache/hercules/peers-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "creating $venv and installing torch (about 3 GB; once)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q torch numpy
fi
cargo build --release -q -p hercules --manifest-path "$root/Cargo.toml"
exec "$venv/bin/python" "$root/kernels/peers/peers.py" --hercules "$root/target/release/hercules" "$@"
