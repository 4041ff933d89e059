"""Table ops in RTL: sigmoid/tanh ROMs (full, half with the symmetry, hls4ml's convention),
piecewise-linear sigmoid/tanh (``Trait.TABLE`` and ``Trait.ELEMENTWISE``), and hard_sigmoid —
one element at a time, in an element layer (:mod:`qhw.backends.verilog.elementwise`).

Each element computes the integer address the golden model's table object defines
(``RomTable.address``: offset, shift, clamp; hls4ml: truncation toward zero), reads a ROM unit
(a ``case`` block shared by every element of the layer), and casts the entry with the shared
unary requantizer. Nothing is re-derived here: the constants come from ``qhw.tables``.
"""
from __future__ import annotations

import math

import numpy as np

from qhw.backends.verilog.datapath import Datapath
from qhw.backends.verilog.elementwise import element, element_delay, element_layer, finish
from qhw.backends.verilog.lowering import (Lowering, bits, counts, lowering, popcount,
                                           span)
from qhw.backends.verilog.render import render
from qhw.backends.verilog.requant import UnarySpec
from qhw.backends.verilog.signal import Signal, literal
from qhw.errors import ModelError
from qhw.fixed import FixedFormat, add_format, mul_format
from qhw.ops.activation import _bound_codes
from qhw.ops.lut import HardSigmoid
from qhw.ops.traits import Trait
from qhw.tools.cache import content_hash

#: ROMs of at least this many bits whose output feeds a register directly go to block RAM (2 read
#: ports per 18 Kb block); measured with synth_xilinx: 6,144 bits stay in LUTs, 10,240 do not
BRAM_MIN_BITS = 8192
BRAM_BITS = 18432


def _bits_signed(v: int) -> int:
    """Bits of a two's complement integer holding v."""
    return max(1, (v if v >= 0 else ~v).bit_length() + 1)


def _ssext(expr: str, w_from: int, w_to: int) -> Signal:
    """Sign extension as a SIGNED expression (a bare concatenation is unsigned in Verilog, which
    would make ``>>>`` a logical shift)."""
    return Signal(expr, w_from, True).sext(w_to).as_signed()


def _lit(v: int, width: int) -> Signal:
    """A sized signed literal (negative ones as sized hex)."""
    return literal(v, width)


def _rom_unit(dp: Datapath, prefix: str, codes, fmt: FixedFormat, what: str) -> tuple[str, int]:
    """The ROM module for these codes (shared by content); returns (module, address bits)."""
    n = len(codes)
    aw = max(1, math.ceil(math.log2(n)))
    mask = (1 << fmt.width) - 1
    entries = [(a, f"{fmt.width}'h{int(c) & mask:x}") for a, c in enumerate(codes)]
    key = content_hash(repr((fmt, [int(c) for c in codes])), length=10)
    name = f"{prefix}_rom{key}"
    if name not in dp.units:
        dp.units[name] = render("rom.v.j2", name=name, what=what, entries=entries, aw=aw,
                                dw=fmt.width, fmt=fmt, full=n == 1 << aw, default=entries[-1][1])
    return name, aw


def _clamped_index(dp: Datapath, t: str, width: int, n: int, aw: int, e: int) -> str:
    """t (signed, ``width`` bits) clamped to [0, n - 1], as ``aw`` address bits."""
    hi = _lit(n - 1, width)
    return dp.wire(f"ad{e}", aw, f"{t}[{width - 1}] ? {aw}'d0 : ({t} > {hi}) ? {aw}'d{n - 1} : "
                                 f"{t}[{aw - 1}:0]", signed=False)


def _shift(expr: str, k: int) -> str:
    """``expr`` arithmetically shifted right by k (left by -k), on its own width."""
    return f"({expr} >>> {k})" if k > 0 else (f"({expr} <<< {-k})" if k < 0 else expr)


def _rom(dp: Datapath, node, t, x: FixedFormat, xe: str, e: int, prefix: str) -> str:
    """A RomTable element: address, ROM read, entry (mirrored for a half table) cast."""
    tf, res, w = t.table_fmt, node.formats["result"], x.width
    xs = dp.wire(f"xs{e}", w + 1, Signal(xe, w).sext(w + 1) if x.signed else f"{{1'b0, {xe}}}")
    if t.convention == "hls4ml":
        from qhw.tables.hls4ml import index_may_wrap

        if index_may_wrap(t.function, x, t.size):
            raise ModelError(f"{node.op} {node.name!r}: hls4ml's int index x*{t.size}/span wraps at 32 bits "
                             f"for inputs of {x}; no RTL for that (the golden model and HLS follow it)")
        span = 16 if t.function == "sigmoid" else 8
        f = x.frac_bits
        mult, den = (t.size, span << f) if f >= 0 else (t.size << -f, span)
        g = math.gcd(mult, den)
        mult, den = mult // g, den // g
        if den & (den - 1) or (mult > 1 and den > 1):
            raise ModelError(f"{node.op} {node.name!r}: the hls4ml index x*{t.size}/({span}*2^{-f}) "
                             "is not a power-of-two scaling for this input format; no divider in RTL")
        ww = w + 2 + max(0, mult.bit_length())
        if den > 1:  # truncation toward zero: add den - 1 to negative values before >>>
            k = den.bit_length() - 1
            q = dp.wire(f"q{e}", ww, f"({_ssext(xs, w + 1, ww)} + ({xs}[{w}] ? {_lit(den - 1, ww)} : "
                                     f"{ww}'sd0)) >>> {k}")
        else:
            q = dp.wire(f"q{e}", ww, f"{_ssext(xs, w + 1, ww)} * {_lit(mult, ww)}")
        idx = dp.wire(f"i{e}", ww, f"{q} + {_lit(t.size // 2, ww)}")
        n = t.size
    elif t.half:
        n = t.size // 2
        ww = w + 2 + max(0, -t.shift)
        mag = dp.wire(f"m{e}", ww, f"{xs}[{w}] ? -{_ssext(xs, w + 1, ww)} : {_ssext(xs, w + 1, ww)}")
        idx = dp.wire(f"i{e}", ww, _shift(mag, t.shift))
    else:
        n = t.size
        ww = max(w + 1, _bits_signed(t.lo_raw)) + 2 + max(0, -t.shift)
        idx = dp.wire(f"i{e}", ww, _shift(f"({_ssext(xs, w + 1, ww)} - {_lit(t.lo_raw, ww)})", t.shift))
    rom, aw = _rom_unit(dp, prefix, t.values, tf, f"{t.function} table ({t.convention}"
                        f"{', half' if t.half else ''}) of {node.name!r}")
    ad = _clamped_index(dp, idx, ww, n, aw, e)
    neg = f"{xs}[{w}]"
    if "addr" in dp.cuts:  # a clock period's address register (and the sign a half table mirrors by)
        ad = dp.reg(f"ad{e}_q", aw, ad, signed=False)
        neg = dp.reg(f"sg{e}_q", 1, neg, signed=False)
        dp.applied.add("addr")
    ent = f"en{e}"
    dp.read_rom(rom, f"u_rom{e}", ad, ent, tf.width)
    if not t.half:
        return dp.unary(UnarySpec.requant(tf, res), ent, f"r{e}", prefix, pipe=("pre",))
    wide = FixedFormat(min(tf.width + 2, 64), tf.integer_bits + 2, True)
    ww2 = wide.width
    ee = dp.wire(f"ee{e}", ww2, Signal(ent, tf.width).sext(ww2) if tf.signed else f"{{2'b00, {ent}}}")
    one = (1 << tf.frac_bits) if (t.function == "sigmoid" and tf.frac_bits >= 0) else 0
    mirrored = f"{_lit(one, ww2)} - {ee}" if t.function == "sigmoid" else f"-{ee}"
    v = dp.wire(f"v{e}", ww2, f"{neg} ? ({mirrored}) : {ee}")
    return dp.unary(UnarySpec.requant(wide, res), v, f"r{e}", prefix, pipe=("pre",))


def _pwl(dp: Datapath, node, p, x: FixedFormat, xe: str, e: int, prefix: str) -> str:
    """A PwlFunction element: |x|, per-segment y_j + m_j (|x| - b_j), selected by comparisons,
    mirrored for x < 0, then cast from the segment value's format."""
    res, w, sf = node.formats["result"], x.width, p.sum_format()
    b, m, c = ([int(v) for v in a] for a in (p.breakpoints_raw, p.slopes_raw, p.intercepts_raw))
    s1 = sf.frac_bits - p.intercept_fmt.frac_bits
    s2 = sf.frac_bits - (x.frac_bits + p.slope_fmt.frac_bits)
    if s1 < 0 or s2 < 0:
        raise ModelError(f"{node.op} {node.name!r}: PWL terms finer than the sum format")
    amax = max(-x.raw_min, x.raw_max)
    big = max(abs(ci) << s1 for ci in c) + max((amax + abs(bj)) * max(abs(mj) for mj in m) << s2
                                               for bj in b)
    ww = max(_bits_signed(big) + 2, sf.width + 1, w + 2)
    xs = dp.wire(f"xs{e}", w + 1, Signal(xe, w).sext(w + 1) if x.signed else f"{{1'b0, {xe}}}")
    a = dp.wire(f"a{e}", ww, f"{xs}[{w}] ? -{_ssext(xs, w + 1, ww)} : {_ssext(xs, w + 1, ww)}")
    last = len(b) - 1
    seg_vals = []
    for j in range(len(b)):
        y = f"({_lit(c[j], ww)} <<< {s1})" if s1 else _lit(c[j], ww)
        if j != last:
            mj = m[min(j, len(m) - 1)]
            y += f" + ((({a} - {_lit(b[j], ww)}) * {_lit(mj, ww)}) <<< {s2})"
        seg_vals.append(dp.wire(f"s{e}_{j}", ww, y))
    sel = seg_vals[0]
    for j in range(1, len(b)):  # the last breakpoint not above |x| picks the segment
        sel = f"({a} >= {_lit(b[j], ww)}) ? {seg_vals[j]} : ({sel})"
    v = dp.wire(f"v{e}", ww, sel)
    neg = f"{_lit(1 << sf.frac_bits, ww)} - {v}" if p.function == "sigmoid" else f"-{v}"
    y = dp.wire(f"y{e}m", ww, f"{xs}[{w}] ? ({neg}) : {v}")
    s = dp.wire(f"sv{e}", sf.width, f"{y}[{sf.width - 1}:0]", signed=False)
    return dp.unary(UnarySpec.requant(sf, res), s, f"r{e}", prefix, pipe=("pre",))


def _hard_sigmoid(dp: Datapath, node, x: FixedFormat, xe: str, e: int, prefix: str) -> str:
    """clip(slope * x + offset, 0, 1) exactly on the sum grid, then cast (as the golden model)."""
    sf, res, w = node.formats["scale"], node.formats["result"], x.width
    slope, offset = int(sf.quantize(node.attrs["slope"])), int(sf.quantize(node.attrs["offset"]))
    pf = mul_format(x, sf)
    sum_fmt = add_format(pf, sf)
    ws = sum_fmt.width + (0 if sum_fmt.signed else 1)
    k1, k2 = sum_fmt.frac_bits - pf.frac_bits, sum_fmt.frac_bits - sf.frac_bits
    xs = _ssext(xe, w, ws) if x.signed else f"$signed({{{ws - w}'d0, {xe}}})"
    s = dp.wire(f"hs{e}", ws, f"(({xs} * {_lit(slope, ws)}) <<< {k1}) + ({_lit(offset, ws)} <<< {k2})")
    lo, hi = _bound_codes(sum_fmt, 0.0, 1.0)
    sw = FixedFormat(ws, ws - sum_fmt.frac_bits, True)
    spec = UnarySpec(sw, res, FixedFormat(ws, ws - sum_fmt.frac_bits, sum_fmt.signed), lo=lo, hi=hi)
    return dp.unary(spec, s, f"r{e}", prefix, pipe=("pre", "mid"))


class _Elements(Lowering):
    """One table element per output element, from its own input slice."""

    def element(self, dp: Datapath, ctx, xe: str, e: int) -> str:
        raise NotImplementedError

    def lower(self, ctx):
        dp = element_layer(ctx)
        parts = []
        for e in range(ctx.n_out):
            xe = dp.wire(f"x{e}", ctx.x.width, element(ctx, e), signed=False)
            parts.append(self.element(dp, ctx, xe, e))
        return finish(dp, ctx, parts)


@lowering(frozenset({Trait.TABLE, Trait.ELEMENTWISE}))
class TableLowering(_Elements):
    """sigmoid/tanh: a ROM (full, half, hls4ml's convention) or a PWL function per element."""

    def element(self, dp, ctx, xe, e):
        obj = ctx.op.table(ctx.node, ctx.x)
        if ctx.node.attrs.get("variant") == "pwl":
            return _pwl(dp, ctx.node, obj, ctx.x, xe, e, ctx.prefix)
        return _rom(dp, ctx.node, obj, ctx.x, xe, e, ctx.prefix)

    def live_span(self, ctx):
        return span(ctx.res)

    def delay(self, ctx):
        """The address (an offset or |x|, a clamp), the table read (a register possible after
        it: the ROM read register, after the mirror of a half table) or the PWL segments, then
        the cast."""
        from qhw.backends.verilog import timing

        m, x, res = timing.model(ctx.target), ctx.x, ctx.res
        t = ctx.op.table(ctx.node, x)
        if ctx.node.attrs.get("variant") == "pwl":
            sf = t.sum_format()
            segs = len(t.breakpoints_raw)
            ns = (m.adder(x.width + 2) + m.mul(x.width + 2, sf.width) + m.adder(sf.width)
                  + m.mux(segs) + m.adder(sf.width))
            return element_delay(ctx, [("pwl segments", ns)], UnarySpec.requant(sf, res))
        aw = max(1, (len(t.values) - 1).bit_length())
        address = m.adder(x.width + 2) + m.adder(x.width + 2) + m.luts(1)
        ns = m.rom(aw)
        src = t.table_fmt
        if t.half:
            ns += m.adder(src.width + 2) + m.luts(1)
            src = FixedFormat(min(src.width + 2, 64), src.integer_bits + 2, True)
        return element_delay(ctx, [("table address", address, "addr"), ("table read", ns)],
                             UnarySpec.requant(src, res))

    def cost(self, ctx):
        """The table's features (:func:`table_cost`), the result cast and register (a ROM in
        block RAM brings its own output register: then only the cast)."""
        n, b = ctx.n_out, bits(self.live_span(ctx))
        got, in_bram = table_cost(ctx)
        return counts(got, cast_bits=n * b, reg_bits=0 if in_bram else n * b)


def table_cost(ctx) -> tuple[dict, bool]:
    """sigmoid/tanh, as :func:`_rom`/:func:`_pwl` build them, over ``ctx.n_out`` elements; and
    whether the table went to block RAM.

    ROM: the address (an offset and a clamp, or |x| for a half table) and the table. A table whose
    entries go straight to the output register (full table, entry format = result) and holds at
    least BRAM_MIN_BITS becomes block RAM; otherwise it is logic (``rom_bits``). PWL: |x|, per
    segment a subtraction, a constant multiply (``x * m`` written as ``*``: ``macc_bits``, none
    for a power-of-two slope), an intercept add, a comparison and a select, then the mirror."""
    node, x, n = ctx.node, ctx.x, ctx.n_out
    t = ctx.op.table(node, x)
    w = x.width + 1
    res = ctx.res
    if node.attrs.get("variant") == "pwl":
        sf = t.sum_format()
        segs = len(t.breakpoints_raw)
        slopes = [abs(int(m)) for m in t.slopes_raw][: max(segs - 1, 0)]
        macc = sum(w * int(popcount(np.array([m]))[0]) for m in slopes if m & (m - 1))
        return counts(macc_bits=n * macc, add_bits=n * (2 * w + 2 * (segs - 1) * sf.width),
                      cast_bits=n * (segs - 1) * (w + sf.width)), False
    entries = len(t.values)
    tf = t.table_fmt
    rom_bits = entries * tf.width
    direct = not t.half and tf == res
    got = counts(add_bits=n * w * (2 if t.half else 1))  # offset or |x| (the clamp: rom_clamp_bits)
    if direct and rom_bits >= BRAM_MIN_BITS:
        return counts(got, bram=math.ceil(n / 2) * math.ceil(rom_bits / BRAM_BITS)), True
    out = res.cast(np.asarray(t.values, np.int64), tf) & ((1 << res.width) - 1)
    planes = (out[None, :] >> np.arange(res.width)[:, None]) & 1  # (bit, address)
    flips = int(np.count_nonzero(np.diff(planes, axis=1)))
    varying = int(np.count_nonzero(planes.min(axis=1) != planes.max(axis=1)))
    aw = max(1, (entries - 1).bit_length())
    if t.convention == "hls4ml":  # index = x * size / (span * 2**f)
        span_ = 16 if t.function == "sigmoid" else 8
        drop = span_.bit_length() - 1 + x.frac_bits - (t.size.bit_length() - 1)
    else:
        drop = t.shift
    extra = max(0, x.width - int(t.half) - max(drop, 0) - aw)
    got = counts(got, rom_bits=n * entries * varying, rom_flips=n * flips, rom_clamp_bits=n * varying * extra)
    if t.half:
        got = counts(got, add_bits=n * (tf.width + 2))  # the mirrored entry
    return got, False


@lowering(HardSigmoid)
class HardSigmoidLowering(_Elements):
    def element(self, dp, ctx, xe, e):
        return _hard_sigmoid(dp, ctx.node, ctx.x, xe, e, ctx.prefix)

    def delay(self, ctx):
        """slope * x + offset (a register possible after it), the clamp to [0, 1] (and one
        after it), the cast."""
        from qhw.backends.verilog import timing

        m, x, sf = timing.model(ctx.target), ctx.x, ctx.node.formats["scale"]
        slope = int(sf.quantize(ctx.node.attrs["slope"]))
        sum_fmt = add_format(mul_format(x, sf), sf)
        ws = sum_fmt.width + (0 if sum_fmt.signed else 1)
        lo, hi = _bound_codes(sum_fmt, 0.0, 1.0)
        spec = UnarySpec(FixedFormat(ws, ws - sum_fmt.frac_bits, True), ctx.res,
                         FixedFormat(ws, ws - sum_fmt.frac_bits, sum_fmt.signed), lo=lo, hi=hi)
        return element_delay(ctx, [("slope and offset", m.cmul(x.width, slope) + m.adder(ws))], spec)


__all__ = ["TableLowering", "HardSigmoidLowering", "table_cost"]
