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


# ----------------------------------------------------------------------------- elementwise
def _elementwise(node, ctx: LayerContext, summary: str, body: list[str],
                 constants: list[dict] = ()) -> dict:
    v = common(node, ctx)
    for i, n in enumerate(v["in_n"]):
        if n != v["n"]:
            raise ModelError(f"node {node.name!r} ({node.op}): input {i} has {n} elements, "
                             f"the result {v['n']}; elementwise ops need equal sizes")
    v.update(summary=summary, body=body, constants=list(constants),
             lanes=math.ceil(v["n"] / v["rf"]))
    return v


@emitter("relu", "elementwise.h.j2")
def _relu(node, ctx: LayerContext) -> dict:
    return _elementwise(node, ctx, "y = max(x, 0), then cast to the result format.",
                        ["if (x0[i] > 0) y[i] = x0[i];", "else y[i] = 0;"])


@emitter("requantize", "elementwise.h.j2")
def _requantize(node, ctx: LayerContext) -> dict:
    return _elementwise(node, ctx, "y = x assigned to the result format (its rounding, overflow).",
                        ["y[i] = x0[i];"])


@emitter("add", "elementwise.h.j2")
def _add(node, ctx: LayerContext) -> dict:
    return _elementwise(node, ctx, "y = x0 + x1 (exact sum), then cast to the result format.",
                        ["y[i] = x0[i] + x1[i];"])


@emitter("mul", "elementwise.h.j2")
def _mul(node, ctx: LayerContext) -> dict:
    return _elementwise(node, ctx, "y = x0 * x1 (exact product), then cast to the result format.",
                        ["y[i] = x0[i] * x1[i];"])


# ----------------------------------------------------------------------------- conv
def _conv(node, ctx: LayerContext, one_d: bool) -> dict:
    v = common(node, ctx)
    shape_in, shape_out = ctx.in_shapes[0], tuple(node.output.shape)
    if one_d:
        (in_h, in_w, cin), (out_h, out_w, cout) = (1, *shape_in), (1, *shape_out)
    else:
        (in_h, in_w, cin), (out_h, out_w, cout) = shape_in, shape_out
    a = node.attrs
    lift = (lambda x: (1, x[0]) if len(x) == 1 else x) if one_d else (lambda x: x)
    kh, kw = lift(_pair1(a["kernel_size"], one_d))
    sh, sw = lift(_pair1(a.get("stride", 1), one_d))
    dh, dw = lift(_pair1(a.get("dilation", 1), one_d))
    pt, pl = lift(_pads(a.get("padding", 0), one_d))
    w = node.param_raw("weight").reshape(kh * kw * cin, cout)
    rf, taps = v["rf"], kh * kw * cin
    accum = slot(node, "accum")
    v.update(
        in_t=v["in_t"][0], in_h=in_h, in_w=in_w, cin=cin, out_h=out_h, out_w=out_w, cout=cout,
        kh=kh, kw=kw, sh=sh, sw=sw, dh=dh, dw=dw, pt=pt, pl=pl, taps=taps,
        weight_t=ctx.use_type(slot(node, "weight"), f"{node.name} weight"),
        bias_t=ctx.use_type(slot(node, "bias"), f"{node.name} bias"),
        accum_t=ctx.use_type(accum, f"{node.name} accum"),
        weights=c_initializer(w, slot(node, "weight")), bias=const_array(node, "bias"),
        n_mult=math.ceil(taps * cout / rf), partition=math.ceil(taps / rf),
        product_cast=bool(a.get("product_cast", False)),
    )
    return v


def _pair1(value, one_d: bool) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) if one_d else (value, value)
    return tuple(int(x) for x in value)


def _pads(value, one_d: bool) -> tuple[int, ...]:
    """Leading (top/left) zero padding; trailing padding is implied by the output shape."""
    if isinstance(value, int):
        return (value,) if one_d else (value, value)
    value = [int(x) for x in value]
    dims = 1 if one_d else 2
    return tuple(value[:dims])


@emitter("conv1d", "conv.h.j2")
def _conv1d(node, ctx: LayerContext) -> dict:
    return _conv(node, ctx, one_d=True)


@emitter("conv2d", "conv.h.j2")
def _conv2d(node, ctx: LayerContext) -> dict:
    return _conv(node, ctx, one_d=False)


# ----------------------------------------------------------------------------- data movement
def _copy(node, ctx: LayerContext, summary: str, outer: int, counts: list[int]) -> dict:
    v = common(node, ctx)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
    v.update(summary=summary, outer=outer, inner=int(sum(counts)), segments=[
        {"port": p, "count": c, "offset": o, "what": f"input {p}: {c} value(s) at offset {o}"}
        for p, (c, o) in enumerate(zip(counts, offsets))])
    return v


def _reshape(node, ctx: LayerContext) -> dict:
    return _copy(node, ctx, f"{list(ctx.in_shapes[0])} -> {list(node.output.shape)}; row-major "
                 "order is unchanged, so this is a copy.", 1, [size(ctx.in_shapes[0])])


emitter("reshape", "copy.h.j2")(_reshape)
emitter("flatten", "copy.h.j2")(_reshape)


@emitter("concat", "copy.h.j2")
def _concat(node, ctx: LayerContext) -> dict:
    axis = node.attrs.get("axis", -1)
    rank = len(node.output.shape)
    if axis not in (-1, rank - 1):
        raise ModelError(f"node {node.name!r}: the HLS backend concatenates along the last "
                         f"(channel) axis only, got axis={axis}")
    outer = size(node.output.shape[:-1])
    return _copy(node, ctx, f"concatenate {len(ctx.in_shapes)} tensors along the channels.",
                 outer, [s[-1] for s in ctx.in_shapes])


# ----------------------------------------------------------------------------- pooling
def _pool(node, ctx: LayerContext, kind: str, one_d: bool) -> dict:
    v = common(node, ctx)
    shape_in, shape_out = ctx.in_shapes[0], tuple(node.output.shape)
    if one_d:
        shape_in, shape_out = (1, *shape_in), (1, *shape_out)
    a = node.attrs
    lift = (lambda x: (1, x[0]) if len(x) == 1 else x) if one_d else (lambda x: x)
    kh, kw = lift(_pair1(a["kernel_size"], one_d))
    sh, sw = lift(_pair1(a.get("stride", a["kernel_size"]), one_d))
    pt, pl = lift(_pads(a.get("padding", 0), one_d))
    v.update(in_t=v["in_t"][0], in_h=shape_in[0], in_w=shape_in[1], c=shape_in[2],
             out_h=shape_out[0], out_w=shape_out[1], kh=kh, kw=kw, sh=sh, sw=sw, pt=pt, pl=pl,
             kind=kind)
    return v


@emitter("maxpool2d", "pool.h.j2")
def _maxpool2d(node, ctx: LayerContext) -> dict:
    v = _pool(node, ctx, "max", one_d=False)
    v.update(acc_t=v["in_t"], finish=["y[(oh * %d + ow) * %d + ch] = acc;" % (v["out_w"], v["c"])],
             summary="y = the largest input of the window (exact), cast to the result format.")
    return v


@emitter("maxpool1d", "pool.h.j2")
def _maxpool1d(node, ctx: LayerContext) -> dict:
    v = _pool(node, ctx, "max", one_d=True)
    v.update(acc_t=v["in_t"], finish=["y[(oh * %d + ow) * %d + ch] = acc;" % (v["out_w"], v["c"])],
             summary="y = the largest input of the window (exact), cast to the result format.")
    return v
