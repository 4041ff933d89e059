"""No op names outside qhw/ops and qhw/frontends (issue 16: one op, one row).

Code elsewhere asks the registry (``qhw.ops.group(Trait.X)``, ``qhw.ops.has(op, Trait.X)``,
``qhw.ops.is_input/is_output``) or the op's class (``qhw.ops.get(op).<method>``) instead of typing
op names. The check parses every module with ``ast`` and reports, by file and line:

- a comparison (``==``, ``!=``, ``in``, ``not in``) of ``op`` or ``<x>.op`` with a registered op
  name or a literal collection holding one, and ``op.startswith("max")``-style prefix tests;
- a literal tuple, list or set whose elements are all strings, all registered op names;
- a literal dict whose keys are registered op names (two or more): a table keyed by op name.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import qhw.ops

ROOT = Path(__file__).resolve().parents[1] / "qhw"
OPS = frozenset(qhw.ops.names())

#: packages allowed to name ops, and why
ALLOWED = {
    "ops": "the op definitions themselves",
    "frontends": "the mapping of each framework's layers onto qhw ops",
    "tables": "the function names of the table library (sigmoid, tanh); qhw.ops imports qhw.tables, "
              "so the tables cannot ask the registry",
    "testing": "random test-model builders choose GraphBuilder calls by name, as a frontend does",
}
#: packages still naming ops until the `vlower` branch (issue 16.2: one lowering per op family,
#: costs beside them) is merged. The integrator removes this list after that merge.


def _is_op_ref(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "op") or \
        (isinstance(node, ast.Attribute) and node.attr == "op")


def _strings(node: ast.AST) -> list[str] | None:
    """The strings of a literal tuple/list/set (None: not such a literal, or not all strings)."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts:
        if all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            return [e.value for e in node.elts]
    return None


def _names_op(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value in OPS
    s = _strings(node)
    return s is not None and any(v in OPS for v in s)


def op_name_uses(source: str, filename: str = "<string>") -> list[str]:
    """Every op-name list or comparison in ``source``, as ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_op_ref(s) for s in sides) and any(_names_op(s) for s in sides):
                found.append(f"{node.lineno}: comparison of an op with an op name")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("startswith", "endswith") and _is_op_ref(node.func.value):
            found.append(f"{node.lineno}: op.{node.func.attr}(...): a name test")
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            s = _strings(node)
            if s and all(v in OPS for v in s):
                found.append(f"{node.lineno}: a list of op names {s}")
        elif isinstance(node, ast.Dict):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
            if sum(k in OPS for k in keys) >= 2:
                found.append(f"{node.lineno}: a table keyed by op names {[k for k in keys if k in OPS]}")
    return found


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        top = path.relative_to(ROOT).parts[0]
        if top in ALLOWED:
            continue
        yield path


def _report(paths) -> list[str]:
    out = []
    for path in paths:
        for use in op_name_uses(path.read_text(encoding="utf-8"), str(path)):
            out.append(f"{path.relative_to(ROOT.parent)}:{use}")
    return out


def test_no_op_names_outside_ops_and_frontends():
    found = _report(_modules())
    assert not found, "op names typed outside qhw/ops and qhw/frontends (use qhw.ops.group/has or " \
                      "a method of the op):\n" + "\n".join(found)


# ------------------------------------------------------------------ the check itself catches them
@pytest.mark.parametrize("source", [
    "if node.op == 'dense': pass",
    "if op in ('relu', 'relu6'): pass",
    "x = node.op != 'output'",
    "MAC = ('dense', 'conv1d', 'conv2d')",
    "S = frozenset({'flatten', 'reshape'})",
    "T = {'sigmoid': 1, 'tanh': 2}",
    "y = node.op.startswith('max')",
    "if 'softmax' == op: pass",
])
def test_check_finds_op_names(source):
    assert op_name_uses(source)


@pytest.mark.parametrize("source", [
    "if has(node.op, Trait.MAC): pass",
    "b.dense('fc', x, w)",
    "if node.op in MAC_OPS: pass",
    "SLOTS = ('weight', 'bias', 'accum')",
    "if variant == 'rom': pass",
    "MIXED = ('dense', 'weight')",
])
def test_check_passes_other_code(source):
    assert not op_name_uses(source)


def test_allowed_packages_exist():
    for name in ALLOWED:
        assert (ROOT / name).is_dir(), f"qhw/{name} is allowed to name ops but does not exist"
