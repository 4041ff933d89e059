"""add and mul of two tensors of the same shape: exact, then assigned to the result."""
from __future__ import annotations

import qhw.fixed as qf
from qhw.errors import ModelError
from qhw.ops.base import OpDef
from qhw.ops.traits import Trait
from qhw.ops.registry import register


class _Binary(OpDef):
    traits = frozenset({Trait.MERGE})
    arity = 2
    exact = staticmethod(qf.add)
    exact_format = staticmethod(qf.add_format)
    hls4ml_class, hls4ml_slots = "Merge", ("result",)

    def hls4ml_merge(self, a, b, maximum):
        from qhw.ops.hls4ml_auto import sum_precision

        return sum_precision(a, b, maximum)

    def hls4ml_auto(self, node, slot, in_fmts, default, maximum):
        return self.hls4ml_merge(in_fmts[0], in_fmts[1], maximum) if len(in_fmts) == 2 else default

    def infer_shape(self, node, in_shapes):
        if in_shapes[0] != in_shapes[1]:
            raise ModelError(f"{self.name} {node.name!r}: input shapes {in_shapes[0]} and "
                             f"{in_shapes[1]} differ")
        return in_shapes[0]

    def infer_formats(self, node, in_fmts, ctx):
        try:
            lossless = self.exact_format(in_fmts[0], in_fmts[1])
        except ValueError as exc:
            raise ModelError(f"{self.name} {node.name!r}: {exc}") from None
        node.formats["result"] = ctx.choose(node, "result", lossless)

    def golden(self, node, inputs, in_fmts, ctx):
        raw, fmt = self.exact(inputs[0], in_fmts[0], inputs[1], in_fmts[1])
        return ctx.assign(node.name, node.formats["result"], raw, fmt)


@register
class Add(_Binary):
    name = "add"
    hls4ml_names = ("add",)

    def float_eval(self, node, inputs):
        return inputs[0] + inputs[1]


@register
class Mul(_Binary):
    name = "mul"
    exact = staticmethod(qf.mul)
    exact_format = staticmethod(qf.mul_format)
    hls4ml_names = ("multiply", "mul")

    def hls4ml_merge(self, a, b, maximum):
        from qhw.ops.hls4ml_auto import product_precision

        return product_precision(a, b, maximum)

    def float_eval(self, node, inputs):
        return inputs[0] * inputs[1]
