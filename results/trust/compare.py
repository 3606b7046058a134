#!/usr/bin/env python3
"""The search comparison of issue 21 from `hercules profile --search all` output: per model and search,
evaluations, the best schedule's median QPS with its interval, the fraction of the exhaustive optimum,
best over default, and whether each difference is significant (the intervals do not overlap).
Usage: compare.py DIR/<server-type>/<model>.json ...  (the .searches.json beside each is read too)."""
import json
import sys


def fmt_iv(iv):
    if not iv:
        return "-"
    return f"{iv['median']:.1f} [{iv['low']:.1f}, {iv['high']:.1f}] ({len(iv['trials'])} trials)"


def apart(a, b):
    return a["low"] > b["high"] or b["low"] > a["high"]


print("| model | search | evaluations | of exhaustive's | best schedule | median QPS [90% interval] "
      "| of optimum | vs optimum | over default | vs default |")
print("|---|---|---:|---:|---|---|---:|---|---:|---|")
for path in sys.argv[1:]:
    with open(path) as f:
        table = json.load(f)
    with open(path[: -len(".json")] + ".searches.json") as f:
        cmp = json.load(f)
    default_iv = table["default_schedule"].get("interval")
    default_qps = table["default_schedule"]["latency_bounded_qps"]
    opt = next((s for s in cmp["searches"] if s["algorithm"] == "exhaustive"), None)
    for s in cmp["searches"]:
        iv = s.get("interval")
        of_opt = f"{s['of_optimum']:.3f}" if s.get("of_optimum") is not None else "-"
        sig = s.get("significant_vs_optimum")
        vs_opt = "-" if sig is None else ("significant" if sig else "within noise")
        if opt and s["algorithm"] != "exhaustive" and s["best_schedule"] == opt["best_schedule"]:
            vs_opt = "same schedule"
        over = s["best_qps"] / default_qps if default_qps > 0 else float("nan")
        vs_def = "-" if not (iv and default_iv) else ("significant" if apart(iv, default_iv) else "within noise")
        evals_of = s.get("evaluations_of_exhaustive")
        print(f"| {cmp['model']} | {s['algorithm']} | {s['evaluations']} | "
              f"{'-' if evals_of is None else f'{evals_of:.2f}'} | {s['best_schedule']} | {fmt_iv(iv)} | "
              f"{of_opt} | {vs_opt} | {over:.2f}x | {vs_def} |")
    print(f"| {cmp['model']} | (default) | | | {cmp['default_schedule']} | {fmt_iv(default_iv)} | | | 1.00x | |")
