#!/usr/bin/env python3
"""Random search at the gradient search's budget, computed exactly from measurements: for a model whose
whole grid was measured (`profile --search all`), random search drawing k distinct schedules uniformly ends
at the best of its k draws. Over every k-subset of the measured grid (in closed form, by rank), this gives
the probability that it ends at the optimum and within 3% and 10% of it, and its expected fraction of the
optimum, with k = the gradient search's evaluation count. Each schedule's value is its measured
latency-bounded QPS in the checkpoint (the median of its trials where it was re-measured).
Usage: random_budget.py DIR/<server-type>/<model>.json ...  (reads .searches.json and .checkpoint.json)"""
import json
import sys
from math import comb


def key(s):
    return tuple(s.get(k) for k in ("instances", "threads_per_instance", "inter_op", "sub_batch",
                                     "gpu_threshold", "gpu_streams"))


print("| model | grid | gradient: evaluations, of optimum | random, same budget: P(optimum) | P(≥ 0.97) "
      "| P(≥ 0.90) | expected of optimum |")
print("|---|---:|---|---:|---:|---:|---:|")
for path in sys.argv[1:]:
    base = path[: -len(".json")]
    with open(base + ".searches.json") as f:
        cmp = json.load(f)
    with open(base + ".checkpoint.json") as f:
        ck = json.load(f)
    values = {}
    for e in ck["evaluations"]:
        values[key(e["schedule"])] = e["qps"] if e.get("met_sla") else 0.0
    v = sorted(values.values(), reverse=True)
    n, best = len(v), v[0]
    grad = next(s for s in cmp["searches"] if s["algorithm"] == "gradient")
    k = min(grad["evaluations"], n)
    total = comb(n, k)
    # P(the best of k draws is the i-th ranked) = C(n - 1 - i, k - 1) / C(n, k).
    p = [comb(n - 1 - i, k - 1) / total for i in range(n)]
    at = lambda f: sum(pi for pi, x in zip(p, v) if x >= f * best)
    expected = sum(pi * x for pi, x in zip(p, v)) / best
    name = base.split("/")[-1]
    print(f"| {name} | {n} | {k}, {grad['of_optimum']:.3f} | {p[0]:.2f} | {at(0.97):.2f} | {at(0.90):.2f} "
          f"| {expected:.3f} |")
