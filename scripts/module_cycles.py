#!/usr/bin/env python3
"""Cycles among tether's modules: which modules reach each other through `crate::` paths.

Reads every .rs file under crates/tether/src, takes each file's module (the file name, or
the folder for files in a folder: `diag/metrics.rs` is `diag`), and draws an edge to every
module its code names as `crate::name` (a `use` or a path in code; `super::` within a
folder stays inside it). Prints the strongly connected components with more than one
module: each is a cycle. Exit status 1 when there are cycles other than the allowed one
(`--allow a,b,c`).

    python3 scripts/module_cycles.py [--allow context,handler,engine] [--edges]
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "tether", "src")


def module_of(path):
    rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
    first = rel.split("/")[0]
    return first[:-3] if first.endswith(".rs") else first


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def reexports(modules):
    """Names the crate root re-exports (`pub use engine::Engine;`), to their module."""
    text = strip_comments(open(os.path.join(ROOT, "lib.rs"), encoding="utf-8").read())
    names = {}
    for m in re.finditer(r"pub use ([a-z_][a-z0-9_]*)::(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)", text, flags=re.S):
        if m.group(1) in modules:
            for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", m.group(2)):
                names.setdefault(name, m.group(1))
    return names


def uses(text, modules, names):
    found = set()
    for m in re.finditer(r"crate::([A-Za-z_][A-Za-z0-9_]*)", text):
        word = m.group(1)
        if word in modules:
            found.add(word)
        elif word in names:
            found.add(names[word])
    # `use crate::{a, b::c, Engine}` groups.
    for group in re.finditer(r"use\s+crate::\{([^}]*)\}", text, flags=re.S):
        for word in re.findall(r"(?:^|[,{\s])([A-Za-z_][A-Za-z0-9_]*)", group.group(1)):
            if word in modules:
                found.add(word)
            elif word in names:
                found.add(names[word])
    return found


def main():
    args = sys.argv[1:]
    allow = set()
    if "--allow" in args:
        allow = set(args[args.index("--allow") + 1].split(","))
    files = []
    for dirpath, _, names in os.walk(ROOT):
        files += [os.path.join(dirpath, n) for n in names if n.endswith(".rs")]
    modules = {module_of(f) for f in files} - {"lib"}
    names = reexports(modules)
    edges = {m: set() for m in modules}
    for f in files:
        src = module_of(f)
        if src == "lib":
            continue
        text = strip_comments(open(f, encoding="utf-8").read())
        text = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)
        for target in uses(text, modules, names):
            if target != src:
                edges[src].add(target)
    if "--edges" in args:
        for m in sorted(edges):
            print(f"{m} -> {', '.join(sorted(edges[m]))}")
    # Tarjan's strongly connected components.
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    cycles = [c for c in sccs if len(c) > 1]
    bad = [c for c in cycles if not set(c) <= allow]
    for c in cycles:
        print(("allowed " if set(c) <= allow else "CYCLE ") + f"({len(c)} modules): " + " <-> ".join(c))
    if not cycles:
        print("no cycles")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
