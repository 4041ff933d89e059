"""qhw's packages form layers: the import graph among them has no cycle, counting the imports
inside function bodies too (a late import must not be what keeps a circle from failing), and the
graph package holds data only. Built with ``ast`` from the source, not from what happens to be
imported at test time."""
from __future__ import annotations

import ast
import functools
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

QHW = Path(__file__).resolve().parents[1] / "qhw"

#: package-level edges that still close a circle, with why; each must still exist (remove it
#: here when it is gone), and no other edge may close one.
KNOWN_CIRCLE_EDGES = {
    # qhw.io.load_model reads *and prepares* a model (a flow step living in the io package):
    # io -> passes -> config -> io (load_config reads YAML with qhw.io.documents).
    ("qhw.io", "qhw.passes"): "qhw/io/__init__.py load_model",
    ("qhw.io", "qhw.frontends"): "qhw/io/__init__.py load_model",
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(QHW.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(module: str) -> bool:
    p = QHW.parent / module.replace(".", "/")
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _type_checking_only(node) -> bool:
    test = getattr(node, "test", None) if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@functools.lru_cache(maxsize=None)
def module_imports() -> dict[str, set[tuple[str, int, bool]]]:
    """{module: {(imported qhw module, line, inside a function)}} over every file in qhw/."""
    out: dict[str, set] = defaultdict(set)
    for path in sorted(QHW.rglob("*.py")):
        mod = _module(path)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]

        def visit(node, late: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if _type_checking_only(child):
                    continue  # `if TYPE_CHECKING:` imports are for annotations, never run
                inner = late or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                if isinstance(child, ast.Import):
                    for a in child.names:
                        if a.name.split(".")[0] == "qhw":
                            out[mod].add((a.name, child.lineno, inner))
                elif isinstance(child, ast.ImportFrom):
                    base = child.module or ""
                    if child.level:
                        parts = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                        base = ".".join(parts + ([base] if base else []))
                    if base.split(".")[0] != "qhw":
                        continue
                    for a in child.names:  # `from qhw import golden` imports the module qhw.golden
                        sub = f"{base}.{a.name}"
                        out[mod].add((sub if _exists(sub) else base, child.lineno, inner))
                visit(child, inner)

        visit(ast.parse(path.read_text(), str(path)), False)
    return dict(out)


def package(module: str) -> str:
    """qhw.passes.fold -> qhw.passes; top-level modules (qhw.limits) are their own package."""
    return ".".join(module.split(".")[:2])


@functools.lru_cache(maxsize=None)
def package_graph() -> dict[str, dict[str, list[str]]]:
    """{package: {imported package: ["module:line", ...]}} (late imports included)."""
    g: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for mod, targets in module_imports().items():
        for target, line, _ in targets:
            a, b = package(mod), package(target)
            if a != b and b != "qhw":
                g[a][b].append(f"{mod}:{line}")
    return {a: dict(bs) for a, bs in g.items()}


def reach(g, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in g.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def find_cycle(g) -> list[str] | None:
    """One cycle of ``g`` as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := dfs(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state and (c := dfs(n)):
            return c
    return None


def test_the_scan_sees_late_imports():
    """The scanner itself: a function-body import is found and marked as one (else the no-cycle
    test below could pass by not seeing the imports it is about)."""
    imports = module_imports()
    late = {(t, inner) for t, _, inner in imports["qhw.io"]}
    assert ("qhw.passes", True) in late and ("qhw.errors", False) in late
    g = package_graph()
    assert "qhw.passes" in g["qhw.flow"] and "qhw.graph" in g["qhw.passes"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_cycle_among_packages():
    g = package_graph()
    for (a, b), where in KNOWN_CIRCLE_EDGES.items():
        assert b in g.get(a, {}), f"{a} no longer imports {b} ({where}): remove it from KNOWN_CIRCLE_EDGES"
    pruned = {a: {b for b in bs if (a, b) not in KNOWN_CIRCLE_EDGES} for a, bs in g.items()}
    cycle = find_cycle(pruned)
    assert cycle is None, "import circle: " + " -> ".join(
        f"{a} ({g[a][b][0]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_no_cycle_among_modules():
    """Inside a package too: no module imports one that imports it back, even inside a function
    (e.g. a pass importing ``prepare`` from ``qhw.passes``, whose ``__init__`` imports the pass)."""
    g: dict[str, set[str]] = defaultdict(set)
    where = {}
    for mod, targets in module_imports().items():
        for target, line, _ in targets:
            if target != mod:
                g[mod].add(target)
                where[mod, target] = f"{mod}:{line}"
    cycle = find_cycle(g)
    assert cycle is None, "import circle: " + " -> ".join(where[a, b] for a, b in zip(cycle, cycle[1:]))


def test_graph_package_holds_data_only():
    g = package_graph()
    below = reach(g, "qhw.graph")
    assert not below & {"qhw.passes", "qhw.golden", "qhw.flow", "qhw.io", "qhw.config", "qhw.frontends",
                        "qhw.backends", "qhw.verify", "qhw.testing", "qhw.cli"}, below
    # and at run time: importing it loads none of them
    code = "import sys, qhw.graph; print(' '.join(sorted(m for m in sys.modules if m.startswith('qhw'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=QHW.parent).stdout.split()
    assert "qhw.graph" in loaded
    assert not [m for m in loaded if package(m) in ("qhw.passes", "qhw.golden", "qhw.flow", "qhw.io")], loaded


def test_nothing_below_the_flow_imports_it():
    g = package_graph()
    users = {a for a, bs in g.items() if "qhw.flow" in bs}
    assert users <= {"qhw.cli", "qhw.verify", "qhw.testing", "qhw.sweep"}, users
    for low in ("qhw.graph", "qhw.ops", "qhw.passes", "qhw.golden", "qhw.io", "qhw.backends", "qhw.config"):
        assert "qhw.flow" not in reach(g, low), low


def test_production_code_does_not_import_the_test_helpers():
    offenders = [f"{mod}:{line}" for mod, targets in module_imports().items() if package(mod) != "qhw.testing"
                 for target, line, _ in targets if package(target) == "qhw.testing"]
    assert offenders == []
