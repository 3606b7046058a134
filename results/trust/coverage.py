#!/usr/bin/env python3
"""Reads `hercules capacity --repeats N --json` documents of one schedule and prints, per run, its
median and interval and how many of all the runs' medians the interval covers (markdown)."""
import json
import sys

runs = []
for path in sys.argv[1:]:
    with open(path) as f:
        d = json.load(f)
    iv = d["summary"]["interval"]
    rejected = len(iv.get("rejected", []))
    runs.append((path, iv, rejected, d["host"]["cpu_model"], d["host"]["git_revision"]))

medians = [iv["median"] for _, iv, _, _, _ in runs]
print(f"host: {runs[0][3]}; build {runs[0][4]}")
print()
print("| run | trials (QPS) | median | interval | covers medians | rejected |")
print("|---|---|---|---|---|---|")
covered_total = 0
for path, iv, rejected, _, _ in runs:
    c = sum(1 for m in medians if iv["low"] <= m <= iv["high"])
    covered_total += c >= len(runs) - 1
    trials = ", ".join(f"{t:.1f}" for t in iv["trials"])
    print(f"| {path.rsplit('/', 1)[-1]} | {trials} | {iv['median']:.1f} | "
          f"{iv['low']:.1f}–{iv['high']:.1f} ({iv['confidence']:.0%}) | {c} of {len(runs)} | {rejected} |")
print()
print(f"{covered_total} of {len(runs)} intervals cover at least {len(runs) - 1} of the {len(runs)} medians")
print(f"method: {runs[0][1]['method']}")
