#!/usr/bin/env python3
"""Summarise results/kernels/tuned-embedding.sh: per shape and thread count, the tuner's choice, its
source and gain over the default, and the kernel's rows/s against the same run's row-touch ceiling."""
import json
import sys

runs = [json.load(open(p)) for p in sys.argv[1:]]
h = runs[0]["host"]
print(f"Host: {h['cpu_model']}, {h['logical_cpus']} CPUs, git {h['git_revision']}; "
      f"{len(runs)} runs ({', '.join(r['measured_at'] for r in runs)}).\n")
print("| run | dtype | D | row B | threads | prefetch (source) | tuner gain | Mrows/s | row-touch Mrows/s | of ceiling |")
print("|---:|---|---:|---:|---:|---|---:|---:|---:|---:|")
fracs = {}
for i, doc in enumerate(runs, 1):
    for r in doc["records"]:
        if r["op"] != "embedding":
            continue
        s = r["shape"]
        t = s.get("prefetch_tuning") or {}
        gain = t.get("gain_over_default")
        frac = r.get("fraction_of_ceiling")
        touch = s.get("row_touch_mrows_s")
        fracs.setdefault((s["dtype"], s["dim"], r["threads"]), []).append(frac)
        print(f"| {i} | {s['dtype']} | {s['dim']} | {s['row_bytes']} | {r['threads']} | "
              f"{s['prefetch_distance']} {s['prefetch_hint']} ({t.get('source', '?')}) | "
              f"{'-' if gain is None else f'{gain:.2f}'} | {r['rows_per_s'] / 1e6:.1f} | "
              f"{'-' if touch is None else f'{touch:.1f}'} | {'-' if frac is None else f'{frac:.2f}'} |")
vals = [f for fs in fracs.values() for f in fs if f is not None]
if vals:
    vals.sort()
    print(f"\nFraction of the row-touch ceiling over all {len(vals)} records: min {vals[0]:.2f}, "
          f"median {vals[len(vals) // 2]:.2f}, max {vals[-1]:.2f}; at least 0.9 in "
          f"{sum(v >= 0.9 for v in vals)} of {len(vals)}.")
