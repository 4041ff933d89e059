"""requantize: y = x * M * 2**-shift with an integer multiplier M (per tensor or per channel).

The integer form of an affine rescale s_in * s_w / s_out (see qhw.quant for deriving M and
shift). The exact product is assigned to the result, whose rounding mode rounds the shift.
"""
from __future__ import annotations

import numpy as np

from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.ops.base import OpDef
from qhw.ops.traits import Trait
from qhw.ops.registry import register


def multiplier_format(node) -> FixedFormat:
    m = np.asarray(node.attrs["multiplier"], np.int64)
    bits = int(max(abs(int(m.max(initial=0))), abs(int(m.min(initial=0))) + 0).bit_length()) + 1
    return FixedFormat(max(bits, 2), max(bits, 2), True)


@register
class Requantize(OpDef):
    """attrs: multiplier (int or list over the last axis), shift (int >= 0)."""
    traits = frozenset({Trait.ELEMENTWISE, Trait.RESCALE})

    name = "requantize"
    required = ("multiplier", "shift")

    def check(self, node):
        super().check(node)
        if int(node.attrs["shift"]) < 0:
            raise ModelError(f"requantize {node.name!r}: shift must be >= 0")

    def product_format(self, node, x: FixedFormat) -> FixedFormat:
        mf = multiplier_format(node)
        w = x.width + mf.width
        if w > 64:
            raise ModelError(f"requantize {node.name!r}: {x} times a {mf.width}-bit multiplier "
                             "needs more than 64 bits")
        return FixedFormat(w, x.integer_bits + mf.width - int(node.attrs["shift"]), True)

    def infer_shape(self, node, in_shapes):
        m = np.asarray(node.attrs["multiplier"])
        if m.ndim == 1 and (not in_shapes[0] or in_shapes[0][-1] != m.size):
            raise ModelError(f"requantize {node.name!r}: {m.size} multipliers for input shape {in_shapes[0]}")
        return in_shapes[0]

    def infer_formats(self, node, in_fmts, ctx):
        node.formats["result"] = ctx.choose(node, "result", self.product_format(node, in_fmts[0]),
                                            ctx.default)

    def golden(self, node, inputs, in_fmts, ctx):
        m = np.asarray(node.attrs["multiplier"], np.int64)
        prod = inputs[0] * m  # exact: fits the product format (<= 64 bits)
        return ctx.assign(node.name, node.formats["result"], prod, self.product_format(node, in_fmts[0]))

    def float_eval(self, node, inputs):
        m = np.asarray(node.attrs["multiplier"], np.float64)
        y = inputs[0] * m * 2.0 ** -int(node.attrs["shift"])
        fmt = node.formats.get("result")
        if fmt is not None and fmt.overflow == "SAT":  # the clamp of a requantization (a fused ReLU)
            y = np.clip(y, fmt.min, fmt.max)
        return y
