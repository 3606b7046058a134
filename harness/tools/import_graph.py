#!/usr/bin/env python3
"""Lists the harness's intra-crate `use` edges between its rooms (top-level modules; each command
under cmd/ is a room of its own) and between its files, and fails when either forms a circle.

Usage: python3 harness/tools/import_graph.py [--edges]
"""
import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"


def room(path: pathlib.Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    if parts[0] == "cmd" and len(parts) > 1 and parts[1] != "mod":
        return "cmd::" + parts[1]
    return parts[0]


def target(name: str) -> str:
    parts = name.split("::")
    if parts[0] == "cmd" and len(parts) > 1:
        return "cmd::" + parts[1]
    return parts[0]


def strip_tests(text: str) -> str:
    # Test modules may reach anywhere; the graph is the shipped code's.
    i = text.find("#[cfg(test)]")
    return text if i < 0 else text[:i]


def edges():
    found = {}
    for f in sorted(SRC.rglob("*.rs")):
        src = room(f)
        text = strip_tests(f.read_text())
        names = re.findall(r"crate::((?:\w+::)*\w+)", text)
        for group in re.findall(r"use crate::\{([^;]*)\};", text, flags=re.S):
            names += [n.strip() for n in re.split(r",(?![^{]*\})", group) if n.strip()]
        for n in names:
            t = target(n.split("{")[0].strip(":"))
            if t and t != src and t not in ("self",):
                found.setdefault((src, t), set()).add(str(f.relative_to(SRC)))
    return found


def module_path(f: pathlib.Path):
    parts = list(f.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "main"):
        parts.pop()
    return tuple(parts)


def file_edges():
    """Edges between files: `crate::a::b` and `super::x` resolved to the file that defines them."""
    files = {module_path(f): f for f in SRC.rglob("*.rs")}
    found = {}
    for mp, f in files.items():
        text = strip_tests(f.read_text())
        refs = []
        for m in re.finditer(r"\b(crate|super)((?:::\w+)*)(::\{([^;]*?)\})?", text, flags=re.S):
            base = [] if m.group(1) == "crate" else list(mp[:-1] if f.stem != "mod" else mp[:-1])
            path = base + [p for p in m.group(2).split("::") if p]
            refs.append(path)
            for inner in re.split(r",", m.group(4) or ""):
                inner = inner.strip().split("::")[0].strip("{} ")
                if inner and inner != "self":
                    refs.append(path + [inner])
        for path in refs:
            for k in range(len(path), 0, -1):
                t = tuple(path[:k])
                if t in files:
                    if t != mp and t != mp[: len(t)]:
                        found.setdefault((str(f.relative_to(SRC)), str(files[t].relative_to(SRC))), set())
                    break
    return found


def cycles(graph):
    nodes = sorted({a for a, _ in graph} | {b for _, b in graph})
    adj = {n: sorted(b for a, b in graph if a == n) for n in nodes}
    state, stack, out = {}, [], []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in adj[n]:
            if state.get(m) == 1:
                out.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in nodes:
        if n not in state:
            visit(n)
    return out


def main():
    graph = edges()
    if "--edges" in sys.argv:
        for (a, b), files in sorted(graph.items()):
            print(f"{a} -> {b}    ({', '.join(sorted(files))})")
    found = cycles(graph)
    for c in found:
        print("circle: " + " -> ".join(c))
    print(f"{len(graph)} edges between {len({x for e in graph for x in e})} rooms, {len(found)} circles")
    fgraph = file_edges()
    if "--edges" in sys.argv:
        for a, b in sorted(fgraph):
            print(f"  file {a} -> {b}")
    fcycles = cycles(fgraph)
    for c in fcycles:
        print("file circle: " + " -> ".join(c))
    print(f"{len(fgraph)} edges between files, {len(fcycles)} circles")
    return 1 if found or fcycles else 0


if __name__ == "__main__":
    sys.exit(main())
