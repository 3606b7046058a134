#!/usr/bin/env python3
"""Does the host-noise guard reject the trials that differ? For every schedule in profile checkpoints that
has both accepted and rejected trials: the trials' QPS, and each rejected trial's QPS over the accepted
trials' median. A guard that catches host drift rejects outliers (ratios far from 1); one whose probe is
noisier than the trials rejects trials like the others.
Usage: guard.py DIR/<server-type>/<model>.checkpoint.json ..."""
import json
import statistics
import sys

print("| server type | model | schedule | accepted QPS | rejected QPS | rejected / accepted median | why (first) |")
print("|---|---|---|---|---|---|---|")
ratios, spreads = [], []
for path in sys.argv[1:]:
    with open(path) as f:
        ck = json.load(f)
    parts = path.rstrip("/").split("/")
    stype, model = parts[-2], parts[-1].replace(".checkpoint.json", "")
    for e in ck["evaluations"]:
        samples = e.get("samples") or []
        acc = [s["qps"] for s in samples if not s.get("rejected")]
        rej = [s for s in samples if s.get("rejected")]
        if len(acc) >= 2:
            spreads.append((max(acc) - min(acc)) / statistics.median(acc))
        if not (acc and rej):
            continue
        med = statistics.median(acc)
        rs = [s["qps"] / med for s in rej]
        ratios += rs
        sch = e["schedule"]
        label = f"{sch['instances']}x{sch['threads_per_instance']}" + (
            f" sb{sch['sub_batch']}" if sch.get("sub_batch") else "")
        print(f"| {stype} | {model} | {label} | {', '.join(f'{q:.0f}' for q in acc)} | "
              f"{', '.join('%.0f' % s['qps'] for s in rej)} | {', '.join(f'{r:.2f}' for r in rs)} | "
              f"{rej[0]['rejected']} |")
if ratios:
    within = sum(1 for r in ratios if 0.9 <= r <= 1.1)
    print(f"\n{len(ratios)} rejected trials; median ratio {statistics.median(ratios):.2f}, range "
          f"{min(ratios):.2f}-{max(ratios):.2f}; {within} within ±10% of the accepted median.")
if spreads:
    print(f"Spread (max - min) / median of the accepted trials per schedule with 2 or more: median "
          f"{100 * statistics.median(spreads):.0f}%, largest {100 * max(spreads):.0f}%.")
