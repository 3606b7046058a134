#!/usr/bin/env python3
"""Summarise results/kernels/prefetch-ab.sh: per shape and thread count, tuned over default rows/s in each
round, their median and range."""
import json
import statistics
import sys

d, rounds = sys.argv[1], int(sys.argv[2])


def recs(side, r):
    doc = json.load(open(f"{d}/ab-{side}-{r}.json"))
    return doc, {(x["shape"]["dtype"], x["shape"]["dim"], x["threads"]): x for x in doc["records"]
                 if x["op"] == "embedding"}


first, _ = recs("tuned", 1)
print(f"Host: {first['host']['cpu_model']}, git {first['host']['git_revision']}; {rounds} rounds, who goes first "
      "alternating; ratio = tuned rows/s over default (32 rows ahead, t1) rows/s.\n")
print("| dtype | D | threads | tuned choice | per-round ratios | median |")
print("|---|---:|---:|---|---|---:|")
per = {}
for r in range(1, rounds + 1):
    _, t = recs("tuned", r)
    _, f = recs("default", r)
    for k in t:
        if k in f:
            per.setdefault(k, []).append((t[k]["rows_per_s"] / f[k]["rows_per_s"], t[k]["shape"]))
for k in sorted(per):
    ratios = [x for x, _ in per[k]]
    s = per[k][0][1]
    choice = f"{s['prefetch_distance']} {s['prefetch_hint']}"
    same = " (= default)" if (s["prefetch_distance"], s["prefetch_hint"]) == (32, "t1") else ""
    print(f"| {k[0]} | {k[1]} | {k[2]} | {choice}{same} | {', '.join(f'{x:.2f}' for x in ratios)} | "
          f"{statistics.median(ratios):.2f} |")
