#!/usr/bin/env bash
# Soak run (a benchmark, not a CI test): serve a zoo model for a long stretch at a fraction of its
# measured latency-bounded capacity and report, per window, resident memory, tail latency and the
# load generator's schedule error. Goals: no RSS growth after the first window, p99 drift under 10%
# window to window on a quiet host.
#
# Usage: harness/soak.sh [MODEL] [MINUTES] [FRACTION]   (defaults: dlrm-rmc1 10 0.9)
# Env: ROWS_SCALE (0.25), SCHEDULE (instances=1,threads=2), SLA (p95:100ms), OUT (results/soak/<host>-<date>)
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-dlrm-rmc1}
minutes=${2:-10}
fraction=${3:-0.9}
rows=${ROWS_SCALE:-0.25}
schedule=${SCHEDULE:-instances=1,threads=2}
sla=${SLA:-p95:100ms}
host=$(awk -F: '/^model name/ {gsub(/\((R|TM)\)|Processor|CPU/, "", $2); gsub(/^ +| +$/, "", $2); gsub(/[^A-Za-z0-9]+/, "-", $2); print tolower($2); exit}' /proc/cpuinfo)
out=${OUT:-results/soak/${host:-host}-$(nproc)c-$(date -u +%Y-%m-%d)}
mkdir -p "$out"
cargo build --release -q -p hercules
bin=target/release/hercules
common=(--model "$model" --rows-scale "$rows" --schedule "$schedule")

echo "soak: measuring the latency-bounded capacity of $model ($schedule, $sla)"
"$bin" capacity "${common[@]}" --sla "$sla" --json "$out/capacity.json" > "$out/capacity.txt"
cap=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["best_qps"])' "$out/capacity.json")
qps=$(python3 -c "print(round($cap * $fraction, 1))")
echo "soak: capacity $cap QPS; serving $qps QPS for $minutes min in 1-minute windows"
"$bin" run "${common[@]}" --qps "$qps" --duration "${minutes}m" --window 60s --sla "$sla" \
  --json "$out/run.json" > "$out/run.txt"

python3 - "$out" "$model" "$schedule" "$sla" "$cap" "$qps" "$fraction" <<'PY'
import json, os, statistics, sys
out, model, schedule, sla, cap, qps, fraction = sys.argv[1:]
run = json.load(open(os.path.join(out, "run.json")))
w = run["result"]["windows"]
host = run["host"]
rows = []
for x in w:
    err = x.get("schedule_error_us") or {}
    rows.append(f"| {x['start_s'] / 60:.0f} | {x['queries']} | {x['finished']} | {x['latency_ms']['p50']:.2f} | "
                f"{x['latency_ms']['p95']:.2f} | {x['latency_ms']['p99']:.2f} | {err.get('p99', float('nan')):.1f} | "
                f"{x.get('rss_mib') or float('nan'):.1f} |")
full = [x for x in w if x["queries"] > 0.5 * max(y["queries"] for y in w)]  # drop a partial last window
steady = full[1:]  # the first window is warm-up for caches and allocators
rss = [x["rss_mib"] for x in steady if x.get("rss_mib")]
p99 = [x["latency_ms"]["p99"] for x in steady]
drift = [abs(b / a - 1) for a, b in zip(p99, p99[1:]) if a > 0]
growth = (rss[-1] - rss[0]) if len(rss) > 1 else float("nan")
lines = [
    f"# Soak run: {model}, {len(w)} windows of 1 minute",
    "",
    f"Host: {host['cpu_model']}, {len(host.get('usable_cpus', []))} usable cores, kernel {host.get('kernel', '?')}; "
    f"git {host.get('git_revision', '?')}; measured {run['measured_at']}.",
    f"Schedule `{schedule}`, rows scale {run['model']['rows_scale']}, SLA {sla}. Capacity measured first: "
    f"{float(cap):.1f} QPS; served at {fraction} of it: {qps} QPS (open loop, Poisson).",
    "Command: `harness/soak.sh " + " ".join(sys.argv[2:3]) + "` (see the script for its defaults).",
    "",
    "| minute | queries | finished | p50 ms | p95 ms | p99 ms | sched err p99 µs | RSS MiB |",
    "|---|---|---|---|---|---|---|---|",
    *rows,
    "",
    "After the first window:",
    f"- RSS from {rss[0]:.1f} to {rss[-1]:.1f} MiB: growth {growth:+.1f} MiB "
    f"({'none' if abs(growth) < 1.0 else 'GROWS'}; goal: none)." if len(rss) > 1 else "- RSS: fewer than two steady windows.",
    f"- p99 drift window to window: median {statistics.median(drift) * 100:.1f}%, max {max(drift) * 100:.1f}% "
    f"(goal: under 10% on a quiet host: {'met' if max(drift) < 0.10 else 'missed'})." if drift else "- p99 drift: too few windows.",
    f"- Whole run: p95 {run['result']['latency_ms']['p95']:.2f} ms, p99 {run['result']['latency_ms']['p99']:.2f} ms, "
    f"SLA {'met' if run['result'].get('sla_met') else 'missed'}; generator schedule error p99 "
    f"{(run['result'].get('schedule_error_us') or {}).get('p99', float('nan')):.1f} µs; "
    f"steal up to {run['result'].get('machine', {}).get('steal_fraction') or 0:.3f}, "
    f"other processes' CPU {run['result'].get('machine', {}).get('others_cpu_fraction') or 0:.2f}.",
]
open(os.path.join(out, "report.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
