#!/usr/bin/env python3
"""The summary of a `gpu/run-checks.sh` run, from what its folder holds so far: prints summary.txt and
writes summary.json (atomically). Called after every stage, so it reads partial runs: a stage that has
not run yet is "not reached". The last line is "overall: PASS" only when every planned stage ran and
passed (a skip is a failure), the two embedding checks included.
Usage: run-summary.py OUT_DIR"""
import json, os, sys

# The stages of a run made before run-checks.sh wrote plan.txt.
PLANNED = ["versions", "tests", "ceilings", "embedding", "torch", "embedding2", "mlp", "models", "lane", "roofline"]
COPY_FRACTION, TORCH_RATIO = 0.70, 1.5


def load(out, name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def embedding_runs(doc):
    """The embedding figures of a `hercules kernels --device cuda` document (or of gpu_bench's, which
    made the runs before 2026-12-06), as dicts with dtype, gb_per_s_rows, mrows_per_s, watts, seconds."""
    if not doc:
        return []
    if "records" in doc:
        return [{"dtype": r["shape"]["dtype"], "gb_per_s_rows": r["gbs"], "mrows_per_s": r["rows_per_s"] / 1e6,
                 "watts": (r.get("board_power") or {}).get("watts"), "power": (r.get("board_power") or {}).get("detail")}
                for r in doc["records"] if r.get("op") == "embedding"]
    return [dict(e, watts=(e.get("power") or {}).get("avg_watts"),
                 power=f"{(e.get('power') or {}).get('seconds', float('nan')):.1f} s" if e.get("power") else None)
            for e in doc.get("embedding") or []]


def main(out):
    stages = {}
    try:
        for line in open(os.path.join(out, "stages.tsv")):
            f = line.rstrip("\n").split("\t")
            if len(f) == 4:
                stages[f[0]] = {"status": f[1], "rc": f[2], "seconds": f[3]}
    except OSError:
        pass
    lines, problems, checks = [], [], {}
    try:
        planned = [l.strip() for l in open(os.path.join(out, "plan.txt")) if l.strip()]
    except OSError:
        planned = (["timeout-probe"] if "timeout-probe" in stages else []) + PLANNED
    for name in planned:
        s = stages.get(name, {"status": "not reached", "rc": "-", "seconds": "0"})
        lines.append(f"stage {name:<13} {s['status']:<11} rc {s['rc']:<4} {s['seconds']} s")
        want = "timeout" if name == "timeout-probe" else "ok"
        if s["status"] != want:
            problems.append(f"{name} {s['status']}")

    libs = None
    try:
        text = open(os.path.join(out, "versions.log")).read()
        libs = json.loads(text[text.index("{"):text.rindex("}") + 1])
    except (OSError, ValueError):
        pass
    if libs:
        v = libs.get("libraries", {})
        lines.append(f"libraries: driver CUDA {v.get('driver_cuda')}, NVRTC {v.get('nvrtc')}, cuBLAS {v.get('cublas')}")
        d = libs.get("device") or {}
        if d:
            lines.append(f"device: {d.get('name')}, {d.get('total_memory_bytes', 0) / 2**30:.1f} GiB, "
                         f"sm_{''.join(map(str, d.get('compute_capability', [])))}, {d.get('sm_count')} SMs")

    c = (load(out, "ceilings.json") or {}).get("ceilings")
    emb = embedding_runs(load(out, "embedding.json"))
    emb2 = embedding_runs(load(out, "embedding2.json"))
    torch = load(out, "torch.json")
    if c:
        lines.append(f"device copy bandwidth (read+write): {c['copy']['median']:.1f} GB/s; "
                     f"random-row gather ceiling {c['gather']['median']:.1f} GB/s")
        for g in c.get("gemm", []):
            lines.append(f"GEMM {g['name']}: {g['median']:.1f} {g['unit']}")
    fp32 = [e for e in emb + emb2 if e.get("dtype") == "fp32"]
    for e in emb:
        lines.append(f"embedding {e['dtype']}: {e['gb_per_s_rows']:.1f} GB/s of rows, {e['mrows_per_s']:.0f} Mrows/s"
                     + (f", {e['watts']:.0f} W ({e['power']})" if e.get("watts") is not None else ""))
    if fp32:
        ours = sorted(e["gb_per_s_rows"] for e in fp32)
        lines.append(f"embedding fp32, our runs before and after torch: {', '.join(f'{x:.1f}' for x in ours)} GB/s")
        if c:
            g = c["gather"]["median"]
            lines.append(f"our fastest fp32 run is {max(ours) / g:.2f}x the gather ceiling kernel"
                         + (" (above 1: that kernel is no ceiling)" if max(ours) > g else ""))
            frac = min(ours) / c["copy"]["median"]
            checks["embedding_vs_copy"] = frac >= COPY_FRACTION
            lines.append(f"check: slowest of our fp32 runs = {frac * 100:.1f}% of copy bandwidth "
                         f"-> {'PASS' if checks['embedding_vs_copy'] else 'FAIL'} (>= {COPY_FRACTION:.0%})")
        if torch:
            r = min(ours) / torch["best_gb_per_s_rows"]
            checks["embedding_vs_torch"] = r >= TORCH_RATIO
            lines.append(f"check: torch {torch['torch']} EmbeddingBag best {torch['best_gb_per_s_rows']:.1f} GB/s "
                         f"(per_table {torch['per_table']['gb_per_s_rows']:.1f}, one_table "
                         f"{torch['one_table']['gb_per_s_rows']:.1f}); ours/torch = {r:.2f}x "
                         f"-> {'PASS' if checks['embedding_vs_torch'] else 'FAIL'} (>= {TORCH_RATIO}x)")
    needs = {"embedding_vs_copy": ("embedding", "ceilings"), "embedding_vs_torch": ("embedding", "torch")}
    for name, stages_needed in needs.items():
        if name not in checks and all(x in planned for x in stages_needed):
            checks[name] = None
            lines.append(f"check: {name} not measured")
    for m in (load(out, "models.json") or {}).get("models") or []:
        if "error" in m:
            lines.append(f"model {m['model']}: {m['error']}")
            problems.append(f"model {m['model']} failed")
            continue
        # Where the GPU stays faster at every larger batch (runs before the bench said so itself
        # took the first faster batch, which one noisy CPU point can move).
        pts = m["points"]
        gpu_t = [min(p["gpu_seconds_median"], p.get("graph_seconds_median") or float("inf")) for p in pts]
        stays = 0
        for p, g in zip(reversed(pts), reversed(gpu_t)):
            if g >= p["cpu_seconds_median"]:
                break
            stays += 1
        m["crossover_batch"] = pts[len(pts) - stays]["batch"] if stays else None
        best = max(m["points"], key=lambda p: max(p["gpu_samples_per_s"], p.get("graph_samples_per_s") or 0))
        sp = ", ".join(f"b{p['batch']} {p['graph_speedup']:.2f}x" for p in m["points"]
                       if p.get("graph_speedup") is not None and p["batch"] <= 16)
        cross = (f"at every batch from {m['crossover_batch']}" if m["crossover_batch"] is not None
                 else "never for good (the CPU keeps up at the largest batch)")
        lines.append(f"model {m['model']}: GPU faster than {m['cpu_threads']} CPU threads {cross}; best GPU {max(best['gpu_samples_per_s'], best.get('graph_samples_per_s') or 0):.0f} "
                     f"samples/s at batch {best['batch']}; CUDA graphs {sp or 'n/a'}"
                     + (f"; graphs failed: {m['graph_failure']}" if m.get("graph_failure") else ""))
    for f in sorted(os.listdir(out)):
        if f.startswith("infer-") and f.endswith(".json"):
            r = load(out, f)
            if r:
                lines.append(f"infer {r['model']} on {r['device']} batch {r['batch']}: p50 {r['latency']['p50_ms']:.3f} ms, "
                             f"p99 {r['latency']['p99_ms']:.3f} ms, {r['samples_per_s']:.0f} samples/s")
    prof = load(out, "profile.json")
    if prof:
        lines.append("lane: " + json.dumps(prof)[:300])
    problems += [f"check {k} failed" for k, v in checks.items() if v is False]
    problems += [f"check {k} not measured" for k, v in checks.items() if v is None]
    ok = not problems
    lines.append("overall: PASS" if ok else "overall: FAIL (" + "; ".join(problems) + ")")
    doc = {"schema": "hercules-gpu-run-summary/1", "stages": stages, "checks": checks, "libraries": libs,
           "problems": problems, "pass": ok, "lines": lines}
    tmp = os.path.join(out, "summary.json.tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
    os.replace(tmp, os.path.join(out, "summary.json"))
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1])
