#!/usr/bin/env python3
"""Summarise results/trust/neighbour.sh: per run, each trial's QPS, what the guard saw and its verdict."""
import json
import os
import statistics
import sys


def rel(a, b):
    return abs(b - a) / a if a else 0.0


def trial_row(t):
    b, a, m = t["probe_before"], t["probe_after"], t["machine"]
    work = rel(1 / b["work_ms"], 1 / a["work_ms"]) if b.get("work_ms") and a.get("work_ms") else None
    return {
        "qps": t["run"]["best_qps"],
        "fma": rel(b["fma_gflops"], a["fma_gflops"]),
        "read": rel(b["read_gbs"], a["read_gbs"]),
        "work": work,
        "others": m.get("others_cpu_fraction"),
        "rejected": t["rejected"],
    }


def pct(x):
    return "–" if x is None else f"{100 * x:.0f}%"


runs = []
for path in sys.argv[1:]:
    name = os.path.basename(path).removesuffix(".json")
    with open(path) as f:
        d = json.load(f)
    runs.append((name, d, [trial_row(t) for t in d["trials"]]))
def kind(name):
    return name.rsplit("-", 1)[0]


order = {"quiet": 0, "mid": 1, "mid-core0": 2, "whole": 3}
runs.sort(key=lambda r: (order.get(kind(r[0]), 9), r[0]))

quiet_qps = [t["qps"] for n, _, ts in runs if kind(n) == "quiet" for t in ts if not t["rejected"]]
ref = statistics.median(quiet_qps) if quiet_qps else None
d0 = runs[0][1]
print(f"Host: {d0['host']['cpu_model']}, {d0['host']['logical_cpus']} CPUs; git {d0['host']['git_revision']}; "
      f"schedule {d0['schedule']}; model {d0['model']['name']} under {d0['sla']}.\n")
print("| run | trial | QPS | / quiet median | FMA change | model-work change | others' CPU | verdict |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
for name, d, ts in runs:
    for i, t in enumerate(ts, 1):
        ratio = f"{t['qps'] / ref:.2f}" if ref else "–"
        verdict = "accepted" if not t["rejected"] else "rejected: " + t["rejected"]
        print(f"| {name} | {i} | {t['qps']:.1f} | {ratio} | {pct(t['fma'])} | {pct(t['work'])} | "
              f"{pct(t['others'])} | {verdict} |")

print()
for k in order:
    sel = [(n, d, ts) for n, d, ts in runs if kind(n) == k]
    if not sel:
        continue
    first_rejected = sum(1 for _, _, ts in sel if ts and ts[0]["rejected"])
    reported = [d["best_qps"] for _, d, _ in sel]
    noisy = sum(1 for _, d, _ in sel if "HOST NOISY" in json.dumps(d["summary"]))
    print(f"- {k}: {len(sel)} runs; first trial rejected in {first_rejected}; "
          f"reported QPS {', '.join(f'{q:.1f}' for q in reported)}"
          + (f" ({', '.join(f'{q / ref:.2f}' for q in reported)} of the quiet median {ref:.1f})" if ref else "")
          + (f"; {noisy} flagged HOST NOISY (every trial rejected)" if noisy else ""))
