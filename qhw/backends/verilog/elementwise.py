"""Element-wise and data-movement layers: every output element is a small function of a few
input elements (a gather), then a unary block, then the output register (latency 1, II 1).

Covered: relu, relu6, clip, shift, requantize, flatten, reshape, upsample, depth_to_space,
threshold, output,
concat, add, mul,
maxpool1d/2d, avgpool1d/2d, the table ops sigmoid/tanh/hard_sigmoid (qhw.backends.verilog.lut)
embedding (qhw.backends.verilog.embedding) and softmax (qhw.backends.verilog.softmax). Index maps come from the op modules themselves (their window
functions run on index codes), so the hardware cannot drift from the golden geometry.
"""
from __future__ import annotations

import math

import numpy as np

from qhw.backends.verilog.datapath import Datapath, sext
from qhw.backends.verilog.lut import TABLE_OPS, lower_table_element
from qhw.backends.verilog.requant import UnarySpec, signed_bits
from qhw.fixed import FixedFormat, add_format, mul_format
from qhw.ops import get as get_op
from qhw.ops.base import GatherOp
from qhw.ops.activation import _bound_codes
from qhw.ops.shift import moved


def _slice(offset_bits: int, fmt: FixedFormat, i: int) -> str:
    lo = offset_bits + i * fmt.width
    return f"x[{lo + fmt.width - 1}:{lo}]"


def _ext(expr_name: str, fmt: FixedFormat, width: int) -> str:
    if fmt.signed:
        return sext(expr_name, fmt.width, width)
    return f"{{{width - fmt.width}'d0, {expr_name}}}"


def lower_elementwise(node, in_fmts: list[FixedFormat], in_shapes: list[tuple], module: str,
                      prefix: str) -> Datapath:
    res = node.formats["result"]
    sizes = [int(np.prod(s)) for s in in_shapes]
    offsets = np.cumsum([0] + [n * f.width for n, f in zip(sizes, in_fmts)]).tolist()
    n_out = int(np.prod(node.shape))
    in_bits = offsets[-1]
    dp = Datapath(module, f"{node.op} {node.name!r}", in_bits, n_out * res.width)
    dp.header += [f"node: {node.name} ({node.op}), {n_out} outputs",
                  "in: " + ", ".join(map(str, in_fmts)) + f"  result: {res}"]
    op = node.op
    x0 = in_fmts[0]
    r_parts = []
    if op in ("relu", "relu6", "clip", "shift", "requantize", "flatten", "reshape", "output"):
        for e in range(n_out):
            spec = _unary_spec(node, x0, e)
            r_parts.append(dp.unary(spec, _slice(0, x0, e), f"r{e}", prefix))
    elif op == "softmax":
        from qhw.backends.verilog.softmax import lower_softmax

        r_parts.extend(lower_softmax(dp, node, x0, sizes[0], prefix))
    elif op == "embedding":
        from qhw.backends.verilog.embedding import lower_embedding

        r_parts.extend(lower_embedding(dp, node, x0, prefix))
    elif op == "code_table":  # qhw.backends.verilog.code_table
        from qhw.backends.verilog.code_table import lower_code_table_element

        for e in range(n_out):
            xe = dp.wire(f"x{e}", x0.width, _slice(0, x0, e), signed=False)
            r_parts.append(lower_code_table_element(dp, node, x0, xe, e, prefix))
    elif op in TABLE_OPS:
        for e in range(n_out):
            xe = dp.wire(f"x{e}", x0.width, _slice(0, x0, e), signed=False)
            r_parts.append(lower_table_element(dp, node, x0, xe, e, prefix))
    elif isinstance(get_op(op, node.name), GatherOp):  # upsample, depth_to_space
        src = get_op(op, node.name).source_index(node, tuple(in_shapes[0]))
        for e in range(n_out):
            r_parts.append(dp.unary(UnarySpec.requant(x0, res), _slice(0, x0, int(src[e])), f"r{e}", prefix))
    elif op == "threshold":
        r_parts.extend(_lower_threshold(dp, node, x0, n_out))
    elif op == "concat":
        axis = int(node.attrs["axis"]) % len(node.shape)
        idx = [np.arange(n).reshape(s) + k * 0 for k, (n, s) in enumerate(zip(sizes, in_shapes))]
        src = [np.full(s, k) for k, s in enumerate(in_shapes)]
        gi = np.concatenate(idx, axis=axis).ravel()
        gs = np.concatenate(src, axis=axis).ravel()
        for e in range(n_out):
            k, i = int(gs[e]), int(gi[e])
            r_parts.append(dp.unary(UnarySpec.requant(in_fmts[k], res),
                                    _slice(offsets[k], in_fmts[k], i), f"r{e}", prefix))
    elif op in ("add", "mul"):
        fa, fb = in_fmts
        exact = add_format(fa, fb) if op == "add" else mul_format(fa, fb)
        ws = exact.width + 1
        sf = FixedFormat(ws, ws - exact.frac_bits, True)
        spec = UnarySpec(sf, res, FixedFormat(ws, ws - exact.frac_bits, exact.signed))
        for e in range(n_out):
            a = dp.wire(f"a{e}", fa.width, _slice(offsets[0], fa, e), signed=False)
            b = dp.wire(f"b{e}", fb.width, _slice(offsets[1], fb, e), signed=False)
            if op == "add":
                sa, sb = exact.frac_bits - fa.frac_bits, exact.frac_bits - fb.frac_bits
                ea = _shifted(_ext(a, fa, ws - sa), sa)
                eb = _shifted(_ext(b, fb, ws - sb), sb)
                v = dp.wire(f"v{e}", ws, f"{ea} + {eb}")
            else:
                v = dp.wire(f"v{e}", ws, f"{_ext(a, fa, ws)} * {_ext(b, fb, ws)}")
            r_parts.append(dp.unary(spec, v, f"r{e}", prefix))
    elif op in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
        opdef = get_op(op, node.name)
        codes = (np.arange(sizes[0], dtype=np.int64) + 1).reshape((1,) + tuple(in_shapes[0]))
        win = opdef._windows(node, codes, 0)[0]  # (*out, taps, C)
        win = win.reshape(-1, win.shape[-2], win.shape[-1]) - 1
        taps = win.shape[1]
        wx = x0.width + (0 if x0.signed else 1)
        for p in range(win.shape[0]):
            for c in range(win.shape[2]):
                e = p * win.shape[2] + c
                ids = [int(i) for i in win[p, :, c] if i >= 0]
                if op.startswith("max"):
                    cur = None
                    for n, i in enumerate(ids):
                        xi = dp.wire(f"m{e}_{n}x", wx, _ext_slice(x0, i, wx))
                        cur = xi if cur is None else dp.wire(
                            f"m{e}_{n}", wx, f"({xi} > {cur}) ? {xi} : {cur}")
                    if cur is None:
                        cur = dp.wire(f"m{e}_pad", wx, f"{wx}'sd0")
                    sf = FixedFormat(wx, wx - x0.frac_bits, True)
                    if "accum" in node.formats:  # hls4ml: the max is returned as accum_t first
                        acc = node.formats["accum"]
                        cur = dp.unary(UnarySpec(sf, acc, FixedFormat(wx, wx - x0.frac_bits, x0.signed)),
                                       cur, f"a{e}", prefix)
                        spec = UnarySpec(acc, res, acc)
                    else:
                        spec = UnarySpec(sf, res, FixedFormat(wx, wx - x0.frac_bits, x0.signed))
                    r_parts.append(dp.unary(spec, cur, f"r{e}", prefix))
                else:
                    acc, scale = node.formats["accum"], node.formats["scale"]
                    sumf = opdef.sum_format(node, x0)
                    ws = wx + max(1, math.ceil(math.log2(taps))) + 1
                    terms = [_ext_slice(x0, i, ws) for i in ids] or [f"{ws}'sd0"]
                    v = dp.wire(f"v{e}", ws, " + ".join(terms))
                    a = dp.unary(UnarySpec(FixedFormat(ws, ws - x0.frac_bits, True), acc,
                                           FixedFormat(ws, ws - x0.frac_bits, sumf.signed)),
                                 v, f"a{e}", prefix)
                    recip = int(scale.quantize(1.0 / taps))
                    pf = mul_format(acc, scale)
                    r_parts.append(dp.unary(UnarySpec(acc, res, pf, multiplier=recip), a,
                                            f"r{e}", prefix))
    else:
        raise ValueError(f"no element-wise lowering for op {op!r}")
    for e, r in enumerate(r_parts):
        dp.y_parts.append(dp.reg(f"y{e}", res.width, r, signed=False))
    dp.latency, dp.ii = 1, 1
    return dp


def _shifted(expr: str, k: int) -> str:
    return f"{{{expr}, {k}'d0}}" if k else expr


def _ext_slice(fmt: FixedFormat, i: int, width: int) -> str:
    w = fmt.width
    seg = f"x[{i * w + w - 1}:{i * w}]"
    if fmt.signed:
        return f"{{{{{width - w}{{x[{i * w + w - 1}]}}}}, {seg}}}" if width > w else seg
    return f"{{{width - w}'d0, {seg}}}"


def _lower_threshold(dp: Datapath, node, x: FixedFormat, n_out: int) -> list[str]:
    """Per element: T comparisons of the input code with constant thresholds, their count, and
    the count selecting one of T + 1 result constants. Comparisons run on offset-binary codes
    (x + 2**(W-1) for a signed x, a flipped sign bit) one bit wider, so every operand and
    literal is unsigned and a threshold just above the range (never reached) still fits."""
    op = get_op("threshold", node.name)
    res = node.formats["result"]
    codes = op.codes(node, x)  # (C or 1, T) in [raw_min, raw_max + 1]
    table = op.outputs(node, res)
    t_n = codes.shape[1]
    off = 1 << (x.width - 1) if x.signed else 0
    wc = max(1, t_n.bit_length())
    mask = (1 << res.width) - 1
    parts = []
    for e in range(n_out):
        row = codes[e % codes.shape[0]]
        live = [x.raw_min < c <= x.raw_max for c in row]
        u = None
        if any(live):  # the element itself is read only when some comparison depends on it
            xe = dp.wire(f"x{e}", x.width, _slice(0, x, e), signed=False)
            if x.signed and x.width > 1:
                xu = f"{{1'b0, ~{xe}[{x.width - 1}], {xe}[{x.width - 2}:0]}}"
            else:
                xu = f"{{1'b0, {'~' if x.signed else ''}{xe}}}"
            u = dp.wire(f"xu{e}", x.width + 1, xu, signed=False)
        # a threshold at the bottom of the range always counts, one above it never does
        bits = [dp.wire(f"ge{e}_{t}", 1, f"{u} >= {x.width + 1}'d{int(c) + off}" if ok
                        else "1'b1" if c <= x.raw_min else "1'b0", signed=False)
                for t, (c, ok) in enumerate(zip(row, live))]
        cnt = dp.wire(f"cnt{e}", wc, " + ".join(f"{{{wc - 1}'d0, {b}}}" for b in bits) if wc > 1
                      else bits[0], signed=False)
        sel = f"{res.width}'h{int(table[-1]) & mask:x}"
        for k in range(t_n - 1, -1, -1):
            sel = f"({cnt} == {wc}'d{k}) ? {res.width}'h{int(table[k]) & mask:x} : {sel}"
        parts.append(dp.wire(f"r{e}", res.width, sel, signed=False))
    return parts


def _unary_spec(node, x: FixedFormat, e: int) -> UnarySpec:
    res = node.formats["result"]
    op = node.op
    if op in ("relu", "relu6", "clip"):
        lo, hi = get_op(op, node.name).limits(node)
        rlo, rhi = _bound_codes(x, lo, hi)
        return UnarySpec(x, res, x, lo=rlo, hi=rhi)
    if op == "shift":
        return UnarySpec(x, res, moved(x, int(node.attrs["shift"])))
    if op == "requantize":
        from qhw.ops.requantize import Requantize

        m = np.asarray(node.attrs["multiplier"], np.int64)
        mc = int(m) if m.ndim == 0 else int(m[e % m.size])
        return UnarySpec(x, res, Requantize().product_format(node, x), multiplier=mc)
    return UnarySpec.requant(x, res)


__all__ = ["lower_elementwise", "signed_bits"]
