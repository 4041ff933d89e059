"""code_table: out_code = table[in_code - min_code], element by element.

The exact form of a quantized elementwise function: a float op between a DequantizeLinear and a
QuantizeLinear (Sigmoid, Tanh, LeakyRelu, HardSigmoid, Exp, Erf, ...) or a com.microsoft QLinear
form (QLinearSigmoid, QLinearLeakyRelu) maps each of the 2**bits input codes to one output code,
so the table computed by the producer's runtime itself is exact by construction
(qhw.frontends.onnx_qdq builds it by running onnxruntime on every code).

Input: integer codes (a format without fraction bits). Param ``table``: one integer output code
per input code from the input format's smallest raw code up (2**width entries), or one such row
per channel (shape (channels, 2**width); element i of a channels-last tensor uses row
i % channels: a constant per-channel Mul/Add between quantizers). Optional param ``rows``: the
table row of every element (flat, channels last), for a 2-D table whose rows are not channels
(an average pool whose divisor depends on the window position: one row per divisor). Result: an
integer format holding every entry (default exactly their range). In hardware: a ROM addressed
by the input code (no arithmetic).
"""
from __future__ import annotations

import numpy as np

from qhw import limits
from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.ops.base import OpDef
from qhw.ops.registry import register
from qhw.ops.traits import Trait


def table_format(table: np.ndarray) -> FixedFormat:
    """The smallest integer format holding every entry."""
    lo, hi = int(table.min(initial=0)), int(table.max(initial=0))
    if lo >= 0:
        w = max(1, hi.bit_length())
        return FixedFormat(w, w, False)
    w = max((-lo - 1).bit_length(), hi.bit_length()) + 1
    return FixedFormat(w, w, True)


@register
class CodeTable(OpDef):
    """params: table (integer output codes, one per input code, from the input's raw minimum)."""
    traits = frozenset({Trait.ELEMENTWISE})  # no qhw.tables function: no table_size/variant

    name = "code_table"
    params = ("table",)
    optional_params = ("rows",)

    def check(self, node):
        super().check(node)
        t = np.asarray(node.params["table"])
        if t.ndim not in (1, 2) or t.size < 1:
            raise ModelError(f"code_table {node.name!r}: table must be a 1-D list of codes (or one row "
                             f"per channel), got shape {t.shape}")
        limits.check("table_entries", int(t.size), f"code_table {node.name!r} table")
        if not np.all(np.isfinite(t.astype(np.float64))) or np.any(t != np.rint(t)):
            raise ModelError(f"code_table {node.name!r}: table entries must be integers")
        if "rows" in node.params:
            r = np.asarray(node.params["rows"])
            if t.ndim != 2 or r.ndim != 1 or r.size < 1 or np.any(r != np.rint(r)) \
                    or r.min() < 0 or r.max() >= t.shape[0]:
                raise ModelError(f"code_table {node.name!r}: rows must list one table row in "
                                 f"[0, {t.shape[0] - 1}] per element of a 2-D table")

    def infer_shape(self, node, in_shapes):
        t = np.asarray(node.params["table"])
        if "rows" in node.params:
            if np.asarray(node.params["rows"]).size != int(np.prod(in_shapes[0])):
                raise ModelError(f"code_table {node.name!r}: {np.asarray(node.params['rows']).size} "
                                 f"rows for an input of shape {in_shapes[0]}")
            return in_shapes[0]
        if t.ndim == 2 and (not in_shapes[0] or in_shapes[0][-1] != t.shape[0]):
            raise ModelError(f"code_table {node.name!r}: table has {t.shape[0]} per-channel rows, but the "
                             f"input shape {in_shapes[0]} does not end in {t.shape[0]} channels")
        return in_shapes[0]

    def infer_formats(self, node, in_fmts, ctx):
        x = in_fmts[0]
        n = int(np.asarray(node.params["table"]).shape[-1])
        if x.frac_bits != 0 or x.width > 20 or (1 << x.width) != n:
            raise ModelError(f"code_table {node.name!r}: its input {x} must be integer codes with "
                             f"2**width = {n} table entries")
        table = np.asarray(node.params["table"], np.int64)
        node.formats["result"] = ctx.choose(node, "result", table_format(table))

    def lookup(self, node, codes: np.ndarray, x: FixedFormat) -> np.ndarray:
        table = np.asarray(node.params["table"], np.int64)
        codes = np.asarray(codes, np.int64)
        idx = np.clip(codes - x.raw_min, 0, table.shape[-1] - 1)
        if table.ndim == 1:
            return table[idx]
        if "rows" in node.params:  # (batch, *shape): element i reads row rows[i]
            rows = np.asarray(node.params["rows"], np.int64)
            flat = idx.reshape(-1, rows.size)
            return table[rows[None, :], flat].reshape(idx.shape)
        if codes.ndim == 0 or codes.shape[-1] != table.shape[0]:
            raise ModelError(f"code_table {node.name!r}: {table.shape[0]} per-channel tables for a "
                             f"tensor of shape {codes.shape} (its last axis is the channel)")
        return table[np.arange(codes.shape[-1]), idx]

    def golden(self, node, inputs, in_fmts, ctx):
        table = np.asarray(node.params["table"], np.int64)
        out = self.lookup(node, inputs[0], in_fmts[0])
        return ctx.assign(node.name, node.formats["result"], out, table_format(table))

    def float_eval(self, node, inputs):
        raise ModelError(f"code_table {node.name!r} maps codes to codes and has no float model; "
                         "run the fixed-point (golden) model")
