#!/usr/bin/env python3
"""The projection's validation report: per pair of measured server types (source -> target), each
model's projected and measured latency-bounded QPS and the error, the median absolute and worst error
per pair, and which operator class the misses point at. Reads the CSVs `hercules-analysis project
--against ... --csv` wrote. Usage: validation_report.py <folder of <source>--<target>.csv>"""
import csv
import pathlib
import statistics
import sys

GOAL_MEDIAN, GOAL_WORST = 0.15, 0.30


def main(folder):
    d = pathlib.Path(folder)
    print("# Projection validation\n")
    print("Each row: a measured table of the source type projected onto the target type's measured ceilings")
    print("(`hercules-analysis project --against`), against the target's own measured table. Error =")
    print(f"projected / measured - 1. Goal: median |error| <= {GOAL_MEDIAN:.0%}, worst <= {GOAL_WORST:.0%} per pair.\n")
    print("| source -> target | model | embedding share | time x | bound | source QPS | projected | measured | error |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|")
    summary = []
    for f in sorted(d.glob("*--*.csv")):
        src, dst = f.stem.split("--", 1)
        rows = [r for r in csv.DictReader(f.open()) if r["measured_qps"]]
        errs = []
        for r in rows:
            e = float(r["error"])
            errs.append((abs(e), e, r["model"], float(r["embedding_share"])))
            print(f"| {src} -> {dst} | {r['model']} | {float(r['embedding_share']):.0%} | {float(r['time_ratio']):.3f} | {r['bound']} "
                  f"| {float(r['source_qps']):.1f} | {float(r['projected_qps']):.1f} | {float(r['measured_qps']):.1f} | {e:+.1%} |")
        if errs:
            summary.append((src, dst, errs))
    print("\n| source -> target | models | median abs error | worst | goal met | misses (> 30%) |")
    print("|---|---:|---:|---:|---|---|")
    for src, dst, errs in summary:
        med = statistics.median(a for a, *_ in errs)
        worst = max(errs)
        misses = [f"{m} {e:+.0%} ({'embedding' if s >= 0.5 else 'compute'}-bound, share {s:.0%})"
                  for a, e, m, s in sorted(errs, reverse=True) if a > GOAL_WORST]
        met = "yes" if med <= GOAL_MEDIAN and worst[0] <= GOAL_WORST else "no"
        print(f"| {src} -> {dst} | {len(errs)} | {med:.1%} | {worst[1]:+.1%} ({worst[2]}) | {met} | {'; '.join(misses) or '-'} |")


if __name__ == "__main__":
    main(sys.argv[1])
