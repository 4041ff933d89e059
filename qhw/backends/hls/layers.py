"""One emitter per op: which template renders a node, and the values it needs.

An emitter receives the node and a :class:`LayerContext` and returns the template's variables. The
templates (``templates/hls/<kind>.h.j2``) define ``void <fn>(inputs..., result_t y[N])``; the top
function calls them in topological order. Registering an op here is all the backend needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from qhw.backends.hls.render import c_initializer
from qhw.errors import ModelError
from qhw.fixed import FixedFormat, cpp_literal


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
def _bias(node, ctx: LayerContext) -> dict:
    """The optional bias: the accumulator starts from it (assigned to accum), else from 0."""
    if "bias" not in node.params:
        return {"has_bias": False, "bias_t": "", "bias": ""}
    return {"has_bias": True, "bias_t": ctx.use_type(slot(node, "bias"), f"{node.name} bias"),
            "bias": const_array(node, "bias")}


@emitter("dense", "dense.h.j2")
def _dense(node, ctx: LayerContext) -> dict:
    v = common(node, ctx)
    k, m = node.params["weight"].shape
    rows, rf = size(ctx.in_shapes[0][:-1]), v["rf"]
    v.update(
        k=k, m=m, rows=rows, in_t=v["in_t"][0],
        x_at=f"r * {k} + i" if rows > 1 else "i", y_at=f"r * {m} + j" if rows > 1 else "j",
        weight_t=ctx.use_type(slot(node, "weight"), f"{node.name} weight"),
        accum_t=ctx.use_type(slot(node, "accum"), f"{node.name} accum"),
        weights=c_initializer(node.param_raw("weight"), slot(node, "weight")),
        **_bias(node, ctx),
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


def _clamp(node, ctx: LayerContext) -> dict:
    """relu / relu6 / clip: clamp to the bounds' codes in the input format, then assign."""
    from qhw.ops import get as get_op

    fmt = ctx.in_fmts[0]
    lo, hi = get_op(node.op, node.name).limits(node)
    # lo rounded up and hi rounded down onto the input grid, kept inside the input's range
    rlo = fmt.raw_min if lo is None else max(fmt.raw_min, math.ceil(lo / fmt.lsb))
    rhi = fmt.raw_max if hi is None else min(fmt.raw_max, math.floor(hi / fmt.lsb))
    in_t = ctx.use_type(fmt, f"input of {node.name}")
    constants, body = [], [f"{in_t} v = x0[i];"]
    if rlo > fmt.raw_min:
        constants.append({"type": in_t, "name": f"{ctx.fn}_lo", "value": cpp_literal(rlo, fmt),
                          "what": f"lower bound {lo} on the input grid"})
        body.append(f"if (v < {ctx.fn}_lo) v = {ctx.fn}_lo;")
    if rhi < fmt.raw_max:
        constants.append({"type": in_t, "name": f"{ctx.fn}_hi", "value": cpp_literal(rhi, fmt),
                          "what": f"upper bound {hi} on the input grid"})
        body.append(f"if (v > {ctx.fn}_hi) v = {ctx.fn}_hi;")
    body.append("y[i] = v;")
    return _elementwise(node, ctx, f"y = clamp(x, {lo}, {hi}) in the input format, then cast "
                        "to the result format.", body, constants)


for _op in ("relu", "relu6", "clip"):
    emitter(_op, "elementwise.h.j2")(_clamp)


@emitter("output", "elementwise.h.j2")
def _output(node, ctx: LayerContext) -> dict:
    return _elementwise(node, ctx, "graph output: y = x assigned to the output format.",
                        ["y[i] = x0[i];"])


@emitter("shift", "elementwise.h.j2")
def _shift(node, ctx: LayerContext) -> dict:
    from qhw.ops.shift import moved

    s = int(node.attrs["shift"])
    moved_t = ctx.use_type(moved(ctx.in_fmts[0], s), f"{node.name} shifted input")
    w = ctx.in_fmts[0].width
    return _elementwise(node, ctx, f"y = x * 2^{s}: the same bits read as {moved_t} (the binary "
                        "point moves), then cast to the result format.",
                        [f"{moved_t} v;", f"v.range({w - 1}, 0) = x0[i].range({w - 1}, 0);",
                         "y[i] = v;"])


@emitter("requantize", "elementwise.h.j2")
def _requantize(node, ctx: LayerContext) -> dict:
    from qhw.ops import get as get_op
    from qhw.ops.requantize import multiplier_format

    fmt = ctx.in_fmts[0]
    mf = multiplier_format(node)
    prod = get_op("requantize", node.name).product_format(node, fmt)
    prod_t = ctx.use_type(prod, f"{node.name} product")
    m = np.asarray(node.attrs["multiplier"], np.int64)
    shift = int(node.attrs["shift"])
    xw, pw = fmt.width, prod.width
    xint = f"ap_{'' if fmt.signed else 'u'}int<{xw}>"
    constants = []
    if m.ndim == 0:
        mult = f"ap_int<{mf.width}>({int(m)})"
    else:
        constants.append({"type": f"ap_int<{mf.width}>", "name": f"{ctx.fn}_m[{m.size}]",
                          "value": "{" + ", ".join(str(int(v)) for v in m) + "}",
                          "what": "multiplier per channel (last axis)"})
        mult = f"{ctx.fn}_m[i % {m.size}]"
    body = [f"{xint} xr;", f"xr.range({xw - 1}, 0) = x0[i].range({xw - 1}, 0);",
            f"ap_int<{pw}> pr = xr * {mult};  // exact integer product",
            f"{prod_t} p;", f"p.range({pw - 1}, 0) = pr.range({pw - 1}, 0);  // value x * m * 2^-{shift}",
            "y[i] = p;"]
    return _elementwise(node, ctx, f"y = x * m * 2^-{shift} (exact), then cast to the result "
                        "format (its rounding mode rounds the shift).", body, constants)


@emitter("add", "elementwise.h.j2")
def _add(node, ctx: LayerContext) -> dict:
    return _elementwise(node, ctx, "y = x0 + x1 (exact sum), then cast to the result format.",
                        ["y[i] = x0[i] + x1[i];"])


@emitter("mul", "elementwise.h.j2")
def _mul(node, ctx: LayerContext) -> dict:
    return _elementwise(node, ctx, "y = x0 * x1 (exact product), then cast to the result format.",
                        ["y[i] = x0[i] * x1[i];"])


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
    (sh, sw) = hw(a.get("stride") or a["kernel_size"], 1) if node.op.startswith(("max", "avg")) \
        else hw(a.get("stride", 1), 1)
    (dh, dw) = hw(a.get("dilation", 1), 1)
    (pt, pl) = hw(a.get("padding", 0), 0)
    return dict(in_h=in_h, in_w=in_w, cin=in_shape[-1], out_h=out_h, out_w=out_w,
                cout=out_shape[-1], kh=kh, kw=kw, sh=sh, sw=sw, dh=dh, dw=dw, pt=pt, pl=pl)


def _conv(node, ctx: LayerContext) -> dict:
    v = common(node, ctx)
    v.update(_geometry(node, ctx.in_shapes[0], tuple(node.output.shape)))
    taps, cout, rf = v["kh"] * v["kw"] * v["cin"], v["cout"], v["rf"]
    w = node.param_raw("weight").reshape(taps, cout)
    v.update(
        in_t=v["in_t"][0], taps=taps,
        weight_t=ctx.use_type(slot(node, "weight"), f"{node.name} weight"),
        accum_t=ctx.use_type(slot(node, "accum"), f"{node.name} accum"),
        weights=c_initializer(w, slot(node, "weight")), **_bias(node, ctx),
        n_mult=math.ceil(taps * cout / rf), partition=math.ceil(taps / rf),
        product_cast=bool(node.attrs.get("product_cast", False)),
    )
    return v


for _op in ("conv1d", "conv2d"):
    emitter(_op, "conv.h.j2")(_conv)


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


@emitter("upsample", "upsample.h.j2")
def _upsample(node, ctx: LayerContext) -> dict:
    from qhw.ops import get as get_op

    shape = tuple(ctx.in_shapes[0])
    if len(shape) not in (2, 3):
        raise ModelError(f"node {node.name!r}: the HLS backend upsamples 1-D and 2-D tensors "
                         f"(L, C) or (H, W, C), got {shape}")
    fs = get_op("upsample", node.name).factors(node, len(shape))
    fh, fw = (1, fs[0]) if len(fs) == 1 else fs
    in_h, in_w = (1, shape[0]) if len(shape) == 2 else shape[:2]
    v = common(node, ctx)
    v.update(in_t=v["in_t"][0], in_h=in_h, in_w=in_w, c=shape[-1], fh=fh, fw=fw,
             out_h=in_h * fh, out_w=in_w * fw)
    return v


@emitter("depth_to_space", "depth_to_space.h.j2")
def _depth_to_space(node, ctx: LayerContext) -> dict:
    h, w, c = ctx.in_shapes[0]
    b = int(node.attrs["block_size"])
    v = common(node, ctx)
    v.update(in_t=v["in_t"][0], in_h=h, in_w=w, c_in=c, c_out=c // (b * b), b=b, mode=node.attrs["mode"])
    return v


@emitter("threshold", "threshold.h.j2")
def _threshold(node, ctx: LayerContext) -> dict:
    from qhw.ops import get as get_op

    op = get_op("threshold", node.name)
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
def _pool(node, ctx: LayerContext, kind: str) -> dict:
    v = common(node, ctx)
    v.update(_geometry(node, ctx.in_shapes[0], tuple(node.output.shape)))
    v.update(in_t=v["in_t"][0], c=v["cin"], kind=kind)
    return v


def _maxpool(node, ctx: LayerContext) -> dict:
    v = _pool(node, ctx, "max")
    finish = ["y[(oh * %d + ow) * %d + ch] = acc;" % (v["out_w"], v["c"])]
    if "accum" in node.formats:  # hls4ml: the max is returned as accum_t, then assigned to y
        finish = [f"const {ctx.use_type(node.formats['accum'], node.name + ' accum')} a = acc;",
                  "y[(oh * %d + ow) * %d + ch] = a;" % (v["out_w"], v["c"])]
    v.update(acc_t=v["in_t"], constants=[], finish=finish,
             pad_note="the golden pads with the smallest code, which never wins",
             summary="y = the largest input of the window (exact), cast to the result format.")
    return v


def _avgpool(node, ctx: LayerContext) -> dict:
    from qhw.ops import get as get_op

    v = _pool(node, ctx, "sum")
    taps = v["kh"] * v["kw"]
    sum_fmt = get_op(node.op, node.name).sum_format(node, ctx.in_fmts[0])
    scale, accum = slot(node, "scale"), slot(node, "accum")
    scale_t = ctx.use_type(scale, f"{node.name} scale")
    recip = int(scale.quantize(1.0 / taps))
    v.update(
        acc_t=ctx.use_type(sum_fmt, f"{node.name} window sum"), pad_note="they add zero",
        constants=[{"type": scale_t, "name": f"{ctx.fn}_recip", "value": cpp_literal(recip, scale),
                    "what": f"1/{taps} in the scale format"}],
        finish=[f"const {ctx.use_type(accum, node.name + ' accum')} a = acc;  // exact sum -> accum",
                "y[(oh * %d + ow) * %d + ch] = a * %s_recip;" % (v["out_w"], v["c"], ctx.fn)],
        summary=f"y = (window sum assigned to accum) * 1/{taps} (exact product), cast to the result.")
    return v


for _op in ("maxpool1d", "maxpool2d"):
    emitter(_op, "pool.h.j2")(_maxpool)
for _op in ("avgpool1d", "avgpool2d"):
    emitter(_op, "pool.h.j2")(_avgpool)


# ----------------------------------------------------------------------------- tables
def _raw_lines(fmt: FixedFormat, var: str = "r") -> list[str]:
    """C++ lines putting the raw code of ``x0[i]`` (format ``fmt``) into ``long long var``."""
    w = fmt.width
    kind = "ap_int" if fmt.signed else "ap_uint"
    return [f"{kind}<{w}> {var}_bits;", f"{var}_bits.range({w - 1}, 0) = x0[i].range({w - 1}, 0);",
            f"const long long {var} = {var}_bits.to_int64();  // raw code of x"]


def _table_constant(ctx: LayerContext, name: str, raw: np.ndarray, fmt: FixedFormat,
                    what: str) -> dict:
    return {"type": ctx.use_type(fmt, f"{ctx.fn} {what}"), "name": f"{ctx.fn}_{name}[{raw.size}]",
            "value": "{\n" + c_initializer(raw, fmt) + "\n}", "what": what}


def _shift_expr(var: str, k: int) -> str:
    return f"({var} >> {k})" if k >= 0 else f"({var} << {-k})"


def _rom(node, ctx: LayerContext, t) -> dict:
    """RomTable → index arithmetic on the raw input code (as qhw.tables.RomTable.address)."""
    fn, tf = ctx.fn, t.table_fmt
    body = _raw_lines(ctx.in_fmts[0])
    consts = [_table_constant(ctx, "table", t.values, tf, f"{t.function} table ({t.convention})")]
    if t.convention == "hls4ml":
        span = 16 if t.function == "sigmoid" else 8
        f = t.in_fmt.frac_bits
        mult, den = (t.size, span << f) if f >= 0 else (t.size << -f, span)
        body += [f"long long idx = (long long)(int)((r * {mult}) / {den}) + {t.size // 2};  // '/' truncates "
                 "toward zero, (int) keeps 32 bits, as hls4ml's index"]
        n = t.size
        how = f"index = trunc(x * {t.size} / {span}) + {t.size // 2} (hls4ml convention)"
    else:
        n = t.size // 2 if t.half else t.size
        src = "(r < 0 ? -r : r)" if t.half else f"(r - ({t.lo_raw}LL))"
        body += [f"long long idx = {_shift_expr(src, t.shift)};"]
        how = (f"index = |raw| {'>>' if t.shift >= 0 else '<<'} {abs(t.shift)}, half table"
               if t.half else
               f"index = (raw - {t.lo_raw}) {'>>' if t.shift >= 0 else '<<'} {abs(t.shift)}")
    body += ["if (idx < 0) idx = 0;", f"if (idx > {n - 1}) idx = {n - 1};"]
    if not t.half:
        body += [f"y[i] = {fn}_table[idx];"]
    else:
        ww = tf.width + 2
        if ww > 64:
            raise ModelError(f"node {node.name!r}: half table of {tf} needs {ww} > 64 bits")
        wide = FixedFormat(ww, tf.integer_bits + 2, True)
        wide_t = ctx.use_type(wide, f"{node.name} mirrored entry")
        one = (1 << tf.frac_bits) if (t.function == "sigmoid" and tf.frac_bits >= 0) else 0
        kind = "ap_int" if tf.signed else "ap_uint"
        mirror = f"{one}LL - e" if t.function == "sigmoid" else "-e"
        body += [f"{kind}<{tf.width}> e_bits;",
                 f"e_bits.range({tf.width - 1}, 0) = {fn}_table[idx].range({tf.width - 1}, 0);",
                 "const long long e = e_bits.to_int64();  // raw code of the entry",
                 f"ap_int<{ww}> v_bits = r < 0 ? ({mirror}) : e;  // f(-x) from f(|x|)",
                 f"{wide_t} v;", f"v.range({ww - 1}, 0) = v_bits.range({ww - 1}, 0);",
                 "y[i] = v;"]
    return _elementwise(node, ctx, f"{t.function} ROM, {t.values.size} entries of {tf}; {how}, "
                        "clamped; entry assigned to the result format.", body, consts)


def _pwl(node, ctx: LayerContext, p) -> dict:
    """PwlFunction → compare chain, one multiply, one add (as PwlFunction.evaluate)."""
    fn = ctx.fn
    b, s, c = p.breakpoints_raw, p.slopes_raw, p.intercepts_raw
    sf = p.sum_format()
    sum_t = ctx.use_type(sf, f"{node.name} segment value")
    prod_f = p.in_fmt.frac_bits + p.slope_fmt.frac_bits
    consts = [
        {"type": "long long", "name": f"{fn}_b[{b.size}]", "what": "breakpoints (input codes)",
         "value": "{" + ", ".join(f"{int(v)}LL" for v in b) + "}"},
        {"type": "long long", "name": f"{fn}_m[{s.size}]", "what": f"slopes (codes of {p.slope_fmt})",
         "value": "{" + ", ".join(f"{int(v)}LL" for v in s) + "}"},
        {"type": "long long", "name": f"{fn}_c[{c.size}]",
         "what": f"values at the breakpoints (codes of {p.intercept_fmt})",
         "value": "{" + ", ".join(f"{int(v)}LL" for v in c) + "}"},
    ]
    last = b.size - 1
    body = _raw_lines(ctx.in_fmts[0]) + [
        "const long long a = r < 0 ? -r : r;",
        "int seg = 0;",
        f"for (int j = 1; j < {b.size}; j++) if (a >= {fn}_b[j]) seg = j;",
        f"const long long t = seg == {last} ? 0 : a - {fn}_b[seg];",
        f"const long long prod = t * {fn}_m[seg < {s.size - 1} ? seg : {s.size - 1}];",
        f"long long v = ({fn}_c[seg] << {sf.frac_bits - p.intercept_fmt.frac_bits}) + "
        f"(prod << {sf.frac_bits - prod_f});  // on the {sum_t} grid",
        f"if (r < 0) v = {f'({1 << sf.frac_bits}LL - v)' if p.function == 'sigmoid' else '-v'};",
        f"{sum_t} s;", f"s.range({sf.width - 1}, 0) = ap_int<{sf.width}>(v).range({sf.width - 1}, 0);",
        "y[i] = s;",
    ]
    return _elementwise(node, ctx, f"piecewise-linear {p.function}, {b.size} breakpoints, "
                        f"mirrored for x < 0; segment value assigned to the result format.",
                        body, consts)


def _lut(node, ctx: LayerContext) -> dict:
    from qhw.ops import get as get_op

    obj = get_op(node.op, node.name).table(node, ctx.in_fmts[0])
    return _pwl(node, ctx, obj) if node.attrs.get("variant") == "pwl" else _rom(node, ctx, obj)


for _op in ("sigmoid", "tanh"):
    emitter(_op, "elementwise.h.j2")(_lut)


@emitter("hard_sigmoid", "elementwise.h.j2")
def _hard_sigmoid(node, ctx: LayerContext) -> dict:
    import qhw.fixed as qf

    x, sf = ctx.in_fmts[0], slot(node, "scale")
    sum_fmt = qf.add_format(qf.mul_format(x, sf), sf)
    sum_t = ctx.use_type(sum_fmt, f"{node.name} slope * x + offset")
    scale_t = ctx.use_type(sf, f"{node.name} scale")
    rhi = min(sum_fmt.raw_max, math.floor(1.0 / sum_fmt.lsb))
    fn = ctx.fn
    consts = [
        {"type": scale_t, "name": f"{fn}_slope", "value": cpp_literal(int(sf.quantize(node.attrs["slope"])), sf),
         "what": f"slope {node.attrs['slope']}"},
        {"type": scale_t, "name": f"{fn}_offset", "value": cpp_literal(int(sf.quantize(node.attrs["offset"])), sf),
         "what": f"offset {node.attrs['offset']}"},
        {"type": sum_t, "name": f"{fn}_one", "value": cpp_literal(rhi, sum_fmt),
         "what": "upper bound 1 on the sum grid"},
    ]
    body = [f"{sum_t} s = x0[i] * {fn}_slope + {fn}_offset;  // exact",
            "if (s < 0) s = 0;", f"if (s > {fn}_one) s = {fn}_one;", "y[i] = s;"]
    return _elementwise(node, ctx, "y = clip(slope * x + offset, 0, 1), exact, then cast to the "
                        "result format.", body, consts)


# ----------------------------------------------------------------------------- embedding
@emitter("embedding", "embedding.h.j2")
def _embedding(node, ctx: LayerContext) -> dict:
    """Per-row quantized table: the codes and row scales of qhw.ops.embedding, exact."""
    from qhw.ops import get as get_op

    codes, scales = get_op("embedding", node.name).rows(node)
    code_f, scale_f = slot(node, "table"), slot(node, "scale")
    v = common(node, ctx)
    v.update(length=int(node.shape[0]), dim=int(node.shape[1]), rows=int(codes.shape[0]),
             code_t=ctx.use_type(code_f, f"{node.name} row codes"),
             scale_t=ctx.use_type(scale_f, f"{node.name} row scales"),
             codes=c_initializer(codes.reshape(-1), code_f), scales=c_initializer(scales, scale_f))
    return v


# ----------------------------------------------------------------------------- softmax
def _rom_index(var: str, t) -> str:
    """C++ of RomTable.address for the qhw convention on raw code ``var``."""
    src = f"({var} - ({t.lo_raw}LL))" if t.lo_raw else var
    return f"({src} >> {t.shift})" if t.shift >= 0 else f"({src} << {-t.shift})"


@emitter("softmax", "softmax.h.j2")
def _softmax(node, ctx: LayerContext) -> dict:
    """max, exp ROM on x - max, exact sum, reciprocal ROM, product (qhw.ops.softmax)."""
    from qhw.ops import get as get_op

    v = common(node, ctx)
    n_in = v["in_n"][0]
    v.update(variant=node.attrs["variant"], n_in=n_in)
    if node.attrs["variant"] == "hls4ml":
        return _softmax_hls4ml(node, ctx, v, n_in)
    if node.attrs["variant"] == "argmax":
        v["summary"] = "index of the first maximum."
        return v
    op = get_op("softmax", node.name)
    xf = ctx.in_fmts[0]
    ex, inv = op.tables(node, xf, n_in)
    df, acc = op.diff_format(xf), slot(node, "accum")
    ef, rf_ = slot(node, "exp_table"), slot(node, "inv_table")
    v.update(summary="max, exp ROM on x - max, exact sum, reciprocal ROM, e * (1/sum).",
             exp_t=ctx.use_type(ef, f"{node.name} exp entries"),
             inv_t=ctx.use_type(rf_, f"{node.name} reciprocal entries"),
             acc_t=ctx.use_type(acc, f"{node.name} sum"), d_t=ctx.use_type(df, f"{node.name} x - max"),
             d_w=df.width, acc_w=acc.width, exp_n=ex.values.size, inv_n=inv.values.size,
             exp_values=c_initializer(ex.values, ef), inv_values=c_initializer(inv.values, rf_),
             exp_index=_rom_index("d_bits.to_int64()", ex),
             inv_index=_rom_index("(long long)s_bits.to_uint64()", inv))
    return v


def _softmax_hls4ml(node, ctx: LayerContext, v: dict, n: int) -> dict:
    """hls4ml's softmax (qhw.ops.softmax, variant hls4ml): the same ap_fixed operations in the
    same order, the tables as constants."""
    from qhw.ops import get as get_op
    from qhw.tables import hls4ml as h4

    a, f, x = node.attrs, node.formats, ctx.in_fmts[0]
    impl, fn, res_t = a["implementation"], ctx.fn, v["result_t"]
    consts, body = [], []
    if a["skip"]:
        v.update(summary="skipped (hls4ml removes the layer): y = x.", consts=[],
                 body=[f"for (int i = 0; i < {n}; i++) y[i] = x0[i];"])
        return v
    if impl == "argmax":
        v.update(summary="hls4ml argmax: one-hot of the first maximum.", consts=[], body=[
            f"for (int i = 0; i < {n}; i++) y[i] = 0;",
            f"{v['in_t'][0]} m = x0[0];", "int best = 0;",
            f"for (int i = 1; i < {n}; i++) if (x0[i] > m) {{ m = x0[i]; best = i; }}",
            "y[best] = 1;"])
        return v
    t = get_op("softmax", node.name).hls4ml_tables(node, x)
    if impl == "legacy":
        tf = f["table"]
        tt = ctx.use_type(tf, f"{node.name} table entries")
        consts = [_table_constant(ctx, "exp", t["exp"], tf, "exp table (hls4ml legacy)"),
                  _table_constant(ctx, "inv", t["inv"], tf, "inverse table (hls4ml legacy)")]
        df = FixedFormat(x.width + 1, x.integer_bits + 1, True)
        _, num, den = h4.index_range("exp", df, t["exp_n"])
        inum, iden = (t["inv_n"], 64 << tf.frac_bits) if tf.frac_bits >= 0 else (t["inv_n"] << -tf.frac_bits, 64)
        dt = ctx.use_type(df, f"{node.name} x_j - x_i")
        body = [
            f"for (int i = 0; i < {n}; i++) {{",
            f"  {tt} s = 0;",
            f"  for (int j = 0; j < {n}; j++) {{",
            f"    {tt} term;",
            "    if (i == j) {",
            "      term = 1;",
            "    } else {",
            f"      {dt} d = x0[j] - x0[i];  // exact",
            f"      ap_int<{df.width}> d_bits;",
            f"      d_bits.range({df.width - 1}, 0) = d.range({df.width - 1}, 0);",
            f"      long long idx = (long long)(int)((d_bits.to_int64() * {num}LL) / {den}LL)"
            f" + {(8 * t['exp_n']) // 16};",
            "      if (idx < 0) idx = 0;",
            f"      if (idx > {t['exp_n'] - 1}) idx = {t['exp_n'] - 1};",
            f"      term = {fn}_exp[idx];",
            "    }",
            "    s += term;  // assigned to the table type after every add",
            "  }",
            f"  ap_int<{tf.width}> s_bits;",
            f"  s_bits.range({tf.width - 1}, 0) = s.range({tf.width - 1}, 0);",
            f"  long long k = (long long)(int)((s_bits.to_int64() * {inum}LL) / {iden}LL);",
            "  if (k < 0) k = 0;",
            f"  if (k > {t['inv_n'] - 1}) k = {t['inv_n'] - 1};",
            f"  y[i] = {fn}_inv[k];",
            "}"]
        v.update(summary="hls4ml legacy: per element, the sum of exp(x_j - x_i) from the table, "
                 "then the inverse table.", consts=consts, body=body)
        return v
    ef, acc, ii, tf = f["exp_table"], f["accum"], f["inv_inp"], f["inv_table"]
    et, at = ctx.use_type(ef, f"{node.name} exp entries"), ctx.use_type(acc, f"{node.name} accum")
    it, rt = ctx.use_type(ii, f"{node.name} sum"), ctx.use_type(tf, f"{node.name} inverse entries")
    consts = [_table_constant(ctx, "exp", t["exp"], ef, "exp table (hls4ml)"),
              _table_constant(ctx, "inv", t["inv"], tf, "inverse table (hls4ml)")]
    addr = t["addr"]
    nb, nbi = h4.ceillog2(t["exp_n"]), h4.ceillog2(t["inv_n"])
    at_ = ctx.use_type(addr, f"{node.name} exp table address")
    body = [f"{at} e[{n}];"]
    if impl == "stable":
        body += [f"{v['in_t'][0]} m = x0[0];",
                 f"for (int i = 1; i < {n}; i++) if (x0[i] >= m) m = x0[i];"]
    body += [f"for (int i = 0; i < {n}; i++) {{",
             f"  {at_} a = {'m - x0[i]' if impl == 'stable' else 'x0[i]'};",
             f"  ap_uint<{nb}> idx = a.range({addr.width - 1}, {addr.width - nb});  // top bits",
             f"  e[i] = {fn}_exp[idx];", "}"]
    count = [0]

    def tree(node_):
        if isinstance(node_, int):
            return f"e[{node_}]"
        left, right = tree(node_[0]), tree(node_[1])
        k = count[0]
        count[0] += 1
        body.append(f"{at} p{k} = {left} + {right};  // assigned to accum_t")
        return f"p{k}"

    root = tree(h4.reduce_order(n))
    body += [f"{it} s = {root};",
             f"ap_uint<{nbi}> j = s.range({ii.width - 1}, {ii.width - nbi});",
             f"const {rt} r = {fn}_inv[j];",
             f"for (int i = 0; i < {n}; i++) y[i] = e[i] * r;"]
    v.update(summary=f"hls4ml {impl}: exp table at the top bits, tree sum in accum_t, inverse "
             "table at the top bits of the sum, e * (1/sum).", consts=consts, body=body)
    return v

from qhw.backends.hls import code_table as _code_table  # noqa: E402,F401  (registers its emitter)
