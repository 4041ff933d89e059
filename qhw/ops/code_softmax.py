"""code_softmax: softmax of integer codes over the last axis, the way onnxruntime's
QLinearSoftmax computes it, in integers.

    t_j = exp[x_j - max(x) + len(exp) - 1]      (a table per code difference; an index below 0
                                                 reads exp[0])
    r_j = round_half_even(scale * t_j / sum(t))  (an exact division)
    y_j = out[r_j]                               (a table per r in [0, scale]: the output code)

onnxruntime builds a float32 table of exp(x_scale * (difference + shift)), sums it in float32 and
divides in float32; qhw.frontends.onnx_qdq turns that table into integers (2**30 for the
difference 0) and ``out`` into onnxruntime's zero point and saturation, so the only difference
left is float32 rounding in its sum and quotient near a tie (measured: none in 700,000 outputs).

Input: integer codes (a format without fraction bits), a vector (N,). Params ``exp`` (positive
integers, the last one for the difference 0) and ``out`` (integer codes, scale + 1 of them); attr
``scale`` (integer >= 1). Result: an integer format holding every ``out`` entry. In hardware: a
comparison chain for the maximum, a ROM read per element, an adder for the sum, a divider per
element and a ROM read of the output code.
"""
from __future__ import annotations

import numpy as np

from qhw import limits
from qhw.errors import ModelError
from qhw.ops.base import OpDef
from qhw.ops.code_table import table_format
from qhw.ops.registry import register

#: bits of the sum and the numerators the golden model and the backends hold (int64)
MAX_BITS = 62


def divide_half_even(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """round_half_even(num / den) for non-negative integers num and positive den, exactly."""
    q2, rem = np.divmod(2 * num, den)
    low = q2 >> 1
    tie = (q2 & 1 == 1) & (rem == 0)
    return np.where(q2 & 1 == 0, low, np.where(tie & (low & 1 == 0), low, low + 1))


@register
class CodeSoftmax(OpDef):
    """attrs: scale. params: exp, out (integer tables, see the module docstring)."""

    name = "code_softmax"
    required = ("scale",)
    params = ("exp", "out")

    def check(self, node):
        super().check(node)
        k = node.attrs["scale"]
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ModelError(f"code_softmax {node.name!r}: scale must be an integer >= 1, got {k!r}")
        for key, size in (("exp", None), ("out", int(k) + 1)):
            t = np.asarray(node.params[key])
            if t.ndim != 1 or t.size < 1 or (size is not None and t.size != size):
                raise ModelError(f"code_softmax {node.name!r}: {key} must be a 1-D table"
                                 + (f" of {size} entries (scale + 1)" if size else "") + f", got shape {t.shape}")
            limits.check("table_entries", int(t.size), f"code_softmax {node.name!r} {key} table")
            if not np.all(np.isfinite(t.astype(np.float64))) or np.any(t != np.rint(t)):
                raise ModelError(f"code_softmax {node.name!r}: {key} entries must be integers")
        e = np.asarray(node.params["exp"], np.float64)
        if np.any(e < 0) or e[-1] <= 0 or e.max() >= 2.0 ** 40:
            raise ModelError(f"code_softmax {node.name!r}: exp entries must lie in [0, 2**40) with a "
                             "positive last entry (the difference 0)")

    def infer_shape(self, node, in_shapes):
        if len(in_shapes[0]) != 1 or in_shapes[0][0] < 1:
            raise ModelError(f"code_softmax {node.name!r}: input must be a vector (N,), got {in_shapes[0]}")
        n = in_shapes[0][0]
        bits = self.sum_bits(node, n) + int(node.attrs["scale"]).bit_length() + 1
        if bits > MAX_BITS:
            raise ModelError(f"code_softmax {node.name!r}: {n} elements need {bits}-bit numerators; "
                             f"at most {MAX_BITS}")
        return tuple(in_shapes[0])

    def infer_formats(self, node, in_fmts, ctx):
        x = in_fmts[0]
        if x.frac_bits != 0:
            raise ModelError(f"code_softmax {node.name!r}: its input {x} must be integer codes")
        node.formats["result"] = ctx.choose(node, "result", table_format(np.asarray(node.params["out"], np.int64)))

    def exp_bits(self, node) -> int:
        """Bits of an exp entry (unsigned)."""
        return max(1, int(np.asarray(node.params["exp"], np.int64).max()).bit_length())

    def sum_bits(self, node, n: int) -> int:
        """Bits of the sum of n exp entries (unsigned, exact)."""
        return max(1, (int(np.asarray(node.params["exp"], np.int64).max()) * n).bit_length())

    def golden(self, node, inputs, in_fmts, ctx):
        x = np.asarray(inputs[0], np.int64)
        e = np.asarray(node.params["exp"], np.int64)
        out = np.asarray(node.params["out"], np.int64)
        idx = np.clip(x - x.max(axis=-1, keepdims=True) + e.size - 1, 0, e.size - 1)
        t = e[idx]
        r = divide_half_even(int(node.attrs["scale"]) * t, t.sum(axis=-1, keepdims=True))
        return ctx.assign(node.name, node.formats["result"], out[r], table_format(out))

    def float_eval(self, node, inputs):
        raise ModelError(f"code_softmax {node.name!r} maps codes to codes and has no float model; "
                         "run the fixed-point (golden) model")
