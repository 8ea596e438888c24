#!/usr/bin/env python3
"""Cycles among tether's modules: which modules reach each other through `crate::` paths.

Reads every .rs file under crates/tether/src and takes each file's module: `app/engine.rs`
is `app::engine`, a folder's `mod.rs` is the folder (`context`). With `--folders`, every
file counts as its folder (`app`). Draws an edge to every module its code names as
`crate::a::b` or `crate::a` (a `use` or a path in code; a name the crate root re-exports
counts as the module it comes from), and `super::b` within a folder. Prints the strongly
connected components with more than one module: each is a cycle. Exit status 1 when
there are cycles other than the allowed one (`--allow a,b,c`).

    python3 scripts/module_cycles.py [--allow context,app::handler,app::frozen] [--edges] [--folders]
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "tether", "src")


FOLDERS = "--folders" in sys.argv


def module_of(path):
    rel = os.path.relpath(path, ROOT).replace(os.sep, "/")[:-3]
    parts = rel.split("/")
    if parts[-1] == "mod":
        parts = parts[:-1]
    return "::".join(parts[:1] if FOLDERS else parts[:2])


def resolve(path, modules):
    """The module a `crate::` path (`app::engine::Shared`) lands in, if any."""
    parts = path.split("::")
    for n in (2, 1):
        name = "::".join(parts[:n])
        if len(parts) >= n and name in modules:
            return name
    return None


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def reexports(modules):
    """Names the crate root re-exports (`pub use engine::Engine;`), to their module."""
    text = strip_comments(open(os.path.join(ROOT, "lib.rs"), encoding="utf-8").read())
    names = {}
    for m in re.finditer(r"pub use ((?:[a-z_][a-z0-9_]*::)+)(\{[^}]*\}|[A-Za-z_][A-Za-z0-9_]*)", text, flags=re.S):
        module = resolve(m.group(1).rstrip(":"), modules)
        if module:
            for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", m.group(2)):
                names.setdefault(name, module)
    return names


def uses(text, modules, names, folder):
    found = set()

    def add(path):
        module = resolve(path, modules)
        if module:
            found.add(module)
        elif path.split("::")[0] in names:
            found.add(names[path.split("::")[0]])

    for m in re.finditer(r"crate::((?:[A-Za-z_][A-Za-z0-9_]*)(?:::[A-Za-z_][A-Za-z0-9_]*)*)", text):
        add(m.group(1))
    # `use crate::{a, b::c, d::{e, f}, Engine}` groups: each top-level entry.
    for group in re.finditer(r"use\s+crate::\{((?:[^{}]|\{[^{}]*\})*)\}", text, flags=re.S):
        for entry in re.findall(r"(?:^|[,{\s])([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)", group.group(1)):
            add(entry)
    if folder:
        for m in re.finditer(r"super::([A-Za-z_][A-Za-z0-9_]*)", text):
            add(f"{folder}::{m.group(1)}")
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
        rel = os.path.relpath(f, ROOT).replace(os.sep, "/").split("/")
        folder = rel[0] if len(rel) > 1 and rel[-1] != "mod.rs" else None
        for target in uses(text, modules, names, folder):
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
