#!/usr/bin/env python3
"""Summarise results/models/tuning-before-after.sh: per model, batch and threads, hercules samples/s (median of
the rounds) before and after the per-host prefetch tuner, their ratio, and each against PyTorch."""
import json
import statistics
import sys

d = sys.argv[1]
print("| model | batch | threads | before samples/s | after samples/s | after / before | before / torch | after / torch |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for m in ("dlrm-rmc1", "dlrm-rmc2"):
    side = {s: {(r["batch"], r["threads"]): r for r in json.load(open(f"{d}/{s}-{m}.json"))["runs"]}
            for s in ("before", "after")}
    for k in sorted(side["after"]):
        b, a = side["before"][k], side["after"][k]
        med = lambda r, who: statistics.median(x["samples_per_s"] for x in r[who])
        hb, ha = med(b, "hercules"), med(a, "hercules")
        print(f"| {m} | {k[0]} | {k[1]} | {hb:.0f} | {ha:.0f} | {ha / hb:.2f} | {hb / med(b, 'torch'):.2f} | "
              f"{ha / med(a, 'torch'):.2f} |")
