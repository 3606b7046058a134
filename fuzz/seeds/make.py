#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ from the repository's own examples and a few
hand-written inputs. Rerun after a format changes: python3 fuzz/seeds/make.py (from the repo root)."""
import glob, json, os, shutil, struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def copy(target, pattern, limit=None):
    for i, p in enumerate(sorted(glob.glob(os.path.join(ROOT, pattern)))):
        if limit is not None and i >= limit:
            break
        rel = os.path.relpath(p, ROOT).replace("/", "_")
        with open(p, "rb") as f:
            put(target, rel, f.read())


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def to_toml(doc):
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in doc.items() if v is not None)


TINY = {
    "name": "tiny",
    "dense_features": 2,
    "tables": [{"name": "t", "count": 2, "rows": 8, "dim": 4, "lookups": 2}],
    "bottom_mlp": {"widths": [2, 4]},
    "interaction": {"kind": "dot"},
    "top_mlp": {"widths": [7, 1]},
}

# The tiny spec's parameters (fuzz/src/lib.rs, spec::TINY), as weights::params lists them.
TINY_PARAMS = [("emb.0.weight", [8, 4]), ("emb.1.weight", [8, 4]), ("bot.0.weight", [4, 2]),
               ("bot.0.bias", [4]), ("top.0.weight", [1, 7]), ("top.0.bias", [1])]


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    # Model specs: the zoo, the tiny spec, and the zoo as TOML.
    copy("model_spec_json", "models/src/zoo/*.json")
    put("model_spec_json", "tiny.json", json.dumps(TINY, indent=1))
    put("model_spec_toml", "tiny.toml", to_toml(TINY))
    for p in sorted(glob.glob(os.path.join(ROOT, "models/src/zoo/*.json"))):
        with open(p) as f:
            put("model_spec_toml", os.path.basename(p)[:-5] + ".toml", to_toml(json.load(f)))
    # Query traces: `TABLE IDX IDX ...` per line, `#` comments.
    put("query_trace", "basic.txt", "# table indices\n0 1 2\n1 3 4\n0 7\n1 0 0 5\n")
    put("query_trace", "wrap.txt", "0 100 200\n1 18446744073709551615\n")
    put("query_trace", "blank.txt", "\n  \n0 1 # trailing comment\n\n1 2\n")
    # Checkpoints: the tiny spec's weights in f32, f64 and with metadata; an i64 tensor; an empty one.
    f32 = [(n, "F32", s, struct.pack(f"<{numel(s)}f", *[0.01 * i for i in range(numel(s))])) for n, s in TINY_PARAMS]
    put("checkpoint", "tiny-f32.safetensors", safetensors(f32))
    f64 = [(n, "F64", s, struct.pack(f"<{numel(s)}d", *[0.5] * numel(s))) for n, s in TINY_PARAMS]
    put("checkpoint", "tiny-f64.safetensors", safetensors(f64, {"format": "pt"}))
    put("checkpoint", "ints.safetensors", safetensors([("i", "I64", [2], struct.pack("<2q", 1, -1)),
                                                       ("j", "I32", [3], struct.pack("<3i", 1, 2, 3)),
                                                       ("h", "F16", [2], b"\x00\x3c\x00\x40")]))
    put("checkpoint", "empty.safetensors", safetensors([]))
    # Schedules and core lists.
    for i, s in enumerate(["instances=2,threads=1,inter-op=off,sub-batch=64,cores=0-1",
                           "instances=1,threads=4,inter-op=on,cores=0-3",
                           "instances=4,threads_per_instance=2,sub-batch=none,gpu-threshold=256,gpu-streams=2",
                           "threads=1", ""]):
        put("schedule", f"s{i}", s)
    for i, s in enumerate(["0-3+8+10-11", "0", "4096", "0-4096", "1+1+1"]):
        put("core_list", f"c{i}", s)
    # Efficiency tables and roofline reports from results/.
    copy("efficiency_table", "results/profile/*/*[!s].json")
    for p in sorted(glob.glob(os.path.join(OUT, "efficiency_table", "*checkpoint.json"))):
        os.remove(p)
    copy("roofline_report", "results/kernels/roofline-*.json")
    # Cluster inventories and loads.
    copy("cluster_toml", "results/provisioning/cluster*.toml")
    put("cluster_toml", "small.toml",
        '[[server]]\nname = "a"\ncount = 3\nidle_watts = 50.0\npeak_watts = 100.0\nprice = 2.5\n\n'
        '[[server]]\nname = "big"\nserver_type = "b"\ncount = 1\nidle_watts = 80\npeak_watts = 300\n')
    copy("load_toml", "results/provisioning/load.toml")
    put("load_toml", "small.toml", 'slot_minutes = 15\nslots = 8\nseed = 3\n[[model]]\nname = "m"\npeak_qps = 100.0\n')
    put("load_csv", "basic.csv", b"\x00slot,model,qps\n0,m,10\n1,m,20.5\n1,n,3\n")
    put("load_csv", "spaces.csv", b"\x02 slot , model , qps \n\n 3 , m , 1e3 \n")
    # Kernel names.
    for s in ["sum", "mean", "f32", "f16", "bf16", "int8", "scalar", "avx2", "avx512", "relu", "none",
              "sigmoid", "prefetch", "nta"]:
        put("kernel_names", s, s)
    # Strings of the hercules binary.
    for i, s in enumerate(["p95:100ms", "p99.9:5ms", "p99:0.06s", "P50: 1s", "p90:250us"]):
        put("sla", f"s{i}", s)
    for i, s in enumerate(["10s", "500ms", "2m", "1h 30m", "7days"]):
        put("duration", f"d{i}", s)
    for i, s in enumerate(["lognormal", "lognormal:5.1:0.2", "normal:165:16", "mlperf", "fixed:64", "64"]):
        put("size_dist", f"d{i}", s)
    for i, s in enumerate(["1 2 3\n", "100,200,300", "1.5e2\n7\t1024 2000\n", "0.4, -3"]):
        put("size_file", f"f{i}", s)


if __name__ == "__main__":
    main()
