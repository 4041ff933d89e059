"""softmax over the last axis, as hardware computes it; and its argmax-only variant.

variant "stable" (default): m = max(x); d = x - m (exact, <= 0); e = exp ROM(d) (qhw.tables,
input range [-8, 0), ``table_size`` entries of the ``exp_table`` format); s = sum(e) exactly in
the ``accum`` format; r = reciprocal ROM(s) (input range [0, 2^ceil(log2 N)), ``table_size``
entries of the ``inv_table`` format); y = result.cast(e * r) (exact product, then the result
format's rounding and overflow). Every step is an integer operation on codes: this is the
specification the RTL and HLS implement.

variant "argmax": the index of the first maximum (ap_uint<ceil(log2 N)>), the cheap output when
only the class matters. Float mode: the true softmax / argmax.
"""
from __future__ import annotations

import math

import numpy as np

import qhw.fixed as qf
from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.ops.base import OpDef
from qhw.ops.registry import register
from qhw.tables import build_rom

VARIANTS = ("stable", "argmax")
EXP_RANGE = (-8.0, 0.0)


def _log2ceil(n: int) -> int:
    return max(1, math.ceil(math.log2(n)))


@register
class Softmax(OpDef):
    name = "softmax"
    attrs = {"variant": "stable", "table_size": 1024}

    def check(self, node):
        super().check(node)
        if node.attrs["variant"] not in VARIANTS:
            raise ModelError(f"softmax {node.name!r}: variant {node.attrs['variant']!r} is not one of {VARIANTS}")

    def infer_shape(self, node, in_shapes):
        if len(in_shapes[0]) != 1 or in_shapes[0][0] < 1:
            raise ModelError(f"softmax {node.name!r}: input must be a vector (N,), got {in_shapes[0]}")
        node._raw_cache["softmax_n"] = int(in_shapes[0][0])  # format inference needs N
        return (1,) if node.attrs["variant"] == "argmax" else tuple(in_shapes[0])

    def infer_formats(self, node, in_fmts, ctx):
        n = self._n(node, in_fmts)
        if node.attrs["variant"] == "argmax":
            node.formats["result"] = ctx.choose(node, "result", FixedFormat(_log2ceil(n), _log2ceil(n), False))
            return
        exp_f = ctx.choose(node, "exp_table", None, FixedFormat(18, 1, False, "RND", "SAT"))
        lg = _log2ceil(n)
        node.formats["exp_table"] = exp_f
        node.formats["accum"] = ctx.choose(node, "accum", FixedFormat(exp_f.width + lg, exp_f.integer_bits + lg, False))
        node.formats["inv_table"] = ctx.choose(node, "inv_table", None, FixedFormat(18, 2, False, "RND", "SAT"))
        node.formats["result"] = ctx.choose(node, "result", None, FixedFormat(ctx.default.width, 1, False, "RND", "SAT"))

    @staticmethod
    def _n(node, in_fmts) -> int:
        return node._raw_cache["softmax_n"]

    def diff_format(self, x: FixedFormat) -> FixedFormat:
        """x - max(x): exact, one more bit, signed."""
        return FixedFormat(x.width + 1, x.integer_bits + 1, True)

    def tables(self, node, x: FixedFormat, n: int):
        """(exp RomTable on x - max, reciprocal RomTable on the sum), cached on the node."""
        key = ("softmax", x, n, node.formats["exp_table"], node.formats["inv_table"],
               node.formats["accum"], int(node.attrs["table_size"]))

        def build():
            size = int(node.attrs["table_size"])
            try:
                ex = build_rom("exp", self.diff_format(x), node.formats["exp_table"], table_size=size,
                               input_range=EXP_RANGE)
                inv = build_rom("reciprocal", node.formats["accum"], node.formats["inv_table"],
                                table_size=size, input_range=(0.0, float(2 ** _log2ceil(n))))
            except ValueError as exc:
                raise ModelError(f"softmax {node.name!r}: {exc}") from None
            return ex, inv

        return node.cached(key, build)

    def golden(self, node, inputs, in_fmts, ctx):
        x, xf = np.asarray(inputs[0], np.int64), in_fmts[0]
        if node.attrs["variant"] == "argmax":
            return np.argmax(x, axis=-1)[..., None].astype(np.int64)
        ex, inv = self.tables(node, xf, x.shape[-1])
        d = x - x.max(axis=-1, keepdims=True)
        e = ex.lookup(d)  # raw codes of exp_table
        s = e.sum(axis=-1, keepdims=True)  # exact in accum (lossless by construction)
        r = inv.lookup(s)
        prod, pf = qf.mul(e, node.formats["exp_table"], r, node.formats["inv_table"])
        return ctx.assign(node.name, node.formats["result"], prod, pf)

    def float_eval(self, node, inputs):
        x = np.asarray(inputs[0], np.float64)
        if node.attrs["variant"] == "argmax":
            return np.argmax(x, axis=-1)[..., None].astype(np.float64)
        z = np.exp(x - x.max(axis=-1, keepdims=True))
        return z / z.sum(axis=-1, keepdims=True)
