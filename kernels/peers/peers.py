"""Side-by-side kernel comparison: hercules against PyTorch on the shapes hercules measured.

With --rounds R the two alternate R times, swapping who goes first each round, and the ratio is the median of
the per-round ratios with their range: on a VM whose memory speed drifts over minutes, one block of ours then one
block of theirs measures the drift as much as the kernels.

1. runs `hercules kernels --json` (the default sweep, or what the extra flags select);
2. for every fp32 embedding record, every MLP record and every dot-interaction record (PyTorch: bmm, then the
   lower triangle, as the models' reference does), times PyTorch on the same shape, dtype and thread count (process pinned to the same first N cores; PyTorch's allocator asked for huge pages too);
3. prints ours, theirs and the ratio; writes <out>.json and <out>.md.
"""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # PyTorch's CPU allocator: madvise huge pages, like ours
import torch  # noqa: E402


def time_calls(fn, repeats, min_repeat=0.05):
    fn()
    t = time.perf_counter(); fn(); one = max(time.perf_counter() - t, 1e-7)
    calls = max(1, int(min_repeat / one + 0.999))
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        out.append((time.perf_counter() - t) / calls)
    return statistics.median(out), min(out), max(out)


def set_threads(n):
    cores = sorted(os.sched_getaffinity(0)) if not hasattr(set_threads, "all") else set_threads.all
    set_threads.all = cores
    os.sched_setaffinity(0, cores[:n])
    torch.set_num_threads(n)


def torch_embedding(rec, repeats, llc):
    s = rec["shape"]
    rows, dim, lookups, batch = s["rows"], s["dim"], s["lookups"], s["batch"]
    key = (rows, dim)
    if getattr(torch_embedding, "key", None) != key:
        torch_embedding.table = None
        w = torch.empty(rows, dim).uniform_(-(1 / rows) ** 0.5, (1 / rows) ** 0.5)
        torch_embedding.table = torch.nn.EmbeddingBag.from_pretrained(w, mode=s["pooling"], freeze=True)
        torch_embedding.key = key
    bag = torch_embedding.table
    per_batch = batch * lookups * dim * 4
    # As `hercules kernels` does: distinct batches covering 4x the LLC, at least two.
    n = max(2, min(64, -(-4 * llc // max(per_batch, 1))))
    g = torch.Generator().manual_seed(1000)
    batches = [torch.randint(0, rows, (batch * lookups,), generator=g) for _ in range(n)]
    offsets = torch.arange(0, batch * lookups, lookups)
    state = {"i": 0}

    def call():
        k = state["i"] % n
        state["i"] += 1
        bag(batches[k], offsets)

    with torch.inference_mode():
        med, lo, hi = time_calls(call, repeats)
    rps = batch * lookups / med
    return {"seconds_median": med, "seconds_min": lo, "seconds_max": hi, "rows_per_s": rps, "gbs": rps * dim * 4 / 1e9}


def torch_linear(rec, repeats):
    s = rec["shape"]
    m, k, n = s["m"], s["k"], s["n"]
    lin = torch.nn.Linear(k, n)
    act = {"relu": torch.nn.ReLU(), "sigmoid": torch.nn.Sigmoid(), "none": torch.nn.Identity()}[s["activation"]]
    x = torch.rand(m, k)
    with torch.inference_mode():
        med, lo, hi = time_calls(lambda: act(lin(x)), repeats)
    return {"seconds_median": med, "seconds_min": lo, "seconds_max": hi, "gflops": 2 * m * k * n / med / 1e9}


def torch_interaction(rec, repeats):
    """The reference's dot interaction (models/reference/reference.py): bmm of the stacked features, then the
    strict lower triangle gathered."""
    s = rec["shape"]
    n, d, b = s["features"], s["dim"], s["batch"]
    t = torch.rand(b, n, d)
    li, lj = torch.tril_indices(n, n, offset=-1)
    with torch.inference_mode():
        med, lo, hi = time_calls(lambda: torch.bmm(t, t.transpose(1, 2))[:, li, lj], repeats)
    pairs = n * (n - 1) // 2
    return {"seconds_median": med, "seconds_min": lo, "seconds_max": hi, "gflops": 2 * pairs * d * b / med / 1e9}


TORCH = {"embedding": torch_embedding, "mlp": torch_linear, "interaction": torch_interaction}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hercules", required=True)
    ap.add_argument("--out", default="results/peers")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate hercules and PyTorch this many times, swapping who goes first each round, and "
                         "report the median of the per-round ratios (for machines whose memory speed drifts)")
    ap.add_argument("--from-json", help="reuse a hercules kernels JSON instead of running it (one round)")
    args, extra = ap.parse_known_args()
    if args.rounds < 1 or (args.from_json and args.rounds != 1):
        sys.exit("error: --rounds: at least 1, and exactly 1 with --from-json")

    def hercules():
        if args.from_json:
            return json.load(open(args.from_json))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "kernels.json")
            subprocess.run([args.hercules, "kernels", "--json", path, *extra], check=True)
            return json.load(open(path))

    def mine(ours):
        return [r for r in ours["records"] if r["implementation"] == "hercules"
                and (r["op"] != "embedding" or r["shape"].get("dtype") == "fp32")]

    def key(r):  # the shape without what hercules chose or measured per run (prefetch, row-touch ceiling)
        shape = {k: v for k, v in r["shape"].items() if not k.startswith(("prefetch", "row_touch"))}
        return r["op"], json.dumps(shape, sort_keys=True), r["threads"]

    def theirs(recs, llc, rnd):
        out = {}
        for i, r in enumerate(recs):
            set_threads(r["threads"])
            print(f"[round {rnd}, {i + 1}/{len(recs)}] torch {r['op']} {r['shape']} threads={r['threads']}",
                  file=sys.stderr)
            out[key(r)] = torch_embedding(r, args.repeats, llc) if r["op"] == "embedding" else TORCH[r["op"]](r, args.repeats)
        # A fresh table next round, as hercules gets: neither side reuses memory the other has not.
        torch_embedding.key = torch_embedding.table = None
        return out

    rounds, ours = [], None
    for rnd in range(1, args.rounds + 1):
        if rnd % 2 == 1:
            ours = hercules()
            llc = max((c["size_bytes"] * c["instances"] for c in ours["host"]["caches"]), default=0)
            t = theirs(mine(ours), llc, rnd)
        else:  # PyTorch first, on the shapes of the previous round
            t = theirs(mine(ours), llc, rnd)
            ours = hercules()
        rounds.append(({key(r): r for r in mine(ours)}, t))

    rows = []
    for r in mine(ours):
        k = key(r)
        metric = "rows_per_s" if r["op"] == "embedding" else "gflops"
        per = [(h[k][metric], t[k][metric], h[k]["shape"].get("prefetch_distance")) for h, t in rounds
               if k in h and k in t]
        ratios = [a / b for a, b, _ in per]
        # The same run's row-touch ceiling (embedding on DRAM-sized tables): our fraction of it, and it
        # over PyTorch, per round.
        fracs = [h[k]["fraction_of_ceiling"] for h, t in rounds if k in h and k in t
                 and h[k].get("fraction_of_ceiling") is not None]
        ceil_vs_torch = [h[k]["shape"]["row_touch_mrows_s"] * 1e6 / t[k][metric] for h, t in rounds
                         if k in h and k in t and "row_touch_mrows_s" in h[k]["shape"]]
        t_last = rounds[-1][1][k]
        gemm = next((g for g in ours["records"] if g["op"] == r["op"] and g["implementation"].startswith("gemm-crate")
                     and g["shape"] == r["shape"] and g["threads"] == r["threads"]), None)
        rows.append({"op": r["op"], "shape": r["shape"], "threads": r["threads"], "metric": metric,
                     "hercules": statistics.median(a for a, _, _ in per), "torch": statistics.median(b for _, b, _ in per),
                     "ratio_vs_torch": statistics.median(ratios), "ratio_min": min(ratios),
                     "ratio_max": max(ratios),
                     "fraction_of_ceiling": statistics.median(fracs) if fracs else None,
                     "ceiling_over_torch": statistics.median(ceil_vs_torch) if ceil_vs_torch else None,
                     "per_round": [{"hercules": a, "torch": b, "prefetch_distance": d} for a, b, d in per],
                     "torch_spread": (t_last["seconds_max"] - t_last["seconds_min"]) / t_last["seconds_median"],
                     "hercules_spread": (r["seconds_max"] - r["seconds_min"]) / r["seconds_median"],
                     "gemm_crate": gemm and gemm["gflops"],
                     "ratio_vs_gemm_crate": gemm and r["gflops"] / gemm["gflops"]})
    doc = {"kind": "peers", "torch": torch.__version__, "torch_thp_mem_alloc": os.environ.get("THP_MEM_ALLOC_ENABLE"),
           "python": platform.python_version(), "host": ours["host"], "measured_at": ours["measured_at"],
           "hercules_ceilings": ours["ceilings"], "rounds": args.rounds, "rows": rows}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    tmp = args.out + ".json.tmp"
    json.dump(doc, open(tmp, "w"), indent=1)
    os.replace(tmp, args.out + ".json")
    lines = [f"# hercules vs PyTorch {torch.__version__} on {ours['host']['cpu_model']}",
             f"measured {ours['measured_at']}, git {ours['host']['git_revision']}; medians of {args.repeats} repeats; "
             f"{args.rounds} round(s), who goes first alternating; ratio = median of the per-round ratios [min, max]",
             "", "| op | shape | threads | metric | hercules | torch | ratio | of ceiling | ceiling / torch | gemm crate | ratio vs gemm |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s = r["shape"]
        shape = (f"D={s['dim']} L={s['lookups']} B={s['batch']} {s['table_mib']}MiB" if r["op"] == "embedding"
                 else f"F={s['features']} D={s['dim']} B={s['batch']}" if r["op"] == "interaction"
                 else f"M={s['m']} K={s['k']} N={s['n']} {s['activation']}")
        scale = 1e6 if r["metric"] == "rows_per_s" else 1
        unit = "Mrows/s" if r["metric"] == "rows_per_s" else "GFLOP/s"
        g = f"{r['gemm_crate']:.1f}" if r["gemm_crate"] else "-"
        gr = f"{r['ratio_vs_gemm_crate']:.2f}" if r["ratio_vs_gemm_crate"] else "-"
        fc = f"{r['fraction_of_ceiling']:.2f}" if r["fraction_of_ceiling"] is not None else "-"
        ct = f"{r['ceiling_over_torch']:.2f}" if r["ceiling_over_torch"] is not None else "-"
        lines.append(f"| {r['op']} | {shape} | {r['threads']} | {unit} | {r['hercules'] / scale:.1f} | "
                     f"{r['torch'] / scale:.1f} | {r['ratio_vs_torch']:.2f} [{r['ratio_min']:.2f}, {r['ratio_max']:.2f}] | {fc} | {ct} | {g} | {gr} |")
    text = "\n".join(lines) + "\n"
    open(args.out + ".md", "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
