"""Regenerates models/fixtures/<model>.safetensors: weights, inputs and expected outputs of every zoo
model at a tiny scale, computed by the PyTorch reference in float64.

Usage: python models/reference/make_fixtures.py [MODEL ...]   (needs torch, numpy, safetensors)

Each file holds
  meta.max_rows, meta.batch, meta.seed      int64 [1]   the scale (rows capped at max_rows, at least the
                                                        lookups), batch size, and portable-init seed
  <param>                                   float32     every parameter of at most STORE_LIMIT elements
  sum.<param>                               float64 [2] sum and sum of squares of a parameter too large to
                                                        commit; the Rust test regenerates it with the
                                                        portable init (same bits) and checks these sums
  input.dense                               float32 [B, dense]
  input.idx.<t>, input.off.<t>              int64       table t's indices and its B+1 offsets
  expected                                  float64 [B, out]
"""

import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402

MAX_ROWS = 40
BATCH = 5
SEED = 7
STORE_LIMIT = 1 << 16
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
ZOO = ["dlrm-rmc1", "dlrm-rmc2", "dlrm-rmc3", "wnd", "mt-wnd", "ncf", "din", "dien", "mlperf-dlrm-v1", "mlperf-dlrm-v2"]


def make(name):
    spec = R.scaled(R.load_spec(name), 1.0, MAX_ROWS)
    weights = R.portable_weights(spec, SEED)
    rng = np.random.default_rng(12345)
    dense, idx, off = R.uniform_inputs(spec, BATCH, rng)
    model = R.Reference(spec, weights, dtype=torch.float64)
    with torch.no_grad():
        y = model.forward(
            torch.from_numpy(dense).double(), [torch.from_numpy(i) for i in idx], [torch.from_numpy(o) for o in off]
        )
    out = {
        "meta.max_rows": np.array([MAX_ROWS], dtype=np.int64),
        "meta.batch": np.array([BATCH], dtype=np.int64),
        "meta.seed": np.array([SEED], dtype=np.int64),
        "input.dense": dense,
        "expected": y.numpy().astype(np.float64),
    }
    for n, w in weights.items():
        if w.size <= STORE_LIMIT:
            out[n] = w
        else:
            w64 = w.astype(np.float64)
            out["sum." + n] = np.array([w64.sum(), (w64 * w64).sum()])
    for t, (i, o) in enumerate(zip(idx, off)):
        out[f"input.idx.{t}"] = i
        out[f"input.off.{t}"] = o
    path = os.path.join(OUT_DIR, name + ".safetensors")
    save_file({k: np.ascontiguousarray(v) for k, v in out.items()}, path)
    print(f"{name}: {os.path.getsize(path) / 1e6:.2f} MB, output {tuple(y.shape)}, first {y[0, :3].tolist()}")


if __name__ == "__main__":
    os.makedirs(OUT_DIR, exist_ok=True)
    for n in sys.argv[1:] or ZOO:
        make(n)
