"""Folding passes: batch normalisation into weights, and exact simplifications (graph -> graph).

Both return a new graph (the input is not modified). A graph that came in prepared (shapes and
formats) goes out prepared again, with its default precision: slots that were inferred are
inferred again from the new constants, slots given by the user stay.
"""
from __future__ import annotations

import numpy as np

from qhw.graph import Graph, Node
from qhw.ops.base import holds
from qhw.ops import Trait, get, group, has
from qhw.ops.batchnorm import BatchNorm, affine_terms
from qhw.passes.pipeline import prepare

_MAC_OPS = group(Trait.MAC)
_MOVE_OPS = group(Trait.RESHAPE)
#: slots whose formats depend on the constants' values (re-inferred after folding)
_VALUE_SLOTS = ("weight", "bias", "result")


# ------------------------------------------------------------------ shared helpers
def _is_prepared(graph: Graph) -> bool:
    return len(graph) > 0 and all(n.shape is not None and "result" in n.formats for n in graph.nodes())


def _finish(original: Graph, g: Graph) -> Graph:
    if _is_prepared(original):
        return prepare(g, default=original.default_format)
    return g


def _bypass(g: Graph, node: Node, src: str) -> None:
    """Remove ``node``; whoever read it reads ``src`` instead."""
    for c in g.consumers(node.name):
        g.replace_input(c.name, node.name, src)
    g.remove(node.name)


def _forget(node: Node, slots=_VALUE_SLOTS) -> None:
    """Drop ``slots`` so format inference chooses them again for the new constants."""
    for s in slots:
        node.formats.pop(s, None)
        node.inferred.discard(s)
    node._raw_cache.clear()


def _only_consumer(g: Graph, name: str, reader: str) -> bool:
    return [c.name for c in g.consumers(name)] == [reader]


# ------------------------------------------------------------------ batch-norm folding
def _fold_into_producer(g: Graph, bn: Node) -> bool:
    """BN after a dense/conv read by nothing else: W' = W*k (per output channel), b' = b*k + c."""
    prev = g.node(bn.inputs[0])
    if prev.op not in _MAC_OPS or not _only_consumer(g, prev.name, bn.name):
        return False
    k, c = affine_terms(bn)
    if prev.params["weight"].shape[-1] != k.shape[0]:
        return False  # shape inference names the mismatch
    prev.params["weight"] = prev.params["weight"] * k  # output channels are the last axis
    prev.params["bias"] = prev.params.get("bias", np.zeros_like(k)) * k + c
    _forget(prev)
    if "result" in bn.formats and "result" not in bn.inferred:
        prev.formats["result"] = bn.formats["result"]  # the user's format for the BN output
    _bypass(g, bn, prev.name)
    return True


def _zero_padding(node: Node) -> bool:
    p = node.attrs.get("padding", 0)
    if isinstance(p, str):
        return p == "valid"
    return not np.any(np.asarray(p))


def _fold_into_consumers(g: Graph, bn: Node) -> bool:
    """BN before dense/conv (unpadded) layers only: W' = W*k (per input channel),
    b' = b + sum over taps and input channels of W*c."""
    readers = g.consumers(bn.name)
    if not readers or any(r.op not in _MAC_OPS or not _zero_padding(r)
                          or r.inputs.count(bn.name) != 1 for r in readers):
        return False
    k, c = affine_terms(bn)
    if any(r.params["weight"].shape[-2] != k.shape[0] for r in readers):  # (..., Cin, Cout)
        return False
    for r in readers:
        w = r.params["weight"]
        shift = (w * c[:, None]).reshape(-1, w.shape[-1]).sum(axis=0)  # every tap sees c
        r.params["weight"] = w * k[:, None]
        r.params["bias"] = r.params.get("bias", np.zeros(w.shape[-1])) + shift
        _forget(r, ("weight", "bias"))
    _bypass(g, bn, bn.inputs[0])
    return True


def _is_batchnorm(node: Node) -> bool:
    return has(node.op) and isinstance(get(node.op), BatchNorm)


def fold_batchnorm(graph: Graph) -> Graph:
    """Fold every ``batchnorm`` node into the dense/conv before it (when nothing else reads that
    layer's output) or else into the dense/unpadded conv layers after it. Exact in real numbers;
    the folded layer's weight, bias and result formats are chosen again for the new constants
    (the batchnorm's own result format, when the user gave one, becomes the layer's).

    A batchnorm that fits neither pattern stays; the golden model refuses it by name.
    """
    g = graph.copy()
    for bn in [n for n in g.nodes() if _is_batchnorm(n)]:
        _fold_into_producer(g, bn) or _fold_into_consumers(g, bn)
    return _finish(graph, g)


def unfolded_batchnorms(graph: Graph) -> list[str]:
    """Names of the batchnorm nodes still in ``graph``."""
    return [n.name for n in graph.nodes() if _is_batchnorm(n)]


# ------------------------------------------------------------------ constant folding
def _exact_cast(g: Graph, node: Node, src_fmt=None) -> bool:
    """True when assigning the op's exact value to the node's result loses nothing: the result
    format holds ``src_fmt`` (default: the input's format), or, before format inference, the
    user gave no result format (inference will then choose the lossless one)."""
    res = node.formats.get("result")
    if src_fmt is None and node.inputs:
        src_fmt = g.node(node.inputs[0]).formats.get("result")
    if res is None or src_fmt is None:
        return res is None or "result" in node.inferred
    return holds(res, src_fmt)


def _is_identity(g: Graph, node: Node) -> bool:
    """An op whose output equals its input, value for value and shape for shape."""
    if not has(node.op) or has(node.op, Trait.IO) or len(node.inputs) != 1:
        return False
    return get(node.op, node.name).is_identity(node, g.node(node.inputs[0])) and _exact_cast(g, node)


def _merge_with_input(g: Graph, node: Node) -> bool:
    """shift(shift(x)) -> one shift; flatten/reshape of a flatten/reshape -> one reading x.
    Only when the inner node's cast was exact; the inner node goes when nothing else reads it."""
    if len(node.inputs) != 1:
        return False
    inner = g.node(node.inputs[0])
    if has(node.op, Trait.POINT_SHIFT) and has(inner.op, Trait.POINT_SHIFT):
        x_fmt = g.node(inner.inputs[0]).formats.get("result")
        src = get(inner.op).moved_format(inner, x_fmt) if x_fmt is not None else None
        if not _exact_cast(g, inner, src):
            return False
        node.attrs["shift"] = int(node.attrs["shift"]) + int(inner.attrs["shift"])
    elif not (node.op in _MOVE_OPS and inner.op in _MOVE_OPS and _exact_cast(g, inner)):
        return False
    g.replace_input(node.name, inner.name, inner.inputs[0])
    if not g.consumers(inner.name):
        g.remove(inner.name)
    return True


def fold_constants(graph: Graph) -> Graph:
    """Exact simplifications, repeated until none applies:

    - identity ops removed: flatten/reshape to the same shape, shift by 0, a clamp (relu, relu6,
      clip) whose input format already lies within its bounds;
    - chains merged: shift of a shift becomes one shift; flatten/reshape of a flatten/reshape
      reads the original tensor.

    Each rewrite applies only when the removed assignment was lossless (the result format holds
    its input), so the golden model's outputs are unchanged bit for bit. The current op set has
    no constant-producing op, so no subgraph is free of runtime inputs; the rewrites above are the
    constant work there is to fold.
    """
    from qhw.passes.shapes import infer_shapes

    g = graph.copy()
    g.validate()
    infer_shapes(g)
    changed = True
    while changed:
        changed = False
        for node in list(g.nodes()):
            if node.name not in g:
                continue
            if _merge_with_input(g, node):
                infer_shapes(g)
                changed = True
            elif _is_identity(g, node):
                _bypass(g, node, node.inputs[0])
                changed = True
    return _finish(graph, g)


__all__ = ["fold_batchnorm", "fold_constants", "unfolded_batchnorms"]
