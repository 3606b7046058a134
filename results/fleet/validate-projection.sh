#!/usr/bin/env bash
# Validation of the projection (issue 22), as a benchmark: measures each zoo model's time share per
# operator class on this host (`hercules infer`, one thread, batch 128, into results/fleet/shares/<type>/),
# then projects this host's 2-core tables onto its 1-core type and back, and onto every other measured
# type named, and compares with their measured latency-bounded QPS.
# Usage: bash results/fleet/validate-projection.sh <this host's 2-core type> <its 1-core type> [other type...]
# (types are folders of results/profile). Output: results/fleet/validation-<date>/ (CSV per pair, README.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: $0 <2-core type> <1-core type> [other type...]" >&2; exit 2; }
cargo build --release --locked -q -p hercules -p hercules-analysis
two=$1 one=$2
shift 2
shares=results/fleet/shares/$two
mkdir -p "$shares"
for m in dlrm-rmc1 dlrm-rmc2 dlrm-rmc3 wnd mt-wnd ncf din dien; do
  [ -f "$shares/$m.json" ] || ./target/release/hercules infer --model "$m" --batch 128 --threads 1 \
    --json "$shares/$m.json" > /dev/null
done
out=results/fleet/validation-$(date -u +%Y-%m-%d)
mkdir -p "$out"
pa=./target/release/hercules-analysis
$pa project --tables "results/profile/$one" --shares "$shares" --zoo results/models/zoo.json --against "results/profile/$two" --csv > "$out/$one--$two.csv"
$pa project --tables "results/profile/$two" --shares "$shares" --zoo results/models/zoo.json --against "results/profile/$one" --csv > "$out/$two--$one.csv"
for other in "$@"; do
  $pa project --tables "results/profile/$two" --shares "$shares" --zoo results/models/zoo.json --against "results/profile/$other" --csv \
    > "$out/$two--$other.csv"
done
python3 results/fleet/validation_report.py "$out" > "$out/README.md"
cat "$out/README.md"
