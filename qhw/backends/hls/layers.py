"""One emitter per op: which template renders a node, and the values it needs.

An emitter receives the node and a :class:`LayerContext` and returns the template's variables. The
templates (``templates/hls/<kind>.h.j2``) define ``void <fn>(inputs..., result_t y[N])``; the top
function calls them in topological order. Registering an op here is all the backend needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from qhw.backends.hls.naming import type_name
from qhw.backends.hls.render import c_initializer
from qhw.errors import ModelError
from qhw.fixed import FixedFormat


@dataclass
class LayerContext:
    """What an emitter may know about a node besides the node itself.

    fn: the C function name; in_fmts/in_shapes: the producers' result formats and shapes in port
    order; use_type: registers a format for the shared typedef header and returns its name.
    """

    fn: str
    in_fmts: list[FixedFormat]
    in_shapes: list[tuple[int, ...]]
    use_type: Callable[[FixedFormat, str], str]
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Emitter:
    template: str
    build: Callable[["object", LayerContext], dict]


_EMITTERS: dict[str, Emitter] = {}


def emitter(op: str, template: str):
    """Decorator registering ``build(node, ctx) -> dict`` for ``op`` with ``template``."""

    def register(build):
        if op in _EMITTERS:
            raise ValueError(f"HLS emitter for op {op!r} registered twice")
        _EMITTERS[op] = Emitter(template, build)
        return build

    return register


def get(op: str, node_name: str) -> Emitter:
    try:
        return _EMITTERS[op]
    except KeyError:
        raise ModelError(
            f"node {node_name!r}: op {op!r} has no HLS template; supported: {', '.join(sorted(_EMITTERS))}"
        ) from None


def supported_ops() -> list[str]:
    return sorted(_EMITTERS)


# ----------------------------------------------------------------------------- shared helpers
def reuse_factor(node) -> int:
    rf = node.attrs.get("reuse_factor", 1)
    if isinstance(rf, bool) or not isinstance(rf, int) or rf < 1:
        raise ModelError(f"node {node.name!r}: reuse_factor must be an integer >= 1, got {rf!r}")
    return rf


def slot(node, name: str) -> FixedFormat:
    try:
        return node.formats[name]
    except KeyError:
        raise ModelError(
            f"node {node.name!r} ({node.op}): format slot {name!r} is not assigned; run format "
            f"inference first (assigned: {', '.join(sorted(node.formats)) or 'none'})"
        ) from None


def size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


def common(node, ctx: LayerContext) -> dict:
    """Variables every layer template uses."""
    result = slot(node, "result")
    return {
        "fn": ctx.fn,
        "guard": f"QHW_{ctx.fn.upper()}_H",
        "node_name": node.name,
        "op": node.op,
        "rf": reuse_factor(node),
        "in_t": [ctx.use_type(f, f"input of {node.name}") for f in ctx.in_fmts],
        "in_n": [size(s) for s in ctx.in_shapes],
        "result_t": ctx.use_type(result, f"{node.name} result"),
        "n": size(node.output.shape),
    }


def const_array(node, name: str) -> str:
    """The initializer of parameter ``name`` in its slot format, raw codes exact."""
    return c_initializer(node.param_raw(name), slot(node, name))


# ----------------------------------------------------------------------------- dense
@emitter("dense", "dense.h.j2")
def _dense(node, ctx: LayerContext) -> dict:
    v = common(node, ctx)
    (k,) = ctx.in_shapes[0] if len(ctx.in_shapes[0]) == 1 else (size(ctx.in_shapes[0]),)
    m = v["n"]
    w = node.param_raw("weight").reshape(k, m)
    rf = v["rf"]
    accum = slot(node, "accum")
    v.update(
        k=k, m=m, in_t=v["in_t"][0],
        weight_t=ctx.use_type(slot(node, "weight"), f"{node.name} weight"),
        bias_t=ctx.use_type(slot(node, "bias"), f"{node.name} bias"),
        accum_t=ctx.use_type(accum, f"{node.name} accum"),
        weights=c_initializer(w, slot(node, "weight")),
        bias=const_array(node, "bias"),
        n_mult=math.ceil(k * m / rf),
        partition=math.ceil(k / rf),
        product_cast=bool(node.attrs.get("product_cast", False)),
    )
    return v
