"""The element-wise kernels beside PyTorch, as DIEN's reference computes them (models/reference/reference.py):
`torch.tanh(a + b)` for an RNN step and `o + torch.softmax(x, dim=1)` between layers, on 1 pinned thread.

Runs `elementwise_probe` (ours per ISA, the scalar path and a same-size triad) and times PyTorch on the same
shapes, alternating R rounds; prints ours (best ISA), theirs and the median per-round ratio with its range.
Not part of CI (it needs PyTorch): `~/.cache/hercules/peers-venv/bin/python kernels/peers/elementwise.py
--probe target/release/examples/elementwise_probe [--rounds 3] [--out results/kernels/elementwise-peer]`
"""
import argparse, os, platform, statistics, subprocess, sys

import torch

from peers import time_calls  # same folder: the script's own directory is on sys.path

WIDTH = 64


def median_call(fn):
    return time_calls(fn, 21, 0.02)[0]


def probe(path):
    """{(elements, op): (isa, ns/element)} for the best ISA the probe printed (its last row per key)."""
    rows = {}
    text = subprocess.run([path], check=True, capture_output=True, text=True).stdout
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 8 and cells[0].isdigit():
            rows[(int(cells[0]), cells[1])] = (cells[2], float(cells[3]))
    return rows, text


def theirs(elements):
    g = torch.Generator().manual_seed(1)
    a = torch.rand(elements // WIDTH, WIDTH, generator=g) * 4 - 2
    b = torch.rand(elements // WIDTH, WIDTH, generator=g) * 2 - 1
    o = torch.zeros_like(a)
    with torch.inference_mode():
        tanh = median_call(lambda: torch.tanh(a + b))
        soft = median_call(lambda: o + torch.softmax(a, dim=1))
    return {"tanh(a + b)": tanh / elements * 1e9, "o += softmax(x)": soft / elements * 1e9}


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args()
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])
    torch.set_num_threads(1)
    ratios, ours_ns, their_ns, probe_text = {}, {}, {}, ""
    for r in range(args.rounds):
        ours, probe_text = probe(args.probe)
        for elements in sorted({k[0] for k in ours}):
            t = theirs(elements)
            for op, ns in t.items():
                isa, mine = ours[(elements, op)]
                key = (elements, op, isa)
                ratios.setdefault(key, []).append(ns / mine)
                ours_ns.setdefault(key, []).append(mine)
                their_ns.setdefault(key, []).append(ns)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    lines = [
        f"# Element-wise kernels vs PyTorch {torch.__version__}, 1 thread, {cpu_name()} ({os.cpu_count()} cpus)",
        f"`kernels/peers/elementwise.py --rounds {args.rounds}`: medians over rounds; ratio = PyTorch time / ours "
        "(median of per-round ratios, range in brackets).",
        "",
        "| elements | op | ours (isa) ns/element | PyTorch ns/element | ratio |",
        "|---|---|---|---|---|",
    ]
    for key in sorted(ratios):
        elements, op, isa = key
        rs = ratios[key]
        lines.append(
            f"| {elements} | {op} | {statistics.median(ours_ns[key]):.3f} ({isa}) | "
            f"{statistics.median(their_ns[key]):.3f} | {statistics.median(rs):.1f} [{min(rs):.1f}–{max(rs):.1f}] |"
        )
    lines += ["", "Last round's probe output (ours per ISA, the scalar path, a same-size triad):", "", probe_text]
    text = "\n".join(lines)
    print(text)
    if args.out:
        tmp = args.out + ".md.tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, args.out + ".md")


if __name__ == "__main__":
    main()
