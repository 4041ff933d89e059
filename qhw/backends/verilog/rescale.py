"""Changes of scale by constants: shift (a moved binary point), requantize (an integer
multiplier, per channel or for all) through the shared unary block, and threshold (a count of
constant comparisons selecting one of T + 1 constants)."""
from __future__ import annotations

import numpy as np

from qhw.backends.verilog.elementwise import element, element_delay, element_layer, finish
from qhw.backends.verilog.lowering import Lowering, bits, counts, lowering, span
from qhw.backends.verilog.requant import UnarySpec
from qhw.ops.requantize import Requantize
from qhw.ops.shift import Shift, moved
from qhw.ops.threshold import Threshold


class _Rescale(Lowering):
    def spec(self, ctx, e: int) -> UnarySpec:
        raise NotImplementedError

    def lower(self, ctx):
        dp = element_layer(ctx)
        return finish(dp, ctx, [dp.unary(self.spec(ctx, e), element(ctx, e), f"r{e}", ctx.prefix,
                                         pipe=("mid",))
                                for e in range(ctx.n_out)])

    def delay(self, ctx):
        """The constant multiply (a register possible after it), the cast; the slowest element."""
        blocks = [element_delay(ctx, [], self.spec(ctx, e)) for e in range(ctx.n_out)]
        return max(blocks, key=lambda b: sum(x.ns for x in b))

    def live_span(self, ctx):
        return span(ctx.res)


@lowering(Shift)
class ShiftLowering(_Rescale):
    def spec(self, ctx, e):
        return UnarySpec(ctx.x, ctx.res, moved(ctx.x, int(ctx.node.attrs["shift"])))


@lowering(Requantize)
class RequantizeLowering(_Rescale):
    def spec(self, ctx, e):
        m = np.asarray(ctx.node.attrs["multiplier"], np.int64)
        mc = int(m) if m.ndim == 0 else int(m[e % m.size])
        return UnarySpec(ctx.x, ctx.res, ctx.op.product_format(ctx.node, ctx.x), multiplier=mc)


@lowering(Threshold)
class ThresholdLowering(Lowering):
    """Per element: T comparisons of the input code with constant thresholds, their count, and
    the count selecting one of T + 1 result constants. Comparisons run on offset-binary codes
    (x + 2**(W-1) for a signed x, a flipped sign bit) one bit wider, so every operand and
    literal is unsigned and a threshold just above the range (never reached) still fits."""

    def lower(self, ctx):
        dp = element_layer(ctx)
        node, x, res, n_out = ctx.node, ctx.x, ctx.res, ctx.n_out
        codes = ctx.op.codes(node, x)  # (C or 1, T) in [raw_min, raw_max + 1]
        table = ctx.op.outputs(node, res)
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
                xe = dp.wire(f"x{e}", x.width, element(ctx, e), signed=False)
                if x.signed and x.width > 1:
                    xu = f"{{1'b0, ~{xe}[{x.width - 1}], {xe}[{x.width - 2}:0]}}"
                else:
                    xu = f"{{1'b0, {'~' if x.signed else ''}{xe}}}"
                u = dp.wire(f"xu{e}", x.width + 1, xu, signed=False)
            # a threshold at the bottom of the range always counts, one above it never does
            # with a clock period's "pre" register: the comparisons registered
            bit = dp.reg if "pre" in dp.cuts else dp.wire
            ge = [bit(f"ge{e}_{t}", 1, f"{u} >= {x.width + 1}'d{int(c) + off}" if ok
                      else "1'b1" if c <= x.raw_min else "1'b0", signed=False)
                  for t, (c, ok) in enumerate(zip(row, live))]
            cnt = dp.wire(f"cnt{e}", wc, " + ".join(f"{{{wc - 1}'d0, {b}}}" for b in ge) if wc > 1
                          else ge[0], signed=False)
            sel = f"{res.width}'h{int(table[-1]) & mask:x}"
            for k in range(t_n - 1, -1, -1):
                sel = f"({cnt} == {wc}'d{k}) ? {res.width}'h{int(table[k]) & mask:x} : {sel}"
            parts.append(dp.wire(f"r{e}", res.width, sel, signed=False))
        if "pre" in dp.cuts:
            dp.applied.add("pre")
        return finish(dp, ctx, parts)

    def delay(self, ctx):
        """The comparisons (a register possible after them), their count and the select."""
        from qhw.backends.verilog import timing

        m = timing.model(ctx.target)
        t_n = int(ctx.node.params["thresholds"].shape[1])
        count = m.rows_sum(t_n, max(1, t_n.bit_length())) if t_n > 1 else 0.0
        return [timing.Block("comparisons", m.adder(ctx.x.width + 1), cut="pre"),
                timing.Block("count and select", count + m.mux(t_n + 1))]

    def live_span(self, ctx):
        return span(ctx.res)

    def cost(self, ctx):
        """T comparators per element, then a (T+1)-way select, the cast and the register."""
        n = ctx.n_out
        steps = int(ctx.node.params["thresholds"].shape[1])
        b = n * bits(self.live_span(ctx))
        return counts(add_bits=n * steps * (ctx.x.width + 1), rom_bits=n * (steps + 1) * ctx.res.width,
                      reg_bits=b, cast_bits=b)


__all__ = ["ShiftLowering", "RequantizeLowering", "ThresholdLowering"]
