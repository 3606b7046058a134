#!/usr/bin/env bash
# The main job end to end on a built-in default (the README's first command):
#  1. profile dlrm-rmc1 on this machine with a short gradient-search budget and print its efficiency table;
#  2. provision a cluster over the efficiency tables committed in results/profile (measured on the
#     reference machine named in them) with the stated inventory and diurnal load, and print the report.
# Everything it writes goes under target/main/. Pass extra `hercules profile` flags to override the defaults.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --locked -p hercules -p hercules-analysis
out=target/main
mkdir -p "$out"
./target/release/hercules profile --model dlrm-rmc1 --rows-scale 0.25 --search gradient --budget 4 \
  --out "$out/profile" --json "$out/profile-summary.json" "$@"
for md in "$out"/profile/*/dlrm-rmc1.md; do echo; cat "$md"; done
echo
echo "== provisioning over the committed tables in results/profile (the README says how they were made)"
./target/release/hercules-analysis provision --tables results/profile \
  --cluster results/provisioning/cluster.toml --load results/provisioning/load.toml \
  --policy all --out "$out/provisioning"
