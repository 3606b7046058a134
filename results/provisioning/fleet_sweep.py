#!/usr/bin/env python3
"""Where heterogeneity-awareness pays: the optimum's saving over each greedy policy (peak servers and
peak provisioned power) as the inventory and the load peak are scaled, over one fleet scenario.
Runs `hercules-analysis provision --json` once per (inventory scale, load scale) and writes
sweep.csv and sweep.svg beside the scenario.
Usage: fleet_sweep.py <scenario dir with cluster.toml and load.toml> <tables...>"""
import csv
import json
import pathlib
import subprocess
import sys
import tempfile
import tomllib

INVENTORY = [0.5, 0.75, 1.0, 1.5, 2.0, 3.0]
LOAD = [0.5, 1.0, 1.5, 2.0]
BIN = "./target/release/hercules-analysis"


def toml_value(v):
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def write_toml(path, doc):
    lines = [f"{k} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, list) or not v or not isinstance(v[0], dict)]
    for k, v in doc.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                lines.append(f"\n[[{k}]]")
                lines += [f"{ik} = {toml_value(iv)}" for ik, iv in item.items()]
    path.write_text("\n".join(lines) + "\n")


def run(scenario, tables, inv, load):
    cluster = tomllib.loads((scenario / "cluster.toml").read_text())
    loaddoc = tomllib.loads((scenario / "load.toml").read_text())
    base = scenario.resolve()
    for s in cluster["server"]:
        s["count"] = max(1, round(s["count"] * inv))
        if "tables" in s:
            t = s["tables"]
            s["tables"] = [str(base / x) for x in t] if isinstance(t, list) else str(base / t)
    for m in loaddoc["model"]:
        m["peak_qps"] = m["peak_qps"] * load
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        write_toml(tmp / "cluster.toml", cluster)
        write_toml(tmp / "load.toml", loaddoc)
        out = subprocess.run([BIN, "provision", "--tables", *tables, "--cluster", str(tmp / "cluster.toml"),
                              "--load", str(tmp / "load.toml"), "--policy", "all", "--time-limit", "20", "--json"],
                             capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"provision failed at inventory x{inv}, load x{load}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def svg(rows, path):
    w, h, pad = 900, 420, 60
    panels = [("vs_greedy-qps_servers", "vs greedy-by-QPS"), ("vs_greedy-eff_servers", "vs greedy-by-efficiency")]
    pw = (w - pad * 3) / 2
    colors = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<text x="{w/2}" y="20" text-anchor="middle" font-size="15">Peak servers the optimum saves over each greedy policy, against inventory size, per load peak</text>']
    xs = [r["inventory_scale"] for r in rows]
    xmin, xmax = min(xs), max(xs)
    vals = [r[k] for r in rows for k, _ in panels if r[k] is not None]
    ymax = max([0.05] + vals) * 1.1
    ymin = min([0.0] + vals)
    for i, (key, title) in enumerate(panels):
        x0, y0, y1 = pad + i * (pw + pad), 50, h - pad
        X = lambda x: x0 + (x - xmin) / (xmax - xmin) * pw
        Y = lambda y: y1 - (y - ymin) / (ymax - ymin) * (y1 - y0)
        out.append(f'<text x="{x0 + pw/2}" y="{y0 - 8}" text-anchor="middle">{title}</text>')
        out.append(f'<line x1="{x0}" y1="{y1}" x2="{x0+pw}" y2="{y1}" stroke="black"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/>')
        for t in INVENTORY:
            out.append(f'<text x="{X(t)}" y="{y1+16}" text-anchor="middle">x{t:g}</text>')
        for k in range(5):
            v = ymin + (ymax - ymin) * k / 4
            out.append(f'<text x="{x0-6}" y="{Y(v)+4}" text-anchor="end">{v:.0%}</text>')
            out.append(f'<line x1="{x0}" y1="{Y(v)}" x2="{x0+pw}" y2="{Y(v)}" stroke="#ddd"/>')
        out.append(f'<text x="{x0 + pw/2}" y="{h-20}" text-anchor="middle">inventory scale (servers of every type)</text>')
        for j, l in enumerate(LOAD):
            pts = [(X(r["inventory_scale"]), Y(r[key])) for r in rows if r["load_scale"] == l and r[key] is not None]
            if pts:
                out.append(f'<polyline fill="none" stroke="{colors[j % 4]}" stroke-width="2" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}"/>')
                for a, b in pts:
                    out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{colors[j % 4]}"/>')
            if i == 1:
                out.append(f'<text x="{x0+pw-90}" y="{y0+16*j+10}" fill="{colors[j % 4]}">load peak x{l:g}</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main(scenario, tables):
    scenario = pathlib.Path(scenario)
    rows = []
    for load in LOAD:
        for inv in INVENTORY:
            doc = run(scenario, tables, inv, load)
            row = {"inventory_scale": inv, "load_scale": load}
            for b in ["greedy-qps", "greedy-eff"]:
                row[f"vs_{b}_servers"] = row[f"vs_{b}_power"] = None
            for s in doc["savings"]:
                if s["policy"] == "optimal":
                    row[f"vs_{s['baseline']}_servers"] = s["peak_servers"]
                    row[f"vs_{s['baseline']}_power"] = s["peak_provisioned_power"]
            rows.append(row)
            print(f"inventory x{inv:g}, load x{load:g}: " + ", ".join(
                f"{k} {v:.1%}" if isinstance(v, float) else f"{k} n/a" for k, v in row.items() if k.startswith("vs_")), flush=True)
    keys = sorted({k for r in rows for k in r})
    with (scenario / "sweep.csv").open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=keys)
        wr.writeheader()
        wr.writerows(rows)
    svg(rows, scenario / "sweep.svg")


def replot(scenario):
    """Redraws sweep.svg from sweep.csv (empty cells: a policy left slots short, no saving to state)."""
    scenario = pathlib.Path(scenario)
    rows = []
    for r in csv.DictReader((scenario / "sweep.csv").open()):
        rows.append({k: (float(v) if v not in ("", None) else None) for k, v in r.items()})
    svg(rows, scenario / "sweep.svg")


if __name__ == "__main__":
    if sys.argv[1] == "--replot":
        replot(sys.argv[2])
    else:
        main(sys.argv[1], sys.argv[2:])
