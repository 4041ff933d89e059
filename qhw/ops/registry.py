"""The op registry: op name -> OpDef. Backends and passes look ops up here."""
from __future__ import annotations

from qhw.errors import ModelError
from qhw.ops.traits import Trait

_OPS: dict[str, "OpDef"] = {}  # noqa: F821


def register(op):
    """Class decorator: instantiate and register an OpDef subclass under its ``name``."""
    inst = op()
    if inst.name in _OPS:
        raise ValueError(f"op {inst.name!r} registered twice")
    _OPS[inst.name] = inst
    return op


def get(name: str, node: str | None = None):
    """The OpDef for ``name``; ModelError naming the node and listing the known ops otherwise."""
    try:
        return _OPS[name]
    except KeyError:
        where = f"node {node!r}: " if node else ""
        raise ModelError(f"{where}unknown op {name!r}; supported: {', '.join(sorted(_OPS))}") from None


def names() -> list[str]:
    return sorted(_OPS)


def group(*traits) -> frozenset[str]:
    """The registered ops that have every one of ``traits`` (qhw.ops.traits.Trait)."""
    return frozenset(n for n, op in _OPS.items() if set(traits) <= op.traits)


def has(name: str, *traits) -> bool:
    """True when op ``name`` is registered and has every one of ``traits``."""
    op = _OPS.get(name)
    return op is not None and set(traits) <= op.traits


def is_input(name: str) -> bool:
    """True for a graph input port: a boundary op (Trait.IO) that reads nothing."""
    op = _OPS.get(name)
    return op is not None and Trait.IO in op.traits and op.arity == 0


def is_output(name: str) -> bool:
    """True for a graph output port: a boundary op (Trait.IO) that reads a value."""
    op = _OPS.get(name)
    return op is not None and Trait.IO in op.traits and op.arity != 0
