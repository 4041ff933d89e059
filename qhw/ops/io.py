"""input and output: the graph's ports."""
from __future__ import annotations

import numpy as np

from qhw.errors import ModelError
from qhw.ops.base import OpDef
from qhw.ops.registry import register


@register
class Input(OpDef):
    """A graph input. attrs: shape (without batch). Its ``result`` format must be given."""

    name = "input"
    arity = 0
    required = ("shape",)

    def infer_shape(self, node, in_shapes):
        return tuple(int(d) for d in node.attrs["shape"])

    def infer_formats(self, node, in_fmts, ctx):
        fmt = node.formats.get("result") or ctx.lookup(node, "result")
        if fmt is None:
            raise ModelError(f"input {node.name!r} has no format: give it one (e.g. "
                             "'ap_fixed<16,6>') in the model or the config")
        node.formats["result"] = fmt

    def golden(self, node, inputs, in_fmts, ctx):  # pragma: no cover - fed by the executor
        raise AssertionError("inputs are fed by the executor")

    def float_eval(self, node, inputs):  # pragma: no cover
        raise AssertionError("inputs are fed by the executor")


@register
class Output(OpDef):
    """A graph output: the value of its input, assigned to its ``result`` format."""

    name = "output"

    def golden(self, node, inputs, in_fmts, ctx):
        return ctx.assign(node.name, node.formats["result"], inputs[0], in_fmts[0])

    def float_eval(self, node, inputs):
        return inputs[0]
