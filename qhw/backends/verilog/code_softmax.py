"""code_softmax in RTL, as qhw.ops.code_softmax defines it: the comparison chain for the maximum
(qhw.backends.verilog.softmax), per element the exp ROM addressed by x - max, one exact adder for
the sum, then per element an unsigned divider (2 * scale * t) / sum whose quotient and remainder
give round-half-even, and the output-code ROM addressed by the rounded quotient."""
from __future__ import annotations

import numpy as np

from qhw.backends.verilog.elementwise import element_layer, finish
from qhw.backends.verilog.lowering import Lowering, bits, counts, lowering
from qhw.backends.verilog.lut import _clamped_index, _lit, _rom_unit, _ssext
from qhw.backends.verilog.requant import UnarySpec
from qhw.backends.verilog.softmax import _max_chain
from qhw.fixed import FixedFormat
from qhw.ops import get as get_op
from qhw.ops.code_softmax import CodeSoftmax
from qhw.ops.code_table import table_format


def _widths(node, n: int) -> tuple[int, int, int, int]:
    """(exp entry bits, sum bits, numerator bits, rounded-quotient bits)."""
    op = get_op(node.op, node.name)
    k = int(node.attrs["scale"])
    we = op.exp_bits(node)
    return we, op.sum_bits(node, n), we + (2 * k).bit_length(), k.bit_length()


def lower_code_softmax(dp, node, x: FixedFormat, n: int, prefix: str) -> list[str]:
    exp = np.asarray(node.params["exp"], np.int64)
    out = np.asarray(node.params["out"], np.int64)
    k = int(node.attrs["scale"])
    we, ws, wn, wr = _widths(node, n)
    ef, of = FixedFormat(we, we, False), table_format(out)
    erom, eaw = _rom_unit(dp, prefix, exp, ef, f"exp table of {node.name!r}")
    orom, oaw = _rom_unit(dp, prefix, out, of, f"output codes of {node.name!r}")
    xs, m, _ = _max_chain(dp, x, n)
    wx = x.width + 1  # the elements as signed wires
    wi = max(wx + 1, (exp.size - 1).bit_length() + 2)
    ts = []
    for i in range(n):
        idx = dp.wire(f"ei{i}", wi, f"{_ssext(xs[i], wx, wi)} - {_ssext(m, wx, wi)} + {_lit(exp.size - 1, wi)}")
        ad = _clamped_index(dp, idx, wi, exp.size, eaw, i)
        dp.read_rom(erom, f"u_exp{i}", ad, f"t{i}", we)
        ts.append(f"t{i}")
    wd = max(ws, wn)  # the divider's operand width
    s = dp.wire("sum", wd, " + ".join(f"{{{wd - we}'d0, {t}}}" if wd > we else t for t in ts), signed=False)
    parts = []
    for i, t in enumerate(ts):
        num = dp.wire(f"nu{i}", wd, f"{{{wd - we}'d0, {t}}} * {wd}'d{2 * k}", signed=False)
        q2 = dp.wire(f"q{i}", wd, f"{num} / {s}", signed=False)
        rem = dp.wire(f"rm{i}", wd, f"{num} % {s}", signed=False)
        low = dp.wire(f"lo{i}", wr, f"{q2}[{wr}:1]", signed=False)
        tie = dp.wire(f"ti{i}", 1, f"{q2}[0] & ({rem} == {wd}'d0) & ~{q2}[1]", signed=False)
        up = dp.wire(f"up{i}", 1, f"{q2}[0] & ~{tie}", signed=False)
        r = dp.wire(f"rr{i}", wr, f"{low} + {{{wr - 1}'d0, {up}}}" if wr > 1 else f"{low} + {up}", signed=False)
        ra = dp.wire(f"ra{i}", oaw, r if oaw == wr else (f"{r}[{oaw - 1}:0]" if oaw < wr else
                                                          f"{{{oaw - wr}'d0, {r}}}"), signed=False)
        dp.read_rom(orom, f"u_out{i}", ra, f"oc{i}", of.width)
        parts.append(dp.unary(UnarySpec.requant(of, node.formats["result"]), f"oc{i}", f"r{i}", prefix))
    return parts


@lowering(CodeSoftmax)
class CodeSoftmaxLowering(Lowering):
    """Maximum chain, exp ROM per element, one adder, a divider and an output ROM per element."""

    def lower(self, ctx):
        dp = element_layer(ctx)
        return finish(dp, ctx, lower_code_softmax(dp, ctx.node, ctx.x, ctx.sizes[0], ctx.prefix))

    def cost(self, ctx):
        """Comparators for the maximum, both tables' bits, the sum, n dividers (a quotient bit
        costs a subtractor of the operand width) and the cast and register per output."""
        node, n = ctx.node, ctx.n_out
        we, ws, wn, wr = _widths(node, n)
        wd = max(ws, wn)
        exp = np.asarray(node.params["exp"], np.int64)
        out = np.asarray(node.params["out"], np.int64)
        b = n * bits(self.live_span(ctx))
        return counts(ccmp_bits=(n - 1) * (ctx.in_fmts[0].width + 1), add_bits=n * ws + n * wd * (wr + 2),
                      rom_bits=int(exp.size) * we + int(out.size) * table_format(out).width,
                      cast_bits=b, reg_bits=b)


__all__ = ["lower_code_softmax", "CodeSoftmaxLowering"]
