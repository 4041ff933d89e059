"""Data movement (``Trait.GATHER``: flatten, reshape, concat, upsample, depth_to_space, output):
every output element is one input element, cast to the result format by the shared unary block
(a plain copy when the formats agree), or the pad constant (0 unless the pad node's ``value``
says otherwise, cast to the result format) where a gather map says -1. The
element map comes from the op: ``source_index`` of a gather op, the concatenation of the inputs
along the op's axis, or the identity."""
from __future__ import annotations

import numpy as np

from qhw.backends.verilog.elementwise import element, element_layer, finish
from qhw.backends.verilog.lowering import Lowering, bits, counts, lowering
from qhw.backends.verilog.requant import UnarySpec
from qhw.ops.base import GatherOp
from qhw.ops.reshape import Concat
from qhw.ops.traits import Trait


def sources(ctx) -> tuple[list[int], list[int]]:
    """Per output element (row-major): which input, and which element of it, it copies."""
    op, n = ctx.op, ctx.n_out
    if isinstance(op, GatherOp):
        return [0] * n, [int(i) for i in op.source_index(ctx.node, tuple(ctx.in_shapes[0]))]
    if isinstance(op, Concat):
        axis = int(ctx.node.attrs["axis"]) % len(ctx.node.shape)
        idx = [np.arange(k).reshape(s) for k, s in zip(ctx.sizes, ctx.in_shapes)]
        src = [np.full(s, k) for k, s in enumerate(ctx.in_shapes)]
        return ([int(k) for k in np.concatenate(src, axis=axis).ravel()],
                [int(i) for i in np.concatenate(idx, axis=axis).ravel()])
    return [0] * n, list(range(n))


@lowering(Trait.GATHER)
class MoveLowering(Lowering):
    def lower(self, ctx):
        dp = element_layer(ctx)
        parts = []
        fill = getattr(ctx.op, "fill", lambda node: 0)(ctx.node)  # pad's constant, raw input code
        word = int(ctx.res.cast(np.array([fill]), ctx.in_fmts[0])[0]) & ((1 << ctx.res.width) - 1)
        for e, (k, i) in enumerate(zip(*sources(ctx))):
            if i < 0:
                parts.append(dp.wire(f"r{e}", ctx.res.width, f"{ctx.res.width}'d{word}", signed=False))
                continue
            parts.append(dp.unary(UnarySpec.requant(ctx.in_fmts[k], ctx.res), element(ctx, i, k), f"r{e}",
                                  ctx.prefix))
        return finish(dp, ctx, parts)

    def nonneg(self, ctx):
        return not ctx.res.signed or all(ctx.in_nonneg)

    def cost(self, ctx):
        """A register per live output bit; a cast unless every input is in the result format
        (then the unary block is a copy)."""
        b = ctx.n_out * bits(self.live_span(ctx))
        copy = all(f == ctx.res for f in ctx.in_fmts)
        return counts(reg_bits=b, cast_bits=0 if copy else b)
