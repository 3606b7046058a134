"""Independent PyTorch reference of the Hercules model zoo.

Builds any model from the same JSON/TOML spec files the Rust crate reads (models/src/zoo/*.json), with
weights from a safetensors file or from the portable seeded initialisation (a counter-based hash that the
Rust crate reproduces bit for bit, models/src/weights.rs), and runs it eagerly.

Parameter names (shared with Rust): emb.{t}.weight [rows, dim]; bot.{i} / top.{i} / head.{k}.{i}
.weight [out, in] and .bias [out]; cross.{l}.u.weight, cross.{l}.v.weight, cross.{l}.v.bias;
blk.{b}.att.{u}.{i}.* (DIN), blk.{b}.rnn.{l}.{weight_ih,weight_hh,bias_ih,bias_hh}, blk.{b}.fc.{l}.*
(DIEN), blk.{b}.mlp.{i}.* (NCF).
"""

import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

ZOO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "zoo")
MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def load_spec(name_or_path):
    """A zoo model by name or a spec file by path."""
    path = name_or_path if os.path.exists(name_or_path) else os.path.join(ZOO_DIR, name_or_path + ".json")
    if path.endswith(".toml"):
        import tomllib

        with open(path, "rb") as f:
            return tomllib.load(f)
    with open(path) as f:
        return json.load(f)


def scaled(spec, rows_scale=1.0, max_rows=None):
    """Same rule as Rust's ModelSpec::scaled: round(rows * scale), capped, at least the lookups."""
    s = json.loads(json.dumps(spec))
    for g in s["tables"]:
        r = int(round(g["rows"] * rows_scale))
        if max_rows is not None:
            r = min(r, max_rows)
        g["rows"] = max(r, g["lookups"], 1)
    return s


def groups_of(spec):
    out = []
    for gi, g in enumerate(spec["tables"]):
        out += [gi] * g.get("count", 1)
    return out


def group_index(spec, name):
    return [g["name"] for g in spec["tables"]].index(name)


def group_start(spec, gi):
    return sum(g.get("count", 1) for g in spec["tables"][:gi])


def mlp_layers(m):
    w = m["widths"]
    return list(zip(w[:-1], w[1:]))


def features(spec):
    """The feature list: ('dense',), ('table', t), ('block', b) in interaction order."""
    anchor, consumed = {}, set()
    for b, blk in enumerate(spec.get("blocks", [])):
        if blk["kind"] == "attention":
            anchor[group_index(spec, blk["behaviour"])] = b
        elif blk["kind"] == "rnn":
            anchor[group_index(spec, blk["sequence"])] = b
        else:
            anchor[group_index(spec, blk["mf"][0])] = b
            for n in [blk["mf"][1]] + blk["mlp_tables"]:
                consumed.add(group_index(spec, n))
    out = [("dense",)] if spec.get("dense_features", 0) > 0 else []
    for gi, g in enumerate(spec["tables"]):
        if gi in anchor:
            out.append(("block", anchor[gi]))
        elif gi not in consumed:
            s = group_start(spec, gi)
            out += [("table", t) for t in range(s, s + g.get("count", 1))]
    return out


def features_width(spec):
    gs = groups_of(spec)
    w = 0
    for f in features(spec):
        if f[0] == "dense":
            w += spec["bottom_mlp"]["widths"][-1] if spec.get("bottom_mlp") else spec["dense_features"]
        elif f[0] == "table":
            w += spec["tables"][gs[f[1]]]["dim"]
        else:
            blk = spec["blocks"][f[1]]
            if blk["kind"] == "attention":
                w += blk["mlp"]["widths"][-1]
            elif blk["kind"] == "rnn":
                w += blk["hidden"][-1]
            else:
                w += spec["tables"][group_index(spec, blk["mf"][0])]["dim"] + blk["mlp"]["widths"][-1]
    return w


def params(spec):
    """(name, shape, kind, fans) for every parameter; kind in table/weight/bias."""
    out = []

    def linear(prefix, fi, fo, bias=True):
        out.append((prefix + ".weight", (fo, fi), "weight", (fi, fo)))
        if bias:
            out.append((prefix + ".bias", (fo,), "bias", (fi, fo)))

    def mlp(prefix, m):
        for i, (a, b) in enumerate(mlp_layers(m)):
            linear(f"{prefix}.{i}", a, b)

    for t, gi in enumerate(groups_of(spec)):
        g = spec["tables"][gi]
        out.append((f"emb.{t}.weight", (g["rows"], g["dim"]), "table", (g["rows"], 0)))
    if spec.get("bottom_mlp"):
        mlp("bot", spec["bottom_mlp"])
    for b, blk in enumerate(spec.get("blocks", [])):
        if blk["kind"] == "attention":
            units = spec["tables"][group_index(spec, blk["behaviour"])].get("count", 1)
            for u in range(units):
                mlp(f"blk.{b}.att.{u}", blk["mlp"])
        elif blk["kind"] == "rnn":
            inp = spec["tables"][group_index(spec, blk["sequence"])]["dim"]
            for l, h in enumerate(blk["hidden"]):
                p = f"blk.{b}.rnn.{l}"
                out.append((p + ".weight_ih", (h, inp), "weight", (inp, h)))
                out.append((p + ".weight_hh", (h, h), "weight", (h, h)))
                out.append((p + ".bias_ih", (h,), "bias", (inp, h)))
                out.append((p + ".bias_hh", (h,), "bias", (h, h)))
                if l + 1 < len(blk["hidden"]):
                    linear(f"blk.{b}.fc.{l}", h, h)
                inp = h
        else:
            mlp(f"blk.{b}.mlp", blk["mlp"])
    inter = spec["interaction"]
    if inter["kind"] == "cross":
        x0 = features_width(spec)
        for l in range(inter["layers"]):
            linear(f"cross.{l}.u", x0, inter["low_rank"], bias=False)
            linear(f"cross.{l}.v", inter["low_rank"], x0)
    mlp("top", spec["top_mlp"])
    if spec.get("heads"):
        for k in range(spec["heads"]["tasks"]):
            mlp(f"head.{k}", spec["heads"]["mlp"])
    return out


def fnv1a(s):
    h = 0xCBF29CE484222325
    for ch in s.encode():
        h ^= ch
        h = (h * 0x100000001B3) & MASK64
    return h


def portable_tensor(seed, name, shape, kind, fans, chunk=1 << 22):
    """The portable initialisation (same bits as Rust's weights::init_tensor(Init::Portable, ..))."""
    if kind == "table":
        a = math.sqrt(1.0 / fans[0])
    elif kind == "weight":
        a = math.sqrt(6.0 / (fans[0] + fans[1]))
    else:
        a = math.sqrt(3.0 / fans[1])
    key = np.uint64(fnv1a(name) ^ ((seed * GOLDEN) & MASK64))
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.float32)
    with np.errstate(over="ignore"):
        for s in range(0, n, chunk):
            i = np.arange(s, min(n, s + chunk), dtype=np.uint64)
            z = key + i + np.uint64(GOLDEN)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
            u = (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)
            out[s : s + len(i)] = ((2.0 * u - 1.0) * a).astype(np.float32)
    return out.reshape(shape)


def portable_weights(spec, seed):
    return {n: portable_tensor(seed, n, shape, kind, fans) for (n, shape, kind, fans) in params(spec)}


def act(x, a):
    if a == "relu":
        return torch.relu(x)
    if a == "sigmoid":
        return torch.sigmoid(x)
    return x


class Reference:
    """The model as plain tensors and eager PyTorch ops (F.embedding_bag, F.linear)."""

    def __init__(self, spec, weights, dtype=torch.float32):
        self.spec = spec
        self.w = {}
        for n, shape, _, _ in params(spec):
            if n not in weights:
                raise KeyError(f"{spec['name']}: tensor {n} missing")
            t = torch.as_tensor(np.asarray(weights[n])).to(dtype)
            if tuple(t.shape) != tuple(shape):
                raise ValueError(f"{spec['name']}: tensor {n}: shape {tuple(t.shape)}, expected {shape}")
            if not torch.isfinite(t).all():
                raise ValueError(f"{spec['name']}: tensor {n}: non-finite values")
            self.w[n] = t.contiguous()
        self.groups = groups_of(spec)
        self.features = features(spec)
        inter = spec["interaction"]
        if inter["kind"] == "dot":
            n = len(self.features)
            off = 1 if inter.get("self_interaction", False) else 0
            self.li = torch.tensor([i for i in range(n) for j in range(i + off)])
            self.lj = torch.tensor([j for i in range(n) for j in range(i + off)])

    def mlp(self, prefix, m, x):
        layers = mlp_layers(m)
        for i in range(len(layers)):
            x = F.linear(x, self.w[f"{prefix}.{i}.weight"], self.w[f"{prefix}.{i}.bias"])
            x = act(x, m.get("last", "relu") if i + 1 == len(layers) else "relu")
        return x

    def forward(self, dense, indices, offsets):
        """dense [B, D]; indices[t] int64 [n_t]; offsets[t] int64 [B + 1]."""
        spec = self.spec
        pooled = []
        for t, gi in enumerate(self.groups):
            mode = spec["tables"][gi].get("pooling", "sum")
            pooled.append(
                F.embedding_bag(
                    indices[t], self.w[f"emb.{t}.weight"], offsets[t], mode=mode, include_last_offset=True
                )
            )
        x = dense
        if spec.get("bottom_mlp"):
            x = self.mlp("bot", spec["bottom_mlp"], x)
        blocks = [self.block(b, blk, pooled) for b, blk in enumerate(spec.get("blocks", []))]
        feats = []
        for f in self.features:
            feats.append(x if f[0] == "dense" else pooled[f[1]] if f[0] == "table" else blocks[f[1]])
        inter = spec["interaction"]
        if inter["kind"] == "cat":
            z = torch.cat(feats, dim=1)
        elif inter["kind"] == "dot":
            t = torch.stack(feats, dim=1)
            zz = torch.bmm(t, t.transpose(1, 2))
            z = torch.cat([feats[0], zz[:, self.li, self.lj]], dim=1)
        else:
            x0 = torch.cat(feats, dim=1)
            z = x0
            for l in range(inter["layers"]):
                u = F.linear(z, self.w[f"cross.{l}.u.weight"])
                z = x0 * F.linear(u, self.w[f"cross.{l}.v.weight"], self.w[f"cross.{l}.v.bias"]) + z
        y = self.mlp("top", spec["top_mlp"], z)
        if spec.get("heads"):
            y = torch.cat([self.mlp(f"head.{k}", spec["heads"]["mlp"], y) for k in range(spec["heads"]["tasks"])], 1)
        return y

    def block(self, b, blk, pooled):
        spec = self.spec
        if blk["kind"] == "attention":
            g = group_index(spec, blk["behaviour"])
            s, units = group_start(spec, g), spec["tables"][g].get("count", 1)
            q = pooled[group_start(spec, group_index(spec, blk["query"]))]
            acc = None
            for u in range(units):
                beh = pooled[s + u]
                y = self.mlp(f"blk.{b}.att.{u}", blk["mlp"], torch.cat([beh, q, beh + q], dim=1))
                acc = y if acc is None else acc + y
            return acc
        if blk["kind"] == "rnn":
            g = group_index(spec, blk["sequence"])
            s, steps = group_start(spec, g), spec["tables"][g].get("count", 1)
            xs = [pooled[s + i] for i in range(steps)]
            for l, hdim in enumerate(blk["hidden"]):
                p = f"blk.{b}.rnn.{l}"
                h = torch.zeros(xs[0].shape[0], hdim, dtype=xs[0].dtype)
                outs = []
                for x in xs:
                    h = torch.tanh(
                        F.linear(x, self.w[p + ".weight_ih"], self.w[p + ".bias_ih"])
                        + F.linear(h, self.w[p + ".weight_hh"], self.w[p + ".bias_hh"])
                    )
                    outs.append(h)
                if l + 1 < len(blk["hidden"]):
                    fw, fb = self.w[f"blk.{b}.fc.{l}.weight"], self.w[f"blk.{b}.fc.{l}.bias"]
                    outs = [o + torch.softmax(F.linear(o, fw, fb), dim=1) for o in outs]
                xs = outs
            return xs[-1]
        mf = [pooled[group_start(spec, group_index(spec, n))] for n in blk["mf"]]
        ml = [pooled[group_start(spec, group_index(spec, n))] for n in blk["mlp_tables"]]
        return torch.cat([mf[0] + mf[1], self.mlp(f"blk.{b}.mlp", blk["mlp"], torch.cat(ml, dim=1))], dim=1)


def uniform_inputs(spec, batch, rng):
    """Dense U[0,1) and uniform bags unique within each bag (int64 indices and B+1 offsets)."""
    dense = rng.random((batch, spec.get("dense_features", 0)), dtype=np.float32)
    idx, off = [], []
    for gi in groups_of(spec):
        g = spec["tables"][gi]
        bags = [unique_bag(rng, g["rows"], g["lookups"]) for _ in range(batch)]
        idx.append(np.concatenate(bags).astype(np.int64))
        off.append(np.arange(batch + 1, dtype=np.int64) * g["lookups"])
    return dense, idx, off


def unique_bag(rng, rows, k):
    """k distinct rows of range(rows): rejection when rows >> k, a permutation otherwise."""
    if rows < 4 * k:
        return rng.choice(rows, k, replace=False)
    bag = rng.integers(0, rows, k)
    while len(np.unique(bag)) < k:
        _, first = np.unique(bag, return_index=True)
        dup = np.setdiff1d(np.arange(k), first)
        bag[dup] = rng.integers(0, rows, len(dup))
    return bag
