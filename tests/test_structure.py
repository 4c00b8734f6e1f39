"""The shape of the code: no import circles between kcap's modules, short functions where people
read the code to learn it (the training loop, the CLI, the laws), torch-free floors."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "kcap"


def _modules() -> dict[str, pathlib.Path]:
    return {".".join(f.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__"): f for f in PKG.rglob("*.py")}


def import_graph() -> dict[str, set[str]]:
    """Module -> kcap modules it imports, function-local imports included. ``from pkg import mod``
    counts as importing pkg.mod, not pkg's __init__ that re-exports it."""
    files = _modules()
    graph = {}
    for name, f in files.items():
        deps: set[str] = set()
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
                subs = {f"{n.module}.{a.name}" for a in n.names} & files.keys()
                deps |= subs if len(subs) == len(n.names) else subs | {n.module}
            elif isinstance(n, ast.Import):
                deps |= {a.name for a in n.names}
        graph[name] = (deps & files.keys()) - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected sets of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            c = []
            while True:
                w = stack.pop()
                on.discard(w)
                c.append(w)
                if w == v:
                    break
            if len(c) > 1:
                out.append(sorted(c))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    assert circles(import_graph()) == []


def test_the_circle_finder_finds_one():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _long_functions(paths: list[pathlib.Path], limit: int) -> list[str]:
    long = []
    for f in paths:
        for n in ast.walk(ast.parse(f.read_text())):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > limit:
                long.append(f"{f.relative_to(SRC)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)")
    return long


def test_no_function_over_80_lines():
    """A function is read on one screen: the training loop, the CLI and the laws above all."""
    assert _long_functions(sorted(PKG.rglob("*.py")), 80) == []


def test_kinds_never_reach_up():
    """A dataset kind builds on knowledge/, corpus/, measure/losses; never on training, sweeps, the
    store, reports or the CLI (which read the registry instead)."""
    above = ("kcap.train", "kcap.sweep", "kcap.store", "kcap.report", "kcap.cli", "kcap.laws", "kcap.measure.evaluate")
    bad = [f"{m} -> {d}" for m, deps in import_graph().items() if m.startswith("kcap.kinds")
           for d in deps if d.startswith(above)]
    assert bad == []


def test_laws_and_store_import_without_torch():
    code = ("import sys, kcap.laws, kcap.laws.compute, kcap.laws.capacity, kcap.store.db, kcap.kinds; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(SRC), "PATH": ""})
