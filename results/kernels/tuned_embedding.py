#!/usr/bin/env python3
"""Summarise results/kernels/tuned-embedding.sh: per shape and thread count, the tuner's choice, its
source and gain over the default, and the kernel's rows/s against the same run's row-touch ceiling."""
import json
import statistics
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


def span(v, fmt=".2f"):
    v = sorted(x for x in v if x is not None)
    if not v:
        return "-"
    m = format(statistics.median(v), fmt)
    return f"{m} [{v[0]:{fmt}}, {v[-1]:{fmt}}]" if len(v) > 1 else m


# Per shape over the runs (each run measures the kernel, then its ceiling, so runs alternate the two).
rates = {}
for doc in runs:
    for r in doc["records"]:
        if r["op"] == "embedding" and r.get("fraction_of_ceiling") is not None:
            s = r["shape"]
            k = (s["dtype"], s["dim"], r["threads"])
            rates.setdefault(k, []).append((r["rows_per_s"] / 1e6, s["row_touch_mrows_s"]))
if rates:
    print(f"\nPer shape over the {len(runs)} runs: median [min, max].\n")
    print("| dtype | D | threads | Mrows/s | row-touch Mrows/s | of ceiling |")
    print("|---|---:|---:|---|---|---|")
    meds = []
    for (dt, d, th), v in sorted(rates.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
        f = fracs[(dt, d, th)]
        meds.append(statistics.median(f))
        print(f"| {dt} | {d} | {th} | {span([a for a, _ in v], '.1f')} | {span([b for _, b in v], '.1f')} | "
              f"{span(f)} |")
    meds.sort()
    print(f"\nMedian fraction of the row-touch ceiling per shape ({len(meds)} shapes): min {meds[0]:.2f}, "
          f"median {statistics.median(meds):.2f}, max {meds[-1]:.2f}; at least 0.9 in "
          f"{sum(v >= 0.9 for v in meds)} of {len(meds)}.")
