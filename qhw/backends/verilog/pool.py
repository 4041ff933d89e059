"""Pooling (``Trait.POOL``): per output element the window's input elements (found by running
the op's own window function on index codes; padded taps dropped). Max pools (``Trait.MOVE``:
the output is one of the inputs) compare in a chain, the later element winning only when
strictly greater; average pools add the window exactly, cast into ``accum`` and multiply by the
quantized reciprocal of the window size in the result cast."""
from __future__ import annotations

import math

import numpy as np

from qhw.backends.verilog.elementwise import element, element_delay, element_layer, finish
from qhw.backends.verilog.lowering import Lowering, bits, counts, live, lowering
from qhw.backends.verilog.requant import UnarySpec
from qhw.fixed import FixedFormat, mul_format
from qhw.ops.traits import Trait


def _is_max(ctx) -> bool:
    return Trait.MOVE in ctx.op.traits


@lowering(Trait.POOL)
class PoolLowering(Lowering):
    def lower(self, ctx):
        dp = element_layer(ctx)
        node, x0, res, prefix, opdef = ctx.node, ctx.x, ctx.res, ctx.prefix, ctx.op
        codes = (np.arange(ctx.sizes[0], dtype=np.int64) + 1).reshape((1,) + tuple(ctx.in_shapes[0]))
        win = opdef._windows(node, codes, 0)[0]  # (*out, taps, C)
        win = win.reshape(-1, win.shape[-2], win.shape[-1]) - 1
        taps = win.shape[1]
        wx = x0.width + (0 if x0.signed else 1)
        parts = []
        for p in range(win.shape[0]):
            for c in range(win.shape[2]):
                e = p * win.shape[2] + c
                ids = [int(i) for i in win[p, :, c] if i >= 0]
                if _is_max(ctx):
                    cur = None
                    for n, i in enumerate(ids):
                        xi = dp.wire(f"m{e}_{n}x", wx, element(ctx, i).extend(wx))
                        cur = xi if cur is None else dp.wire(
                            f"m{e}_{n}", wx, f"({xi} > {cur}) ? {xi} : {cur}")
                    if cur is None:
                        cur = dp.wire(f"m{e}_pad", wx, f"{wx}'sd0")
                    sf = FixedFormat(wx, wx - x0.frac_bits, True)
                    if "accum" in node.formats:  # hls4ml: the max is returned as accum_t first
                        acc = node.formats["accum"]
                        cur = dp.unary(UnarySpec(sf, acc, FixedFormat(wx, wx - x0.frac_bits, x0.signed)),
                                       cur, f"a{e}", prefix, pipe=("pre",))
                        parts.append(dp.unary(UnarySpec(acc, res, acc), cur, f"r{e}", prefix))
                    else:
                        spec = UnarySpec(sf, res, FixedFormat(wx, wx - x0.frac_bits, x0.signed))
                        parts.append(dp.unary(spec, cur, f"r{e}", prefix, pipe=("pre",)))
                else:
                    acc, scale = node.formats["accum"], node.formats["scale"]
                    sumf = opdef.sum_format(node, x0)
                    ws = wx + max(1, math.ceil(math.log2(taps))) + 1
                    terms = [element(ctx, i).extend(ws) for i in ids] or [f"{ws}'sd0"]
                    v = dp.wire(f"v{e}", ws, " + ".join(map(str, terms)))
                    a = dp.unary(UnarySpec(FixedFormat(ws, ws - x0.frac_bits, True), acc,
                                           FixedFormat(ws, ws - x0.frac_bits, sumf.signed)),
                                 v, f"a{e}", prefix, pipe=("pre",))
                    recip = int(scale.quantize(1.0 / opdef.divisor(node)))
                    pf = mul_format(acc, scale)
                    parts.append(dp.unary(UnarySpec(acc, res, pf, multiplier=recip), a, f"r{e}", prefix,
                                          pipe=("mid",)))
        return finish(dp, ctx, parts)

    def nonneg(self, ctx):
        return not ctx.res.signed or (_is_max(ctx) and all(ctx.in_nonneg))

    def delay(self, ctx):
        """Max: the compare-and-select chain over the window (a register possible after it),
        then the casts. Average: the window sum (a register possible after it), the cast into
        ``accum`` and the multiply by the reciprocal (one after them), the result cast."""
        from qhw.backends.verilog import timing

        m, x0, res, node = timing.model(ctx.target), ctx.x, ctx.res, ctx.node
        taps = int(np.prod(np.atleast_1d(node.attrs.get("kernel_size", 2))))
        wx = x0.width + (0 if x0.signed else 1)
        if _is_max(ctx):
            sf = FixedFormat(wx, wx - x0.frac_bits, True)
            window = [("window compare", (taps - 1) * (m.adder(wx) + m.luts(1)))]
            if "accum" in node.formats:
                acc = node.formats["accum"]
                blocks = element_delay(ctx, window, UnarySpec.requant(sf, acc), split=False)
                last = blocks.pop()
                tail = element_delay(ctx, [], UnarySpec(acc, res, acc))[-1]
                return blocks + [timing.Block("accum and result casts", last.ns + tail.ns)]
            return element_delay(ctx, window, UnarySpec(sf, res, FixedFormat(wx, wx - x0.frac_bits, x0.signed)))
        acc, scale = node.formats["accum"], node.formats["scale"]
        ws = wx + max(1, math.ceil(math.log2(taps))) + 1
        blocks = [timing.Block("window sum", m.rows_sum(taps, ws), cut="pre")]
        recip = int(scale.quantize(1.0 / taps))
        spec = UnarySpec(acc, res, mul_format(acc, scale), multiplier=recip)
        first = timing.unary(m, UnarySpec.requant(FixedFormat(ws, ws - x0.frac_bits, True), acc))
        rest = element_delay(ctx, [], spec)
        return blocks + [timing.Block("accum cast and reciprocal", first + rest[0].ns, cut="mid"), rest[1]]

    def live_span(self, ctx):
        if _is_max(ctx):
            return super().live_span(ctx)
        return live(ctx.res, -ctx.res.frac_bits, max(s[1] for s in ctx.in_spans))

    def cost(self, ctx):
        """Max: a compare-and-select per extra tap over the input's live bits; average: an adder
        per extra tap one bit wider. Then the result cast and register."""
        n, b = ctx.n_out, bits(self.live_span(ctx))
        taps = int(np.prod(np.atleast_1d(ctx.node.attrs.get("kernel_size", 2))))
        wx = bits(ctx.in_spans[0])
        window = counts(cast_bits=n * (taps - 1) * wx) if _is_max(ctx) else counts(add_bits=n * (taps - 1) * (wx + 1))
        return counts(window, reg_bits=n * b, cast_bits=n * b)
