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
    # a clock period's registers in the element chain (labels of :func:`element_delay`)
    dp.cuts = frozenset(c for c in ctx.options.get("cuts") or () if isinstance(c, str))
    dp.header += [f"node: {node.name} ({node.op}), {ctx.n_out} outputs",
                  "in: " + ", ".join(map(str, ctx.in_fmts)) + f"  result: {res}"]
    return dp


def finish(dp: Datapath, ctx, parts: list[str]) -> Datapath:
    """Register the result wires ``parts`` (element order) as the layer output."""
    for e, r in enumerate(parts):
        dp.y_parts.append(dp.reg(f"y{e}", ctx.res.width, r, signed=False))
    dp.latency, dp.ii = 1 + len(dp.applied), 1
    return dp


def element_delay(ctx, before: list[tuple[str, float]], spec, split: bool = True) -> list:
    """The delay blocks of an element chain (:meth:`~qhw.backends.verilog.lowering.Lowering.delay`):
    the ``before`` blocks (name, ns[, cut]: a table read, a window, comparisons), a register
    possible after them ("pre"), then the unary block ``spec``: with ``split`` its clamp/multiply, a
    register possible after it ("mid"), then its cast."""
    from qhw.backends.verilog import timing

    m = timing.model(ctx.target)
    out = [timing.Block(*b) for b in before]
    if out:
        out[-1] = timing.Block(out[-1].name, out[-1].ns, cut="pre")
    if spec is None:
        return out
    pre = timing.unary(m, spec) - timing.cast(m, spec)
    if split and (spec.lo is not None or spec.hi is not None or spec.multiplier is not None):
        out.append(timing.Block("clamp/multiply", pre, cut="mid"))
        pre = 0.0
    out.append(timing.Block("cast", pre + timing.cast(m, spec)))
    return out


def element(ctx, i: int, k: int = 0) -> Signal:
    """Element ``i`` of input ``k`` on the layer's input bus, typed by that input's format."""
    f = ctx.in_fmts[k]
    return Signal("x", ctx.offsets[-1]).element(i, f.width, f.signed, offset=ctx.offsets[k])


__all__ = ["element_layer", "finish", "element", "element_delay", "signed_bits"]
