#!/usr/bin/env python3
"""Issue 21's uncertainty table from efficiency tables: per server type and model, the best and default
schedules' latency-bounded QPS (median over trials), the 90% interval and its relative half-width
((high - low) / 2 / median), the trials rejected by the host-noise guard, and the SLA percentile's
bounds from the query count.
Usage: halfwidths.py TABLE.json ..."""
import json
import sys


def cell(r):
    iv = r.get("interval")
    if not iv:
        return f"{r['latency_bounded_qps']:.1f} | – | – | –"
    half = (iv["high"] - iv["low"]) / 2 / iv["median"] if iv["median"] > 0 else float("nan")
    return (f"{iv['median']:.1f} | {iv['low']:.1f}–{iv['high']:.1f} | ±{100 * half:.1f}% | "
            f"{len(iv['trials'])} ({len(iv.get('rejected', []))} rejected)")


def tail(r, pct):
    t = r.get("tail")
    if not t:
        return "–"
    lo = "–" if t.get("low_ms") is None else f"{t['low_ms']:.1f}"
    hi = "–" if t.get("high_ms") is None else f"{t['high_ms']:.1f}"
    return f"p{pct:g} {t['estimate_ms']:.1f} ms [{lo}, {hi}] of {t['queries']} queries"


print("| server type | model | SLA | best schedule | median QPS | 90% interval | half-width | trials "
      "| default median | default interval | default half-width | default trials | best's tail |")
print("|---|---|---|---|---:|---|---:|---|---:|---|---:|---|---|")
for path in sys.argv[1:]:
    with open(path) as f:
        t = json.load(f)
    sla = t["sla"]
    s = t["best"]["schedule"]
    label = f"{s['instances']}x{s['threads_per_instance']}" + (f" sb{s['sub_batch']}" if s.get("sub_batch") else "")
    print(f"| {t['server_type']['name']} | {t['model']['name']} | p{sla['percentile']:g} {sla['target_ms']:g} ms "
          f"| {label} | {cell(t['best'])} | {cell(t['default_schedule'])} | {tail(t['best'], sla['percentile'])} |")
