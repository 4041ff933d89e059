"""qlinear_add in RTL, as qhw.ops.qlinear_add defines it, per element: the constant product
``da * multiplier`` beside a ROM read of b's table entry (addressed by b's raw code minus its
format's minimum), one exact adder for v, then the float32 tie window: n0 = v's integer bits, f
its fraction, the window thresholds chosen by the bit length of n0 (of ~n0 when negative) from
constants, ``up = f > half + w_high | (f >= half - w_low & n0 odd)``, the output zero point
subtracted, the clamp to [lo, hi] and the result cast."""
from __future__ import annotations

import numpy as np

from qhw.backends.verilog.elementwise import element, element_layer, finish
from qhw.backends.verilog.lowering import Lowering, bits, counts, lowering
from qhw.backends.verilog.lut import _rom_unit
from qhw.backends.verilog.requant import UnarySpec
from qhw.backends.verilog.signal import Signal, literal
from qhw.fixed import FixedFormat
from qhw.ops.code_table import table_format
from qhw.ops.qlinear_add import QLinearAdd


def _widths(ctx) -> tuple[int, int, int]:
    """(bits of v, its fraction bits, bits of n0)."""
    wv = ctx.op.v_width(ctx.node, ctx.in_fmts[0])
    frac = int(ctx.node.attrs["frac"])
    wv = max(wv, frac + 2)
    return wv, frac, wv - frac


def _fit(dp, name: str, sig: Signal, width: int) -> str:
    """A signed wire ``name`` of ``width`` bits holding ``sig``'s value (extended) or its low
    bits (two's complement wrap: used where the final sum fits)."""
    if width > sig.width:
        expr = sig.extend(width)
    elif width < sig.width:
        expr = Signal(sig.expr, sig.width).slice(width - 1, 0)
    else:
        expr = sig
    return dp.wire(name, width, expr)


def thresholds(frac: int, length: int, negative: bool) -> tuple[int, int]:
    """(half - w_low, half + w_high) in units of 2**-frac for n0 whose magnitude code (n0, or
    ~n0 when negative) has ``length`` bits (qhw.ops.qlinear_add.round_float32_sum)."""
    w = 1 << (frac - 25 + length)
    w_low = w >> 1 if length == 0 and not negative else w
    w_high = w >> 1 if length == 0 and negative else w
    half = 1 << (frac - 1)
    return half - w_low, half + w_high


def lower_qlinear_add_element(dp, ctx, e: int) -> str:
    node = ctx.node
    fa, fb = ctx.in_fmts
    wv, frac, wn = _widths(ctx)
    table = ctx.op.table(node)
    tf = table_format(table)
    rom, aw = _rom_unit(dp, ctx.prefix, table, tf, f"b table of {node.name!r} (fma(qb, rb, F) + za * ra)")
    b = dp.wire(f"b{e}", fb.width, element(ctx, e, 1), signed=False)
    addr = (f"~{b}" if fb.width == 1 else f"{{~{b}[{fb.width - 1}], {b}[{fb.width - 2}:0]}}") if fb.signed else b
    ad = dp.wire(f"ad{e}", aw, addr, signed=False)
    t = dp.read_rom(rom, f"u_rom{e}", ad, f"t{e}", tf.width)
    a = dp.wire(f"a{e}", fa.width, element(ctx, e, 0), signed=False)
    wa = fa.width + (0 if fa.signed else 1)  # a signed operand of its value
    asg = dp.wire(f"as{e}", wa, Signal(a, fa.width, fa.signed).extend(wa), signed=True)
    m = int(node.attrs["multiplier"])
    wm = m.bit_length() + 1 if m >= 0 else (-m - 1).bit_length() + 1
    p = dp.mul(f"p{e}", asg, wa, m, wm, ctx.prefix)
    ts = _fit(dp, f"ts{e}", Signal(t, tf.width, tf.signed), wv)
    ps = _fit(dp, f"ps{e}", Signal(p, wa + wm, True), wv)
    v = dp.wire(f"v{e}", wv, f"{ps} + {ts}")  # modulo 2**wv: v itself fits
    n0 = dp.wire(f"n{e}", wn, Signal(v, wv).slice(wv - 1, frac), signed=True)
    f = dp.wire(f"f{e}", frac + 1, Signal(v, wv).slice(frac - 1, 0).zext(frac + 1), signed=False)
    mag = dp.wire(f"m{e}", wn, f"{n0}[{wn - 1}] ? ~{n0} : {n0}", signed=False)
    tw = frac + 1
    lo_t, hi_t = [], []
    for length in range(wn, 0, -1):  # the highest set bit of the magnitude decides
        lo, hi = thresholds(frac, length, False)
        cond = f"{mag}[{length - 1}]"
        lo_t.append(f"{cond} ? {literal(max(lo, 0), tw, False)} : ")
        hi_t.append(f"{cond} ? {literal(min(hi, (1 << tw) - 1), tw, False)} : ")
    lo0p, hi0p = thresholds(frac, 0, False)
    lo0n, hi0n = thresholds(frac, 0, True)
    neg = f"{n0}[{wn - 1}]"
    lo_e = "".join(lo_t) + f"({neg} ? {literal(lo0n, tw, False)} : {literal(lo0p, tw, False)})"
    hi_e = "".join(hi_t) + f"({neg} ? {literal(hi0n, tw, False)} : {literal(hi0p, tw, False)})"
    lt = dp.wire(f"lt{e}", tw, lo_e, signed=False)
    ht = dp.wire(f"ht{e}", tw, hi_e, signed=False)
    up = dp.wire(f"up{e}", 1, f"({f} > {ht}) | (({f} >= {lt}) & {n0}[0])", signed=False)
    zc, lo, hi = (int(node.attrs[k]) for k in ("zero_point", "lo", "hi"))
    wr = max(wn, (abs(zc)).bit_length() + 1) + 2
    r = dp.wire(f"r{e}", wr, f"{Signal(n0, wn, True).sext(wr).as_signed()} + $signed({{{wr - 1}'d0, {up}}}) - "
                              f"{literal(zc, wr)}")
    yf = table_format(np.array([lo, hi]))
    wy = max(wr, yf.width)
    rs = _fit(dp, f"rs{e}", Signal(r, wr, True), wy)
    c = dp.wire(f"c{e}", yf.width,
                f"({rs} < {literal(lo, wy)}) ? {literal(lo, yf.width, yf.signed)} : "
                f"({rs} > {literal(hi, wy)}) ? {literal(hi, yf.width, yf.signed)} : "
                f"{Signal(rs, wy).slice(yf.width - 1, 0)}", signed=False)
    return dp.unary(UnarySpec.requant(yf, ctx.res), c, f"y{e}r", ctx.prefix)


@lowering(QLinearAdd)
class QLinearAddLowering(Lowering):
    """Per element: constant product and table read, an adder, the tie window, clamp, cast."""

    def lower(self, ctx):
        dp = element_layer(ctx)
        return finish(dp, ctx, [lower_qlinear_add_element(dp, ctx, e) for e in range(ctx.n_out)])

    def live_span(self, ctx):
        return 0, max(0, ctx.res.width - 1)

    def cost(self, ctx):
        """The table's bits (one ROM shared by content), per element a constant multiply (one
        row per set bit of the multiplier), the sum's adder, two window comparisons and the
        clamp, the cast and the register."""
        n, b = ctx.n_out, bits(self.live_span(ctx))
        wv, frac, wn = _widths(ctx)
        table = ctx.op.table(ctx.node)
        m = abs(int(ctx.node.attrs["multiplier"]))
        wa = ctx.in_fmts[0].width + 1
        return counts(rom_bits=int(table.size) * table_format(table).width,
                      cmul_bits=n * wa * max(0, bin(m).count("1") - 1),
                      add_bits=n * (wv + 2 * (frac + 1) + 2 * (wn + 2)), mux_bits=n * 2 * (frac + 1),
                      cast_bits=n * b, reg_bits=n * b)

    def delay(self, ctx):
        """The table read beside the constant product, the adder, the window comparison (its
        thresholds selected from the bit length of n0), the clamp and the cast; no pipeline
        registers inside."""
        from qhw.backends.verilog.timing import Block, model

        m = model(ctx.target)
        wv, frac, wn = _widths(ctx)
        mult = int(ctx.node.attrs["multiplier"])
        first = max(m.rom(ctx.in_fmts[1].width), m.cmul(ctx.in_fmts[0].width + 1, mult))
        return [Block("table/product", first), Block("adder", m.adder(wv)),
                Block("window", m.mux(wn + 1) + m.adder(frac + 1) + m.luts(1)),
                Block("clamp/cast", m.adder(wn + 2) + m.luts(1))]


__all__ = ["QLinearAddLowering", "lower_qlinear_add_element", "thresholds"]
