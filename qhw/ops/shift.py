"""shift: multiply by 2**shift. Free in hardware: the codes stay, the binary point moves."""
from __future__ import annotations

from qhw.fixed import FixedFormat
from qhw.ops.base import OpDef
from qhw.ops.traits import Trait
from qhw.ops.registry import register


def moved(fmt: FixedFormat, shift: int) -> FixedFormat:
    """``fmt`` read ``shift`` places to the left (the same codes times 2**shift)."""
    return FixedFormat(fmt.width, fmt.integer_bits + shift, fmt.signed)


@register
class Shift(OpDef):
    """attrs: shift (int, positive = left = larger values)."""
    traits = frozenset({Trait.ELEMENTWISE, Trait.RESCALE, Trait.POINT_SHIFT})

    name = "shift"
    required = ("shift",)

    def moved_format(self, node, fmt: FixedFormat) -> FixedFormat:
        """The input format ``fmt`` with the binary point moved: the exact format of the output."""
        return moved(fmt, int(node.attrs["shift"]))

    def is_identity(self, node, src) -> bool:
        return int(node.attrs["shift"]) == 0

    def infer_formats(self, node, in_fmts, ctx):
        node.formats["result"] = ctx.choose(node, "result", moved(in_fmts[0], int(node.attrs["shift"])))

    def golden(self, node, inputs, in_fmts, ctx):
        src = moved(in_fmts[0], int(node.attrs["shift"]))
        return ctx.assign(node.name, node.formats["result"], inputs[0], src)

    def float_eval(self, node, inputs):
        return inputs[0] * 2.0 ** int(node.attrs["shift"])
