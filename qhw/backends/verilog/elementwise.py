"""The element layer shared by every non-MAC family: every output element is a small function
of a few input elements (a gather), then a unary block, then the output register (latency 1,
II 1). A family's ``lower`` builds the result wire of each element; :func:`element_layer` opens
the layer and :func:`finish` registers the results. Index maps come from the op modules
themselves (their window and gather functions run on index codes), so the hardware cannot drift
from the golden geometry."""
from __future__ import annotations

from qhw.backends.verilog.datapath import Datapath
from qhw.backends.verilog.requant import signed_bits
from qhw.backends.verilog.signal import Signal


def element_layer(ctx) -> Datapath:
    """An empty element layer for ``ctx`` (module, title, header, bus widths)."""
    node, res = ctx.node, ctx.res
    dp = Datapath(ctx.module, f"{node.op} {node.name!r}", ctx.offsets[-1], ctx.n_out * res.width)
    dp.header += [f"node: {node.name} ({node.op}), {ctx.n_out} outputs",
                  "in: " + ", ".join(map(str, ctx.in_fmts)) + f"  result: {res}"]
    return dp


def finish(dp: Datapath, ctx, parts: list[str]) -> Datapath:
    """Register the result wires ``parts`` (element order) as the layer output."""
    for e, r in enumerate(parts):
        dp.y_parts.append(dp.reg(f"y{e}", ctx.res.width, r, signed=False))
    dp.latency, dp.ii = 1, 1
    return dp


def element(ctx, i: int, k: int = 0) -> Signal:
    """Element ``i`` of input ``k`` on the layer's input bus, typed by that input's format."""
    f = ctx.in_fmts[k]
    return Signal("x", ctx.offsets[-1]).element(i, f.width, f.signed, offset=ctx.offsets[k])


__all__ = ["element_layer", "finish", "element", "signed_bits"]
