"""Side-by-side speed of `hercules infer` and the PyTorch reference (eager, same weights, same threads).

Both use the portable seeded init (identical weights bit for bit), uniform bags unique within a bag, dense
U[0,1), inputs pre-generated and cycled. PyTorch is pinned with os.sched_setaffinity to the same first T
cores hercules pins to, and torch.set_num_threads(T).

With --rounds R each shape is measured R times, hercules and PyTorch back to back with who goes first
alternating, and the ratio reported is the median of the per-round ratios with [min, max]: on a noisy
machine (a KVM guest whose hypervisor steals time) one block of each would measure the drift as much as
the code. The PyTorch model stays built throughout, so both are in memory at once.

Usage:
  python models/reference/peer_infer.py --model dlrm-rmc1 --batch 1 64 1024 --threads 1 2 \
      [--rows-scale 1.0] [--seconds 3] [--rounds 1] [--hercules target/release/hercules] [--json out.json]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402


def bags(rng, rows, k, batch):
    """batch bags of k distinct rows each (vectorised rejection; a permutation per bag when dense)."""
    if rows < 4 * k:
        return np.stack([rng.choice(rows, k, replace=False) for _ in range(batch)]).reshape(-1)
    b = rng.integers(0, rows, (batch, k))
    while True:
        s = np.sort(b, axis=1)
        bad = np.nonzero((s[:, 1:] == s[:, :-1]).any(axis=1))[0] if k > 1 else []
        if len(bad) == 0:
            return b.reshape(-1)
        b[bad] = rng.integers(0, rows, (len(bad), k))


def input_sets(spec, batch, n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        dense = torch.from_numpy(rng.random((batch, spec.get("dense_features", 0)), dtype=np.float32))
        idx, off = [], []
        for gi in R.groups_of(spec):
            g = spec["tables"][gi]
            idx.append(torch.from_numpy(bags(rng, g["rows"], g["lookups"], batch).astype(np.int64)))
            off.append(torch.arange(batch + 1, dtype=torch.int64) * g["lookups"])
        out.append((dense, idx, off))
    return out


def time_torch(model, sets, seconds, min_iters=50, warmup=10):
    with torch.inference_mode():
        for i in range(warmup):
            model.forward(*sets[i % len(sets)])
        lat = []
        start = time.perf_counter()
        while len(lat) < min_iters or time.perf_counter() - start < seconds:
            s = sets[len(lat) % len(sets)]
            t = time.perf_counter()
            model.forward(*s)
            lat.append(time.perf_counter() - t)
    lat = np.array(lat)
    return {"p50_ms": float(np.percentile(lat, 50) * 1e3), "samples_per_s": float(sets[0][0].shape[0] * len(lat) / lat.sum())}


def run_hercules(binary, model, batch, threads, rows_scale, seconds, seed):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "r.json")
        cmd = [binary, "infer", "--model", model, "--batch", str(batch), "--threads", str(threads),
               "--rows-scale", str(rows_scale), "--init", "portable", "--seed", str(seed),
               "--seconds", str(seconds), "--json", out]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            r = json.load(f)
    return {"p50_ms": r["latency"]["p50_ms"], "samples_per_s": r["samples_per_s"], "shares": r["shares"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64, 1024])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rows-scale", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds; the ratio is their median")
    ap.add_argument("--sets", type=int, default=8)
    ap.add_argument("--hercules", default="target/release/hercules")
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.rounds < 1:
        sys.exit("error: --rounds: at least 1")

    try:
        spec = R.load_spec(a.model)
    except FileNotFoundError:
        sys.exit(f"error: --model {a.model}: neither a zoo model nor a spec file")
    cap = spec.get("default_max_rows")
    spec = R.scaled(spec, a.rows_scale, cap)
    allowed = sorted(os.sched_getaffinity(0))
    t0 = time.time()
    model = R.Reference(spec, R.portable_weights(spec, a.seed))
    print(f"{a.model}: PyTorch {torch.__version__} reference built in {time.time() - t0:.1f} s", flush=True)
    sets = {b: input_sets(spec, b, a.sets, 1000 + b) for b in a.batch}
    shapes = [(b, t) for b in a.batch for t in a.threads]
    per_round = {k: [] for k in shapes}

    def torch_at(b, t):
        os.sched_setaffinity(0, allowed[:t])
        torch.set_num_threads(t)
        try:
            return time_torch(model, sets[b], a.seconds)
        finally:
            os.sched_setaffinity(0, allowed)

    for r in range(a.rounds):
        for i, (b, t) in enumerate(shapes):
            if (r + i) % 2 == 0:
                p = torch_at(b, t)
                h = run_hercules(a.hercules, a.model, b, t, a.rows_scale, a.seconds, a.seed)
            else:
                h = run_hercules(a.hercules, a.model, b, t, a.rows_scale, a.seconds, a.seed)
                p = torch_at(b, t)
            per_round[(b, t)].append((p, h))
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr, flush=True)
    del model
    rows = []
    print(f"{'model':<12} {'batch':>5} {'thr':>3} {'torch samples/s':>16} {'hercules samples/s':>19} {'ratio':>6} {'[min, max]':>13}  hercules shares")
    for (b, t) in shapes:
        rounds = per_round[(b, t)]
        ratios = sorted(h["samples_per_s"] / p["samples_per_s"] for p, h in rounds)
        ratio = float(np.median(ratios))
        p_med = float(np.median([p["samples_per_s"] for p, _ in rounds]))
        h_med = float(np.median([h["samples_per_s"] for _, h in rounds]))
        h = rounds[-1][1]
        shares = " ".join(f"{k} {100 * v:.0f}%" for k, v in h["shares"].items())
        spread = f"[{ratios[0]:.2f}, {ratios[-1]:.2f}]"
        print(f"{a.model:<12} {b:>5} {t:>3} {p_med:>16.0f} {h_med:>19.0f} {ratio:>6.2f} {spread:>13}  {shares}", flush=True)
        rows.append({"model": a.model, "batch": b, "threads": t, "rows_scale": a.rows_scale,
                     "torch": [p for p, _ in rounds], "hercules": [h for _, h in rounds],
                     "ratios": ratios, "ratio": ratio})
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"torch_version": torch.__version__, "rounds": a.rounds, "runs": rows}, f, indent=2)


if __name__ == "__main__":
    main()
