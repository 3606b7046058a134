#!/usr/bin/env python3
"""Which host probe predicts a trial? From `hercules capacity --no-guard --repeats N --json` documents
(every trial accepted, every probe recorded): per trial, its latency-bounded QPS over the run's median and
the before -> after change of each probe (FMA loop, 16 MiB read, the model's own work). Then, per probe,
the rank correlation (Spearman) between its change and the trial's distance from the median, and which
trials a 15% limit on that probe alone would reject.
Usage: probes.py RUN.json ..."""
import json
import statistics
import sys

LIMIT = 0.15


def rel(a, b):
    return abs(b - a) / a if a and b is not None else None


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    for pos, i in enumerate(order):
        r[i] = float(pos)
    return r


def spearman(xs, ys):
    if len(xs) < 3:
        return float("nan")
    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.mean(rx), statistics.mean(ry)
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    den = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return num / den if den else float("nan")


for path in sys.argv[1:]:
    with open(path) as f:
        doc = json.load(f)
    trials = doc["trials"]
    qps = [t["run"]["best_qps"] or 0.0 for t in trials]
    med = statistics.median(qps)
    dist = [abs(q / med - 1) for q in qps]
    sig = {
        "fma": [rel(t["probe_before"]["fma_gflops"], t["probe_after"]["fma_gflops"]) for t in trials],
        "read": [rel(t["probe_before"]["read_gbs"], t["probe_after"]["read_gbs"]) for t in trials],
        "work": [rel(1 / t["probe_before"]["work_ms"], 1 / t["probe_after"]["work_ms"])
                 if t["probe_before"].get("work_ms") and t["probe_after"].get("work_ms") else None
                 for t in trials],
    }
    print(f"## {path}: {doc.get('schedule', '')}\n")
    print("| trial | QPS | / median | FMA change | read change | model-work change |")
    print("|---:|---:|---:|---:|---:|---:|")
    for i, t in enumerate(trials):
        cells = [("–" if sig[k][i] is None else f"{100 * sig[k][i]:.0f}%") for k in ("fma", "read", "work")]
        print(f"| {i + 1} | {qps[i]:.1f} | {qps[i] / med:.2f} | " + " | ".join(cells) + " |")
    print()
    spread = (max(qps) - min(qps)) / med
    print(f"QPS median {med:.1f}, spread (max - min) / median {100 * spread:.0f}%.\n")
    print("| probe | Spearman(change, distance from median) | trials over 15% | their QPS / median |")
    print("|---|---:|---:|---|")
    for k, xs in sig.items():
        pairs = [(x, d, q) for x, d, q in zip(xs, dist, qps) if x is not None]
        if not pairs:
            print(f"| {k} | – | – | – |")
            continue
        rho = spearman([p[0] for p in pairs], [p[1] for p in pairs])
        over = [p[2] / med for p in pairs if p[0] > LIMIT]
        print(f"| {k} | {rho:.2f} | {len(over)} of {len(pairs)} | {', '.join(f'{r:.2f}' for r in over) or '–'} |")
    print()
