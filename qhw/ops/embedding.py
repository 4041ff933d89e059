"""embedding: a lookup of rows of a per-row quantized table by integer indices.

Input: indices, shape (L,), an integer format (no fraction bits; e.g. ap_uint<k>). Param
``table`` (rows, dim), real values. Output (L, dim).

Per-row quantization, exact in hardware: each row r has a scale s_r = max|row_r| / q_max held in
the ``scale`` slot format (rounded to nearest there; default 16 bits, integer bits for the largest
scale), and integer codes c_rj = round_half_even(table_rj / s_r) clamped to ±q_max in the
``table`` slot format (default ap_int<8>, q_max = 127: symmetric). The golden value of output
(l, j) is ``result.cast(c[i_l, j] * s[i_l])``, an exact product of two fixed-point codes, then the
result format's rounding and overflow. Indices past the last row read the last row (the address
is clamped, as a ROM address decoder does); negative indices cannot occur (unsigned formats) and
are clamped to 0 for signed index formats.
"""
from __future__ import annotations

import numpy as np

import qhw.fixed as qf
from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.ops.base import OpDef
from qhw.ops.registry import register


def row_quantization(table: np.ndarray, code_fmt: FixedFormat, scale_fmt: FixedFormat):
    """(codes: raw of code_fmt (rows, dim), scales: raw of scale_fmt (rows,)) of a table."""
    qmax = code_fmt.raw_max
    m = np.abs(table).max(axis=1)
    sraw = scale_fmt.quantize(m / qmax)
    s = scale_fmt.to_float(sraw)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(s[:, None] > 0, np.rint(table / np.where(s > 0, s, 1.0)[:, None]), 0.0)
    lo = -qmax if code_fmt.signed else 0
    return np.clip(q, lo, qmax).astype(np.int64), sraw.astype(np.int64)


@register
class Embedding(OpDef):
    traits = frozenset()  # a lookup of constant rows: its own lowering
    name = "embedding"
    params = ("table",)
    hls4ml_class, hls4ml_slots = "Embedding", ("result",)

    def check(self, node):
        super().check(node)
        t = node.params["table"]
        if t.ndim != 2 or t.shape[0] < 1:
            raise ModelError(f"embedding {node.name!r}: table must be (rows, dim), got shape {t.shape}")

    def infer_shape(self, node, in_shapes):
        if len(in_shapes[0]) != 1:
            raise ModelError(f"embedding {node.name!r}: indices must be a vector (L,), got {in_shapes[0]}")
        return (in_shapes[0][0], node.params["table"].shape[1])

    def infer_formats(self, node, in_fmts, ctx):
        if in_fmts[0].frac_bits != 0:
            raise ModelError(f"embedding {node.name!r}: indices need an integer format (e.g. "
                             f"ap_uint<8>), got {in_fmts[0]}")
        table = node.params["table"]
        code = ctx.choose(node, "table", None, FixedFormat(8, 8, True, "RND_CONV", "SAT"))
        smax = float(np.abs(table).max(initial=0.0)) / max(code.raw_max, 1)
        ib = int(np.floor(np.log2(smax))) + 1 if smax > 0 else 0  # the largest scale fits
        scale = ctx.choose(node, "scale", None, FixedFormat(16, ib, False, "RND", "SAT"))
        node.formats["table"], node.formats["scale"] = code, scale
        node.formats["result"] = ctx.choose(node, "result", qf.mul_format(code, scale))

    def rows(self, node) -> tuple[np.ndarray, np.ndarray]:
        """(codes (rows, dim), scales (rows,)) as raw codes of the table and scale slots."""
        key = ("embedding_rows", node.formats["table"], node.formats["scale"])
        return node.cached(key, lambda: row_quantization(node.params["table"], node.formats["table"],
                                                         node.formats["scale"]))

    def index(self, node, raw: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(raw, np.int64), 0, node.params["table"].shape[0] - 1)

    def golden(self, node, inputs, in_fmts, ctx):
        codes, scales = self.rows(node)
        idx = self.index(node, inputs[0])
        prod, pf = qf.mul(codes[idx], node.formats["table"], scales[idx][..., None], node.formats["scale"])
        return ctx.assign(node.name, node.formats["result"], prod, pf)

    def float_eval(self, node, inputs):
        idx = np.clip(np.rint(inputs[0]).astype(np.int64), 0, node.params["table"].shape[0] - 1)
        return node.params["table"][idx]
