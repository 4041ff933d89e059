"""One emitter per op family: which template renders a node, and the values it needs.

An emitter receives the node and a :class:`LayerContext` and returns the template's variables:
types, sizes, constants' initializers, never C++ statements. The templates
(``templates/hls/<family>.h.j2``; the elementwise families extend ``elementwise.h.j2``) hold all
the C++ and define ``void <fn>(inputs..., result_t y[N])``; the top function calls them in
topological order. An emitter is registered for a group of the op registry
(``qhw.ops.group(Trait.X)``) or, for an op that is a family of its own, for its one name.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

import qhw.fixed as qf
from qhw.backends.hls.render import c_initializer, code_initializer, code_type
from qhw.errors import ModelError
from qhw.fixed import FixedFormat, cpp_literal
from qhw.ops import Trait, get as get_op, group, has
from qhw.ops.requantize import multiplier_format
from qhw.ops.shift import moved
from qhw.tables import hls4ml as h4


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


@dataclass(frozen=True)
class Emitter:
    template: str
    build: Callable[["object", LayerContext], dict]


_EMITTERS: dict[str, Emitter] = {}


def emitter(template: str, ops: str | Iterable[str]):
    """Decorator registering ``build(node, ctx) -> dict`` with ``template`` for ``ops``: one op
    name, or a group of the op registry (``qhw.ops.group(Trait.X)``), so an op family is one row
    and a new op with the family's traits is picked up without an edit here."""

    def register(build):
        for op in sorted([ops] if isinstance(ops, str) else ops):
            if op in _EMITTERS:
                raise ValueError(f"HLS emitter for op {op!r} registered twice")
            _EMITTERS[op] = Emitter(template, build)
        return build

    return register


def _windowed(op: str) -> bool:
    """True for an op over a sliding window of spatial axes (its OpDef's ``dims`` > 0)."""
    return getattr(get_op(op), "dims", 0) > 0


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


# ----------------------------------------------------------------------------- dense
def _bias(node, ctx: LayerContext) -> dict:
    """The optional bias as raw codes: the accumulator starts from it (assigned to accum), else
    from 0."""
    if "bias" not in node.params:
        return {"has_bias": False, "bias_t": "", "bias": "", "bias_ctype": "", "bias_w": 0}
    fmt = slot(node, "bias")
    return {"has_bias": True, "bias_t": ctx.use_type(fmt, f"{node.name} bias"),
            "bias": code_initializer(node.param_raw("bias"), fmt), "bias_ctype": code_type(fmt),
            "bias_w": fmt.width}


def _weights(node, ctx: LayerContext, shape: tuple[int, int]) -> dict:
    """The weights as raw codes of shape (inputs or taps, outputs) in the smallest standard
    integer type; the template reads each into weight_t with .range() (exact)."""
    fmt = slot(node, "weight")
    return {"weight_t": ctx.use_type(fmt, f"{node.name} weight"), "weight_w": fmt.width,
            "weight_ctype": code_type(fmt),
            "weights": code_initializer(node.param_raw("weight").reshape(shape), fmt)}


@emitter("dense.h.j2", {op for op in group(Trait.MAC) if not _windowed(op)})
def _dense(node, ctx: LayerContext) -> dict:
    v = common(node, ctx)
    k, m = node.params["weight"].shape
    rows, rf = size(ctx.in_shapes[0][:-1]), v["rf"]
    v.update(
        k=k, m=m, rows=rows, in_t=v["in_t"][0], **_weights(node, ctx, (k, m)),
        accum_t=ctx.use_type(slot(node, "accum"), f"{node.name} accum"),
        **_bias(node, ctx),
        n_mult=math.ceil(k * m / rf),
        partition=math.ceil(k / rf),
        product_cast=bool(node.attrs.get("product_cast", False)),
    )
    return v


# ----------------------------------------------------------------------------- elementwise
def _elementwise(node, ctx: LayerContext, **values) -> dict:
    """The variables of templates extending elementwise.h.j2 (``common`` + ``lanes``), checked
    sizes, and the family's own ``values``."""
    v = common(node, ctx)
    for i, n in enumerate(v["in_n"]):
        if n != v["n"]:
            raise ModelError(f"node {node.name!r} ({node.op}): input {i} has {n} elements, "
                             f"the result {v['n']}; elementwise ops need equal sizes")
    v.update(lanes=math.ceil(v["n"] / v["rf"]), **values)
    return v


@emitter("clamp.h.j2", group(Trait.CLAMP))
def _clamp(node, ctx: LayerContext) -> dict:
    """relu / relu6 / clip: the bounds' codes in the input format (None: no bound there)."""
    fmt = ctx.in_fmts[0]
    lo, hi = get_op(node.op, node.name).limits(node)
    # lo rounded up and hi rounded down onto the input grid, kept inside the input's range
    rlo = fmt.raw_min if lo is None else max(fmt.raw_min, math.ceil(lo / fmt.lsb))
    rhi = fmt.raw_max if hi is None else min(fmt.raw_max, math.floor(hi / fmt.lsb))
    return _elementwise(node, ctx, lo=lo, hi=hi,
                        lo_value=cpp_literal(rlo, fmt) if rlo > fmt.raw_min else None,
                        hi_value=cpp_literal(rhi, fmt) if rhi < fmt.raw_max else None)


@emitter("output.h.j2", group(Trait.IO, Trait.MOVE))
def _output(node, ctx: LayerContext) -> dict:
    return _elementwise(node, ctx)


#: the C++ operator computing each merge op's exact arithmetic (its OpDef's ``exact``)
_OPERATORS = {qf.add: ("+", "sum"), qf.mul: ("*", "product")}


@emitter("merge.h.j2", group(Trait.MERGE))
def _merge(node, ctx: LayerContext) -> dict:
    exact = get_op(node.op, node.name).exact
    if exact not in _OPERATORS:
        raise ModelError(f"node {node.name!r} ({node.op}): the HLS backend has no C++ operator "
                         f"for its exact arithmetic {exact.__name__}")
    operator, what = _OPERATORS[exact]
    return _elementwise(node, ctx, operator=operator, what=what)


@emitter("shift.h.j2", "shift")
def _shift(node, ctx: LayerContext) -> dict:
    s = int(node.attrs["shift"])
    moved_t = ctx.use_type(moved(ctx.in_fmts[0], s), f"{node.name} shifted input")
    return _elementwise(node, ctx, shift=s, moved_t=moved_t, width=ctx.in_fmts[0].width)


@emitter("requantize.h.j2", "requantize")
def _requantize(node, ctx: LayerContext) -> dict:
    fmt = ctx.in_fmts[0]
    prod = get_op(node.op, node.name).product_format(node, fmt)
    prod_t = ctx.use_type(prod, f"{node.name} product")
    m = np.asarray(node.attrs["multiplier"], np.int64)
    return _elementwise(node, ctx, shift=int(node.attrs["shift"]), prod_t=prod_t,
                        x_width=fmt.width, x_signed=fmt.signed, p_width=prod.width,
                        m_width=multiplier_format(node).width,
                        multiplier=int(m) if m.ndim == 0 else None,
                        multipliers=None if m.ndim == 0 else [int(v) for v in m.ravel()])


@emitter("hard_sigmoid.h.j2", "hard_sigmoid")
def _hard_sigmoid(node, ctx: LayerContext) -> dict:
    x, sf = ctx.in_fmts[0], slot(node, "scale")
    sum_fmt = qf.add_format(qf.mul_format(x, sf), sf)
    sum_t = ctx.use_type(sum_fmt, f"{node.name} slope * x + offset")
    scale_t = ctx.use_type(sf, f"{node.name} scale")
    slope, offset = node.attrs["slope"], node.attrs["offset"]
    return _elementwise(node, ctx, sum_t=sum_t, scale_t=scale_t, slope=slope, offset=offset,
                        slope_value=cpp_literal(int(sf.quantize(slope)), sf),
                        offset_value=cpp_literal(int(sf.quantize(offset)), sf),
                        one_value=cpp_literal(min(sum_fmt.raw_max, math.floor(1.0 / sum_fmt.lsb)),
                                              sum_fmt))


# ----------------------------------------------------------------------------- conv
def _geometry(node, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> dict:
    """Spatial parameters in 2-D form (a 1-D op is a 2-D one of height 1): in_h/in_w/cin,
    out_h/out_w, kh/kw, sh/sw (stride, default the kernel for pools), dh/dw, pt/pl (leading
    zero padding; the trailing padding is implied by the output size)."""
    dims = len(in_shape) - 1
    a = node.attrs

    def hw(value, fill: int) -> tuple[int, int]:
        t = (int(value),) * dims if isinstance(value, (int, np.integer)) else \
            tuple(int(x) for x in value)[:dims]
        return (fill, *t) if dims == 1 else t

    (in_h, in_w), (out_h, out_w) = hw(in_shape[:-1], 1), hw(out_shape[:-1], 1)
    (kh, kw) = hw(a["kernel_size"], 1)
    (sh, sw) = hw(a.get("stride") or a["kernel_size"], 1) if has(node.op, Trait.POOL) \
        else hw(a.get("stride", 1), 1)
    (dh, dw) = hw(a.get("dilation", 1), 1)
    (pt, pl) = hw(a.get("padding", 0), 0)
    return dict(in_h=in_h, in_w=in_w, cin=in_shape[-1], out_h=out_h, out_w=out_w,
                cout=out_shape[-1], kh=kh, kw=kw, sh=sh, sw=sw, dh=dh, dw=dw, pt=pt, pl=pl)


@emitter("conv.h.j2", {op for op in group(Trait.MAC) if _windowed(op)})
def _conv(node, ctx: LayerContext) -> dict:
    v = common(node, ctx)
    v.update(_geometry(node, ctx.in_shapes[0], tuple(node.output.shape)))
    taps, cout, rf = v["kh"] * v["kw"] * v["cin"], v["cout"], v["rf"]
    v.update(
        in_t=v["in_t"][0], taps=taps, **_weights(node, ctx, (taps, cout)),
        accum_t=ctx.use_type(slot(node, "accum"), f"{node.name} accum"), **_bias(node, ctx),
        n_mult=math.ceil(taps * cout / rf), partition=math.ceil(taps / rf),
        product_cast=bool(node.attrs.get("product_cast", False)),
    )
    return v


# ----------------------------------------------------------------------------- data movement
def _copy(node, ctx: LayerContext, summary: str, outer: int, counts: list[int]) -> dict:
    v = common(node, ctx)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
    v.update(summary=summary, outer=outer, inner=int(sum(counts)), segments=[
        {"port": p, "count": c, "offset": o, "what": f"input {p}: {c} value(s) at offset {o}"}
        for p, (c, o) in enumerate(zip(counts, offsets))])
    return v


@emitter("copy.h.j2", group(Trait.RESHAPE))
def _reshape(node, ctx: LayerContext) -> dict:
    return _copy(node, ctx, f"{list(ctx.in_shapes[0])} -> {list(node.output.shape)}; row-major "
                 "order is unchanged, so this is a copy.", 1, [size(ctx.in_shapes[0])])


@emitter("copy.h.j2", "concat")
def _concat(node, ctx: LayerContext) -> dict:
    axis = node.attrs.get("axis", -1)
    rank = len(node.output.shape)
    if axis not in (-1, rank - 1):
        raise ModelError(f"node {node.name!r}: the HLS backend concatenates along the last "
                         f"(channel) axis only, got axis={axis}")
    outer = size(node.output.shape[:-1])
    return _copy(node, ctx, f"concatenate {len(ctx.in_shapes)} tensors along the channels.",
                 outer, [s[-1] for s in ctx.in_shapes])


@emitter("upsample.h.j2", "upsample")
def _upsample(node, ctx: LayerContext) -> dict:
    shape = tuple(ctx.in_shapes[0])
    if len(shape) not in (2, 3):
        raise ModelError(f"node {node.name!r}: the HLS backend upsamples 1-D and 2-D tensors "
                         f"(L, C) or (H, W, C), got {shape}")
    fs = get_op(node.op, node.name).factors(node, len(shape))
    fh, fw = (1, fs[0]) if len(fs) == 1 else fs
    in_h, in_w = (1, shape[0]) if len(shape) == 2 else shape[:2]
    v = common(node, ctx)
    v.update(in_t=v["in_t"][0], in_h=in_h, in_w=in_w, c=shape[-1], fh=fh, fw=fw,
             out_h=in_h * fh, out_w=in_w * fw)
    return v


@emitter("depth_to_space.h.j2", "depth_to_space")
def _depth_to_space(node, ctx: LayerContext) -> dict:
    h, w, c = ctx.in_shapes[0]
    b = int(node.attrs["block_size"])
    v = common(node, ctx)
    v.update(in_t=v["in_t"][0], in_h=h, in_w=w, c_in=c, c_out=c // (b * b), b=b, mode=node.attrs["mode"])
    return v


@emitter("gather.h.j2", {op for op in group(Trait.GATHER) if getattr(get_op(op), "index_table", False)})
def _gather(node, ctx: LayerContext) -> dict:
    """transpose / pad: each output element copies the input element the op's own gather map
    names (or writes 0)."""
    op = get_op(node.op, node.name)
    src = op.source_index(node, tuple(ctx.in_shapes[0]))
    v = common(node, ctx)
    res = slot(node, "result")
    fill = getattr(op, "fill", lambda n: 0)(node)  # pad's constant, raw input code
    fill = int(res.cast(np.array([fill]), ctx.in_fmts[0])[0])
    v.update(in_t=v["in_t"][0], summary=f"{list(ctx.in_shapes[0])} -> {list(node.output.shape)}, {op.summary(node)}",
             src="{" + ", ".join(str(int(i)) for i in src) + "}",
             fill="0" if fill == 0 else f"{v['result_t']}({cpp_literal(fill, res)})")
    return v


@emitter("threshold.h.j2", "threshold")
def _threshold(node, ctx: LayerContext) -> dict:
    op = get_op(node.op, node.name)
    x = ctx.in_fmts[0]
    codes = op.codes(node, x)
    thr_f = FixedFormat(x.width + 2, x.integer_bits + 2, True)  # holds raw_max + 1, signed
    v = common(node, ctx)
    v.update(in_t=v["in_t"][0], rows=codes.shape[0], steps=codes.shape[1],
             thr_t=ctx.use_type(thr_f, f"{node.name} thresholds"),
             thresholds=c_initializer(codes, thr_f),
             outputs=c_initializer(op.outputs(node, slot(node, "result")), slot(node, "result")),
             out_scale=node.attrs["out_scale"], out_bias=node.attrs["out_bias"])
    return v


# ----------------------------------------------------------------------------- pooling
@emitter("pool.h.j2", group(Trait.POOL))
def _pool(node, ctx: LayerContext) -> dict:
    """max pools (the POOL ops that MOVE values: the max is one of them) and average pools."""
    v = common(node, ctx)
    v.update(_geometry(node, ctx.in_shapes[0], tuple(node.output.shape)))
    v.update(in_t=v["in_t"][0], c=v["cin"], taps=v["kh"] * v["kw"])
    if has(node.op, Trait.MOVE):
        # hls4ml returns the max as accum_t (when configured), then assigns it to y
        accum = node.formats.get("accum")
        v.update(kind="max", acc_t=v["in_t"], accum_t=None if accum is None else
                 ctx.use_type(accum, node.name + " accum"))
        return v
    sum_fmt = get_op(node.op, node.name).sum_format(node, ctx.in_fmts[0])
    scale, accum = slot(node, "scale"), slot(node, "accum")
    scale_t = ctx.use_type(scale, f"{node.name} scale")
    divisor = get_op(node.op, node.name).divisor(node)
    v.update(kind="sum", scale_t=scale_t, divisor=divisor,
             acc_t=ctx.use_type(sum_fmt, f"{node.name} window sum"),
             recip=cpp_literal(int(scale.quantize(1.0 / divisor)), scale),
             accum_t=ctx.use_type(accum, node.name + " accum"))
    return v


# ----------------------------------------------------------------------------- tables
def _table_values(ctx: LayerContext, raw: np.ndarray, fmt: FixedFormat, what: str) -> dict:
    """A table constant: its entries' ap type (registered as used by ``what``), size, and its raw
    codes as an integer initializer of the C type ``ctype`` (:func:`code_initializer`), each
    entry read into ``type`` with ``.range(width - 1, 0)`` (exact). Plain constant data: g++
    builds it at once, where an ap_fixed initializer (a double) per entry took minutes for a
    few thousand entries."""
    return {"type": ctx.use_type(fmt, f"{ctx.fn} {what}"), "size": int(raw.size),
            "ctype": code_type(fmt), "width": fmt.width, "values": code_initializer(raw, fmt)}


@emitter("table.h.j2", group(Trait.ELEMENTWISE, Trait.TABLE))
def _lut(node, ctx: LayerContext) -> dict:
    obj = get_op(node.op, node.name).table(node, ctx.in_fmts[0])
    x = ctx.in_fmts[0]
    values = {"function": obj.function, "variant": node.attrs.get("variant"),
              "x_width": x.width, "x_signed": x.signed}
    if node.attrs.get("variant") == "pwl":
        values.update(_pwl(node, ctx, obj))
    else:
        values.update(_rom(node, ctx, obj))
    return _elementwise(node, ctx, **values)


def _rom(node, ctx: LayerContext, t) -> dict:
    """RomTable → index arithmetic on the raw input code (as qhw.tables.RomTable.address)."""
    tf = t.table_fmt
    table = _table_values(ctx, t.values, tf, f"{t.function} table ({t.convention})")
    v = {"variant": "rom", "convention": t.convention, "half": t.half, "size": t.size,
         "entries": int(t.values.size), "table_fmt": str(tf), "table_t": table["type"],
         "table_ctype": table["ctype"], "table_width": tf.width,
         "table_values": table["values"], "shift": t.shift, "lo_raw": t.lo_raw}
    if t.convention == "hls4ml":
        span, mult, den = h4.index_range(t.function, t.in_fmt, t.size)
        v.update(span=span, mult=mult, den=den, last=t.size - 1)
    else:
        v.update(last=(t.size // 2 if t.half else t.size) - 1)
    if t.half:
        ww = tf.width + 2
        if ww > 64:
            raise ModelError(f"node {node.name!r}: half table of {tf} needs {ww} > 64 bits")
        wide = FixedFormat(ww, tf.integer_bits + 2, True)
        v.update(wide_t=ctx.use_type(wide, f"{node.name} mirrored entry"), wide_width=ww,
                 one=(1 << tf.frac_bits) if tf.frac_bits >= 0 else 0)
    return v


def _pwl(node, ctx: LayerContext, p) -> dict:
    """PwlFunction → compare chain, one multiply, one add (as PwlFunction.evaluate)."""
    sf = p.sum_format()
    prod_f = p.in_fmt.frac_bits + p.slope_fmt.frac_bits
    return {"sum_t": ctx.use_type(sf, f"{node.name} segment value"), "sum_width": sf.width,
            "breakpoints": [int(v) for v in p.breakpoints_raw],
            "slopes": [int(v) for v in p.slopes_raw],
            "intercepts": [int(v) for v in p.intercepts_raw],
            "slope_fmt": str(p.slope_fmt), "intercept_fmt": str(p.intercept_fmt),
            "intercept_shift": sf.frac_bits - p.intercept_fmt.frac_bits,
            "product_shift": sf.frac_bits - prod_f, "one": 1 << sf.frac_bits}


# ----------------------------------------------------------------------------- embedding
@emitter("embedding.h.j2", "embedding")
def _embedding(node, ctx: LayerContext) -> dict:
    """Per-row quantized table: the codes and row scales of qhw.ops.embedding as integer code
    arrays, exact."""
    codes, scales = get_op(node.op, node.name).rows(node)
    code_f, scale_f = slot(node, "table"), slot(node, "scale")
    v = common(node, ctx)
    v.update(length=int(node.shape[0]), dim=int(node.shape[1]), rows=int(codes.shape[0]),
             code_t=ctx.use_type(code_f, f"{node.name} row codes"),
             scale_t=ctx.use_type(scale_f, f"{node.name} row scales"),
             codes=code_initializer(codes.reshape(-1), code_f), code_ctype=code_type(code_f),
             code_w=code_f.width, scales=code_initializer(scales, scale_f),
             scale_ctype=code_type(scale_f), scale_w=scale_f.width)
    return v


# ----------------------------------------------------------------------------- softmax
@emitter("softmax.h.j2", "softmax")
def _softmax(node, ctx: LayerContext) -> dict:
    """max, exp ROM on x - max, exact sum, reciprocal ROM, product (qhw.ops.softmax)."""
    v = common(node, ctx)
    n_in = v["in_n"][0]
    v.update(variant=node.attrs["variant"], n_in=n_in)
    if node.attrs["variant"] == "hls4ml":
        return _softmax_hls4ml(node, ctx, v)
    if node.attrs["variant"] == "argmax":
        v["summary"] = "index of the first maximum."
        return v
    op = get_op(node.op, node.name)
    xf = ctx.in_fmts[0]
    ex, inv = op.tables(node, xf, n_in)
    df, acc = op.diff_format(xf), slot(node, "accum")
    ef, rf_ = slot(node, "exp_table"), slot(node, "inv_table")
    v.update(summary="max, exp ROM on x - max, exact sum, reciprocal ROM, e * (1/sum).",
             exp_t=ctx.use_type(ef, f"{node.name} exp entries"),
             inv_t=ctx.use_type(rf_, f"{node.name} reciprocal entries"),
             acc_t=ctx.use_type(acc, f"{node.name} sum"), d_t=ctx.use_type(df, f"{node.name} x - max"),
             d_w=df.width, acc_w=acc.width, exp_n=ex.values.size, inv_n=inv.values.size,
             exp_values=code_initializer(ex.values, ef), inv_values=code_initializer(inv.values, rf_),
             exp_ctype=code_type(ef), inv_ctype=code_type(rf_), exp_w=ef.width, inv_w=rf_.width,
             exp_lo=ex.lo_raw, exp_shift=ex.shift, inv_lo=inv.lo_raw, inv_shift=inv.shift)
    return v


def _softmax_hls4ml(node, ctx: LayerContext, v: dict) -> dict:
    """hls4ml's softmax (qhw.ops.softmax, variant hls4ml): the same ap_fixed operations in the
    same order, the tables as constants."""
    a, f, x = node.attrs, node.formats, ctx.in_fmts[0]
    impl = a["implementation"]
    v.update(implementation=impl, skip=bool(a["skip"]))
    if a["skip"]:
        v["summary"] = "skipped (hls4ml removes the layer): y = x."
        return v
    if impl == "argmax":
        v["summary"] = "hls4ml argmax: one-hot of the first maximum."
        return v
    t = get_op(node.op, node.name).hls4ml_tables(node, x)
    if impl == "legacy":
        tf = f["table"]
        tt = ctx.use_type(tf, f"{node.name} table entries")
        ex = _table_values(ctx, t["exp"], tf, "exp table (hls4ml legacy)")
        inv = _table_values(ctx, t["inv"], tf, "inverse table (hls4ml legacy)")
        df = FixedFormat(x.width + 1, x.integer_bits + 1, True)
        _, num, den = h4.index_range("exp", df, t["exp_n"])
        inum, iden = (t["inv_n"], 64 << tf.frac_bits) if tf.frac_bits >= 0 else (t["inv_n"] << -tf.frac_bits, 64)
        v.update(summary="hls4ml legacy: per element, the sum of exp(x_j - x_i) from the table, "
                 "then the inverse table.",
                 exp_t=tt, inv_t=tt, exp_size=ex["size"], inv_size=inv["size"],
                 exp_values=ex["values"], inv_values=inv["values"], exp_ctype=ex["ctype"],
                 inv_ctype=inv["ctype"], exp_w=ex["width"], inv_w=inv["width"],
                 d_t=ctx.use_type(df, f"{node.name} x_j - x_i"), d_w=df.width,
                 exp_n=t["exp_n"], inv_n=t["inv_n"], exp_num=num, exp_den=den,
                 exp_mid=(8 * t["exp_n"]) // 16, table_w=tf.width, inv_num=inum, inv_den=iden)
        return v
    ef, acc, ii, tf = f["exp_table"], f["accum"], f["inv_inp"], f["inv_table"]
    et, at = ctx.use_type(ef, f"{node.name} exp entries"), ctx.use_type(acc, f"{node.name} accum")
    it, rt = ctx.use_type(ii, f"{node.name} sum"), ctx.use_type(tf, f"{node.name} inverse entries")
    ex = _table_values(ctx, t["exp"], ef, "exp table (hls4ml)")
    inv = _table_values(ctx, t["inv"], tf, "inverse table (hls4ml)")
    addr = t["addr"]
    sums = []

    def tree(node_) -> dict:
        """hls4ml's reduction order as operands: leaf e[index] or partial sum p<index>."""
        if isinstance(node_, int):
            return {"leaf": True, "index": node_}
        left, right = tree(node_[0]), tree(node_[1])
        sums.append({"left": left, "right": right})
        return {"leaf": False, "index": len(sums) - 1}

    root = tree(h4.reduce_order(v["n_in"]))
    v.update(summary=f"hls4ml {impl}: exp table at the top bits, tree sum in accum_t, inverse "
             "table at the top bits of the sum, e * (1/sum).",
             exp_t=et, acc_t=at, sum_t=it, inv_t=rt, exp_size=ex["size"], inv_size=inv["size"],
             exp_values=ex["values"], inv_values=inv["values"], exp_ctype=ex["ctype"],
             inv_ctype=inv["ctype"], exp_w=ex["width"], inv_w=inv["width"],
             addr_t=ctx.use_type(addr, f"{node.name} exp table address"), addr_w=addr.width,
             exp_bits=h4.ceillog2(t["exp_n"]), inv_bits=h4.ceillog2(t["inv_n"]), sum_w=ii.width,
             sums=sums, root=root)
    return v
