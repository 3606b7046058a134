#!/usr/bin/env bash
# A profiling campaign on a real single-node Slurm (issue 22): installs slurmctld, slurmd and munge from
# the distribution's packages when they are missing, starts them on this machine with a throw-away
# configuration, submits `hercules campaign` (a two-task job array profiling two tiny built-in models),
# waits for it, merges the tables with `hercules-analysis merge` and provisions over them; then stops the
# daemons. Skips, saying why, only where the packages cannot be installed or the daemons cannot start.
# Usage: bash .ci/slurm-campaign.sh [work-dir]   (needs root for apt and the daemons)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
skip() { echo "== slurm campaign: SKIPPED ($*)"; exit 0; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    skip "Slurm is not installed and apt-get as root is not available"
  fi
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge) \
    >/dev/null 2>&1 || skip "apt-get could not install slurmctld, slurmd, slurm-client and munge"
fi
[ "$(id -u)" = 0 ] || skip "the Slurm and munge daemons need root here"

work=${1:-$(mktemp -d /tmp/hercules-slurm.XXXXXX)}
mkdir -p "$work"/{state,spool,log,munge}
work=$(cd "$work" && pwd)
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
export SLURM_CONF=$work/slurm.conf
cat > "$SLURM_CONF" <<EOF
ClusterName=hercules-ci
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

pids=()
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/slurmd.pid" ] && kill "$(cat "$work/slurmd.pid")" 2>/dev/null || true
  [ -f "$work/slurmctld.pid" ] && kill "$(cat "$work/slurmctld.pid")" 2>/dev/null || true
  [ -f "$work/munge/munged.pid" ] && kill "$(cat "$work/munge/munged.pid")" 2>/dev/null || true
}
trap stop EXIT

# munge: a fresh key and socket in the work folder, so nothing of the host's own setup is touched.
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
sock=$work/munge/munge.socket
munged --force --key-file="$work/munge/munge.key" --socket="$sock" --pid-file="$work/munge/munged.pid" \
  --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed" || skip "munged would not start"
# Slurm's auth/munge plugin finds the socket through AuthInfo.
sed -i "s|^AuthType=auth/munge|AuthType=auth/munge\nAuthInfo=socket=$sock|" "$SLURM_CONF"
slurmctld -c -f "$SLURM_CONF" || skip "slurmctld would not start (see $work/log/slurmctld.log)"
slurmd -f "$SLURM_CONF" || skip "slurmd would not start (see $work/log/slurmd.log)"
for _ in $(seq 60); do
  state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
  [ "$state" = idle ] && break
  [ -n "$state" ] && scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
  sleep 1
done
[ "$state" = idle ] || skip "the node never became idle (state '$state'; see $work/log)"
echo "== slurm campaign: single-node Slurm up ($(sinfo --version), node $host, $cpus CPUs)"

cargo build --locked -q -p hercules -p hercules-analysis
bin=$repo/target/debug
"$bin/hercules" campaign --model sleep:300 --model sleep:500 --out "$work/results" --time 10 --submit -- \
  --sla p95:20ms --sub-batches 256 --restrict-cores 0 --no-ceilings --trial-duration 800ms --min-duration 300ms \
  --min-queries 100 --warmup 100ms --max-trials 8 --tolerance 0.1 --repeats 2 --no-guard
job=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["jobs"][0]["job_id"])' "$work/results/campaign.json")
for _ in $(seq 300); do
  [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
  sleep 1
done
[ -z "$(squeue -h -j "$job")" ] || { echo "job array $job still queued or running after 300 s"; squeue; exit 1; }
for log in "$work"/results/logs/*.out; do echo "-- $log"; tail -3 "$log"; done
n=$(find "$work/results/ci" -name 'sleep-*.json' ! -name '*.checkpoint.json' ! -name '*.searches.json' | wc -l)
[ "$n" = 2 ] || { echo "expected 2 tables from the two array tasks, found $n"; exit 1; }

"$bin/hercules-analysis" merge "$work/results" --out "$work/merged"
type=$(ls "$work/merged")
cat > "$work/cluster.toml" <<EOF
[[server]]
name = "$type"
count = 10
idle_watts = 50
peak_watts = 100
EOF
cat > "$work/load.toml" <<EOF
slot_minutes = 60
seed = 1
[[model]]
name = "sleep:300"
peak_qps = 2000
trough_ratio = 0.3
peak_hour = 20.0
[[model]]
name = "sleep:500"
peak_qps = 1000
trough_ratio = 0.3
peak_hour = 8.0
EOF
"$bin/hercules-analysis" provision --tables "$work/merged" --cluster "$work/cluster.toml" --load "$work/load.toml" \
  --policy all --time-limit 10 --out "$work/provision"
echo "== slurm campaign: passed (job array $job, 2 tasks; merged into $work/merged; plan in $work/provision)"
