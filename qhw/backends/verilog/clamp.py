"""Clamps (relu, relu6, clip; ``Trait.CLAMP``): per element the shared unary block with the
clamp bounds in the input's codes, then the result cast."""
from __future__ import annotations

from qhw.backends.verilog.elementwise import element, element_delay, element_layer, finish
from qhw.backends.verilog.lowering import Lowering, lowering
from qhw.backends.verilog.requant import UnarySpec
from qhw.ops.activation import _bound_codes
from qhw.ops.traits import Trait


@lowering(Trait.CLAMP)
class ClampLowering(Lowering):
    def spec(self, ctx) -> UnarySpec:
        x = ctx.x
        rlo, rhi = _bound_codes(x, *ctx.op.limits(ctx.node))
        return UnarySpec(x, ctx.res, x, lo=rlo, hi=rhi)

    def lower(self, ctx):
        dp = element_layer(ctx)
        spec = self.spec(ctx)
        return finish(dp, ctx, [dp.unary(spec, element(ctx, e), f"r{e}", ctx.prefix, pipe=("mid",))
                                for e in range(ctx.n_out)])

    def delay(self, ctx):
        """The comparison and select of the clamp (a register possible after it), the cast."""
        return element_delay(ctx, [], self.spec(ctx))

    def nonneg(self, ctx):
        lo, _ = ctx.op.limits(ctx.node)
        return not ctx.res.signed or (lo is not None and lo >= 0)
