#!/usr/bin/env bash
# Re-measures every efficiency table of results/profile on this host at one commit (issue 21): the
# host's ceilings once (results/kernels/roofline-<date>.json), then all eight DeepRecSys models on
# both cores (all four searches on dlrm-rmc1, dlrm-rmc3 and wnd, the gradient search on the rest) and on
# core 0 alone, each under the server type `profile` derives from the host (e.g. amd-epyc-zen5-2c-avx512
# and amd-epyc-zen5-1c-avx512). Usage: bash results/trust/regenerate-tables.sh [out-dir]
# (default results/profile-<date>); about two hours on a 2-core host. Commit first: the tables record
# the commit and whether the tree was dirty.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -p hercules
bin=./target/release/hercules
out=${1:-results/profile-$(date -u +%Y-%m-%d)}
mkdir -p "$out"
roof=results/kernels/roofline-$(date -u +%Y-%m-%d).json
[ -f "$roof" ] || $bin roofline --json "$roof"
two=(--roofline "$roof" --out "$out")
one=(--restrict-cores 0 --idle-watts 70 --peak-watts 170 --roofline "$roof" --out "$out")
$bin profile --model dlrm-rmc1 --model dlrm-rmc3 --model wnd --search all "${two[@]}"
$bin profile --all --search gradient --budget 3 "${one[@]}"
$bin profile --model dlrm-rmc2 --model mt-wnd --model ncf --model din --model dien --search gradient --budget 8 "${two[@]}"
