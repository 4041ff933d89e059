"""Shape inference: every node's output shape from its inputs (graph in, graph out).

Every frontend goes through here, so this is also where declared sizes are checked against
qhw's limits (qhw.limits) before anything of that size is allocated, and where constants and
quantizer parameters must be finite numbers.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from qhw import limits
from qhw.errors import ModelError
from qhw.graph import Graph
from qhw.ops import get


def infer_shapes(graph: Graph) -> Graph:
    limits.check("nodes", len(graph), f"graph {graph.name!r}")
    for node in graph.nodes():
        op = get(node.op, node.name)
        check_constants(node)
        in_shapes = [tuple(graph.node(s).shape) for s in node.inputs]
        shape = tuple(int(d) for d in op.infer_shape(node, in_shapes))
        if any(d < 1 for d in shape):
            raise ModelError(f"node {node.name!r} ({node.op}) would have shape {shape}")
        limits.check("tensor_elements", math.prod(shape),
                     f"node {node.name!r} ({node.op}), output shape {list(shape)}")
        node.shape = shape
    return graph


def check_constants(node) -> None:
    """A node's constants within the layer_weights limit and finite; its quantizer parameters
    finite. ModelError names the node, the constant and the first offending index."""
    for name, value in node.params.items():
        a = np.asarray(value)
        limits.check("layer_weights", int(a.size), f"node {node.name!r} ({node.op}), constant {name!r}")
        if a.dtype.kind in "fc" and a.size and not np.isfinite(a).all():
            idx = [int(i) for i in np.argwhere(~np.isfinite(a))[0]]
            raise ModelError(f"node {node.name!r} ({node.op}): constant {name!r} has the non-finite "
                             f"value {a[tuple(idx)]} at index {idx}; constants must be finite")
    qp = node.qparams
    for field in ("scale", "zero_point"):
        value = getattr(qp, field, None)
        if value is None:
            continue
        a = np.atleast_1d(np.asarray(value, dtype=np.float64))
        if not np.isfinite(a).all():
            i = int(np.flatnonzero(~np.isfinite(a))[0])
            raise ModelError(f"node {node.name!r} ({node.op}): quantizer {field} has the non-finite "
                             f"value {a[i]} at index {i}")


def check_hardware_options(graph: Graph) -> Graph:
    """Reuse factors and table sizes (from the model or a config) within their limits."""
    for node in graph.nodes():
        for attr, lim in (("reuse_factor", "reuse_factor"), ("table_size", "table_entries")):
            v = node.attrs.get(attr)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ModelError(f"node {node.name!r} ({node.op}): {attr} {v!r} is not an integer >= 1")
            limits.check(lim, int(v), f"node {node.name!r} ({node.op}), {attr}")
    return graph


#: what interpreting a malformed attribute raises (``int("3x3")``, ``"abc" >= 0``, ``attrs["k"][2]``)
_ATTRIBUTE_ERRORS = (TypeError, ValueError, KeyError, IndexError, OverflowError, ZeroDivisionError)


@contextmanager
def attribute_errors(graph: Graph):
    """Turn an exception raised while an op reads a malformed attribute (the model file's types
    are only checked as JSON-like values; each op reads its attributes) into a ModelError naming
    the node being prepared: the innermost ``node`` the failing op code was working on."""
    from qhw.graph import Node

    try:
        yield
    except _ATTRIBUTE_ERRORS as exc:
        node = None
        tb = exc.__traceback__
        while tb is not None:
            cand = tb.tb_frame.f_locals.get("node")
            if isinstance(cand, Node):
                node = cand
            tb = tb.tb_next
        if node is None:
            raise
        attrs = ", ".join(f"{k}={v!r}" for k, v in sorted(node.attrs.items()))
        if len(attrs) > 120:
            attrs = attrs[:117] + "..."
        detail = str(exc).splitlines()[0][:160] if str(exc) else ""
        raise ModelError(f"node {node.name!r} ({node.op}): cannot be prepared with its attributes "
                         f"({attrs}): {type(exc).__name__}: {detail}") from None
