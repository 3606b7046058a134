#!/usr/bin/env python3
"""torch.nn.EmbeddingBag on CUDA on the shapes `hercules kernels --device cuda` measures: T tables of R rows x D (fp32), B bags
of L uniform random indices each, sum pooling. Reports GB/s of row data (T*B*L*D*4 bytes / time), median
of CUDA-event timings, for two ways PyTorch users run it:
  per_table  - one EmbeddingBag per table, called in a loop (what a PyTorch DLRM does);
  one_table  - all tables stacked into one EmbeddingBag, all T*B bags in one call (PyTorch's best case).
Exits 3 (after a "skipped: ..." line) where PyTorch or its CUDA device is missing.
Usage: torch_embedding_bag.py [--table-gib 4] [--tables 8] [--dim 128] [--lookups 80] [--batch 2048]
                              [--repeats 10] [--json PATH]
"""
import argparse, json, os, statistics, sys

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--table-gib", type=float, default=4.0)
    p.add_argument("--tables", type=int, default=8)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--lookups", type=int, default=80)
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--json")
    a = p.parse_args()
    try:
        import torch
    except ImportError:
        print("skipped: PyTorch is not installed"); return 3
    if not torch.cuda.is_available():
        print("skipped: torch.cuda.is_available() is False"); return 3
    dev = torch.device("cuda")
    T, D, L, B = a.tables, a.dim, a.lookups, a.batch
    rows = max(int(a.table_gib * 2**30) // T // (D * 4), L)
    gen = torch.Generator(device=dev); gen.manual_seed(1)
    bound = rows ** -0.5
    def idx(n_rows, seed):
        g = torch.Generator(device=dev); g.manual_seed(seed)
        return torch.randint(0, n_rows, (B * L,), device=dev, generator=g, dtype=torch.int64)
    offsets = torch.arange(0, B * L, L, device=dev, dtype=torch.int64)
    row_bytes = T * B * L * D * 4

    def timeit(fn):
        for _ in range(3): fn()
        torch.cuda.synchronize()
        ts = []
        for _ in range(a.repeats):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record(); fn(); e.record(); e.synchronize()
            ts.append(s.elapsed_time(e) / 1e3)
        return statistics.median(ts), ts

    results = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "tables": T,
               "rows_per_table": rows, "dim": D, "lookups": L, "batch": B, "row_bytes_read": row_bytes}
    with torch.no_grad():
        bags = [torch.nn.EmbeddingBag(rows, D, mode="sum").to(dev) for _ in range(T)]
        for eb in bags: eb.weight.uniform_(-bound, bound, generator=gen)
        inputs = [idx(rows, 100 + t) for t in range(T)]
        t, ts = timeit(lambda: [eb(i, offsets) for eb, i in zip(bags, inputs)])
        results["per_table"] = {"seconds_median": t, "seconds": ts, "gb_per_s_rows": row_bytes / t / 1e9}
        del bags
        torch.cuda.empty_cache()
        big = torch.nn.EmbeddingBag(rows * T, D, mode="sum").to(dev)
        big.weight.uniform_(-bound, bound, generator=gen)
        cat = torch.cat([i + t * rows for t, i in enumerate(inputs)])
        offs = torch.arange(0, T * B * L, L, device=dev, dtype=torch.int64)
        t, ts = timeit(lambda: big(cat, offs))
        results["one_table"] = {"seconds_median": t, "seconds": ts, "gb_per_s_rows": row_bytes / t / 1e9}
    best = max(results["per_table"]["gb_per_s_rows"], results["one_table"]["gb_per_s_rows"])
    results["best_gb_per_s_rows"] = best
    print(f"torch {torch.__version__} EmbeddingBag fp32 T={T} rows={rows} D={D} L={L} B={B}")
    print(f"  per_table: {results['per_table']['seconds_median']*1e3:.3f} ms  {results['per_table']['gb_per_s_rows']:.1f} GB/s")
    print(f"  one_table: {results['one_table']['seconds_median']*1e3:.3f} ms  {results['one_table']['gb_per_s_rows']:.1f} GB/s")
    if a.json:  # atomically: a run cut short leaves no half file
        with open(a.json + ".tmp", "w") as f: json.dump(results, f, indent=2)
        os.replace(a.json + ".tmp", a.json)
    return 0

if __name__ == "__main__":
    sys.exit(main())
