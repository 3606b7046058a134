#!/usr/bin/env bash
# A heterogeneous fleet scenario (issue 22): projects the basis type's measured tables onto every SKU of
# results/fleet/catalogue.toml (into results/fleet/projected/, marked modelled), provisions the scenario's
# cluster.toml and load.toml over the measured tables of results/profile plus those projections, minimising
# servers (<scenario>/report/) and provisioned power (<scenario>/report-power/), then sweeps inventory size
# and load peak (<scenario>/sweep.{csv,svg}).
# Usage: bash results/provisioning/fleet.sh <scenario dir> <basis server type>
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# = 2 ] || { echo "usage: $0 <scenario dir> <basis server type>" >&2; exit 2; }
scenario=$1 basis=$2
cargo build --release --locked -q -p hercules-analysis
pa=./target/release/hercules-analysis
rm -rf results/fleet/projected
$pa project --tables "results/profile/$basis" --shares "results/fleet/shares/$basis" --zoo results/models/zoo.json \
  --catalogue results/fleet/catalogue.toml --out results/fleet/projected 2>&1 | tee "$scenario/projected.txt"
rm -rf "$scenario/report" "$scenario/report-power"
$pa provision --tables results/profile results/fleet/projected --cluster "$scenario/cluster.toml" \
  --load "$scenario/load.toml" --policy all --out "$scenario/report" 2>&1 | tee "$scenario/provision.txt"
$pa provision --tables results/profile results/fleet/projected --cluster "$scenario/cluster.toml" \
  --load "$scenario/load.toml" --policy all --objective power --out "$scenario/report-power" 2>&1 \
  | tee "$scenario/provision-power.txt"
python3 results/provisioning/fleet_sweep.py "$scenario" results/profile results/fleet/projected | tee "$scenario/sweep.txt"
