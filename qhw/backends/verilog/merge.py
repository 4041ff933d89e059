"""Two tensors combined element by element (``Trait.MERGE``: add, mul): the exact sum or product
one bit wider than its format (so every operand is a signed expression), then the result cast."""
from __future__ import annotations

from qhw.backends.verilog.elementwise import element, element_layer, finish
from qhw.backends.verilog.lowering import Lowering, bits, counts, live, lowering
from qhw.backends.verilog.requant import UnarySpec
from qhw.backends.verilog.signal import Signal
from qhw.fixed import FixedFormat, add_format
from qhw.ops.traits import Trait


def _adds(ctx) -> bool:
    """Whether the op's exact arithmetic is a sum (else a product)."""
    return ctx.op.exact_format is add_format


@lowering(Trait.MERGE)
class MergeLowering(Lowering):
    def lower(self, ctx):
        dp = element_layer(ctx)
        fa, fb = ctx.in_fmts
        exact = ctx.op.exact_format(fa, fb)
        add = _adds(ctx)
        ws = exact.width + 1
        sf = FixedFormat(ws, ws - exact.frac_bits, True)
        spec = UnarySpec(sf, ctx.res, FixedFormat(ws, ws - exact.frac_bits, exact.signed))
        parts = []
        for e in range(ctx.n_out):
            a = Signal(dp.wire(f"a{e}", fa.width, element(ctx, e, 0), signed=False), fa.width, fa.signed)
            b = Signal(dp.wire(f"b{e}", fb.width, element(ctx, e, 1), signed=False), fb.width, fb.signed)
            if add:  # both operands on the sum's grid: extended, then zeros appended
                sa, sb = exact.frac_bits - fa.frac_bits, exact.frac_bits - fb.frac_bits
                v = dp.wire(f"v{e}", ws, f"{a.extend(ws - sa).shl(sa)} + {b.extend(ws - sb).shl(sb)}")
            else:
                v = dp.wire(f"v{e}", ws, f"{a.extend(ws)} * {b.extend(ws)}")
            parts.append(dp.unary(spec, v, f"r{e}", ctx.prefix))
        return finish(dp, ctx, parts)

    def live_span(self, ctx):
        if _adds(ctx):
            return live(ctx.res, min(s[0] for s in ctx.in_spans), max(s[1] for s in ctx.in_spans) + 1)
        return live(ctx.res, sum(s[0] for s in ctx.in_spans), sum(s[1] + 1 for s in ctx.in_spans))

    def cost(self, ctx):
        """The adder over the live bits, or a LUT multiplier of the operand widths; the cast and
        the register."""
        n, b = ctx.n_out, bits(self.live_span(ctx))
        arith = counts(add_bits=n * b) if _adds(ctx) else counts(mul_bits=n * ctx.x.width * ctx.in_fmts[-1].width)
        return counts(arith, reg_bits=n * b, cast_bits=n * b)
