"""fsum_pool1d/2d: an average pool of integer codes computed the way a float32 runtime computes
it, bit for bit.

qonnx's ``execute_onnx`` (Quant -> AveragePool -> Quant) and onnxruntime's QLinearAveragePool
dequantize every code to a float32 value, add the window in float32 in row-major kernel order
(measured: onnxruntime 1.32's MLAS pooling and QLinearAveragePool, 2x2 windows and global
averages of 3x5 to 8x8 images), then divide and requantize in float32. Two windows with the
same integer sum can then round one LSB apart, so no function of the exact integer sum is
exact. This op reproduces the float32 sum itself:

    v_t = values[x_t - code_min]                  (the float32 value of each tap's code, taps
                                                   in row-major kernel order; a padded tap: +0.0)
    s   = the float32 adds of ``order``            (round to nearest even; default
                                                   ((v_0 + v_1) + v_2) + ... + v_{N-1})
    y   = out_min + #{j : thresholds[j] <= s}

``order`` is a list of pairs [a, b]: value N + i is value a + value b of the i-th pair (values 0
.. N-1 are the taps), the last one is s. The runtime's order depends on its kernel: onnxruntime
1.32 adds row-major in its generic and NCHWc pools, column sums first in its vector pool (2-D,
one channel block), four lanes in its global pool; the frontend finds which one by running it.

Every step after the sum (divide by N, divide by the output scale, add the zero point, round,
clip) is a monotone function of ``s``, so the output code is a count of thresholds: the smallest
float32 sums reaching each next code, found by the frontend (qhw.frontends.onnx_qdq) by bisection
over float32 values of the runtime's own arithmetic and checked against the runtime on probe
windows.

Input: integer codes (a format without fraction bits). attrs: kernel_size, stride, padding (as
the pools), ``code_min`` (the code of ``values[0]``; codes outside the table read its nearest
end), ``out_min`` (the output code below every threshold). params: ``values`` (float32 values,
as float64), ``thresholds`` (ascending float32 values). Result: integer codes out_min ..
out_min + len(thresholds). In hardware (qhw.backends.verilog.fsum_pool): a ROM per tap, the
float32 adds as exact integer adds in units of the smallest bit any value has, each rounded to
24 significant bits (the same result as an IEEE float32 adder: no value can overflow, checked
here), and comparisons with the thresholds.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from qhw import limits
from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.ops.pool import _Pool
from qhw.ops.registry import register

#: the largest window sum magnitude allowed (far below float32's 2**128: no overflow can occur)
MAX_SUM = 2.0 ** 100


def float32_values(a) -> np.ndarray:
    """``a`` as float32, refusing any entry that float32 does not hold exactly."""
    v = np.asarray(a, np.float64)
    f = v.astype(np.float32)
    if not np.all(np.isfinite(v)) or np.any(f.astype(np.float64) != v):
        raise ValueError("not exact finite float32 values")
    return f


def order_key(s: np.ndarray) -> np.ndarray:
    """An int64 key ordered as the float32 values ``s`` (+0.0 and -0.0 share key 0)."""
    bits = np.asarray(s, np.float32).view(np.uint32).astype(np.int64)
    mag = bits & 0x7FFFFFFF
    return np.where(bits >> 31 == 1, -mag, mag)


def key_value(key: np.ndarray) -> np.ndarray:
    """The float32 value of each order key (key 0 is +0.0)."""
    key = np.asarray(key, np.int64)
    bits = np.where(key < 0, (-key) | 0x80000000, key).astype(np.uint32)
    return bits.view(np.float32)


def lsb_exponent(values: np.ndarray) -> int:
    """The exponent of the lowest set bit over every nonzero value: each value, and every float32
    sum of them, is an integer multiple of 2**lsb_exponent."""
    lows = []
    for v in np.asarray(values, np.float64).ravel():
        if v != 0:
            n, d = Fraction(float(v)).as_integer_ratio()
            n = abs(n)
            lows.append((n & -n).bit_length() - 1 - (d.bit_length() - 1))
    return min(lows, default=0)


class _FsumPool(_Pool):
    """params: values (float32 per code), thresholds (ascending float32 sums)."""
    traits = frozenset()  # its own family: neither the integer pools' lowering nor a qhw.tables table
    required = ("kernel_size", "code_min", "out_min")
    optional_attrs = ("order",)
    params = ("values", "thresholds")

    def check(self, node):
        super().check(node)
        for key in ("code_min", "out_min"):
            v = node.attrs[key]
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ModelError(f"{self.name} {node.name!r}: {key} {v!r} must be an integer")
        try:
            values = float32_values(node.params["values"])
            thr = float32_values(node.params["thresholds"])
        except ValueError as exc:
            raise ModelError(f"{self.name} {node.name!r}: values and thresholds must be {exc.args[0]}") from None
        if values.ndim != 1 or values.size < 1 or thr.ndim != 1:
            raise ModelError(f"{self.name} {node.name!r}: values must be a 1-D list (one per code) and "
                             f"thresholds a 1-D list, got shapes {values.shape} and {thr.shape}")
        limits.check("table_entries", int(values.size), f"{self.name} {node.name!r} values")
        limits.check("table_entries", int(thr.size), f"{self.name} {node.name!r} thresholds")
        if np.any(np.diff(order_key(thr)) < 0):
            raise ModelError(f"{self.name} {node.name!r}: thresholds must be ascending")
        order = self.order(node)
        n = self.taps(node)
        for i, pair in enumerate(order):
            if len(pair) != 2 or not all(0 <= int(a) < n + i for a in pair):
                raise ModelError(f"{self.name} {node.name!r}: order step {i} is {pair!r}; each step adds two "
                                 f"earlier values (0..{n + i - 1})")
        if len(order) != n - 1:
            raise ModelError(f"{self.name} {node.name!r}: order has {len(order)} steps; a window of {n} taps "
                             f"needs {n - 1}")
        big = float(np.max(np.abs(values.astype(np.float64)))) * self.taps(node)
        if big >= MAX_SUM:
            raise ModelError(f"{self.name} {node.name!r}: a window sum can reach {big:g}; the float32 "
                             f"sum is reproduced below {MAX_SUM:g} only")

    def order(self, node) -> list[list[int]]:
        """The adds of the window sum (default: row-major, one tap after the other)."""
        given = node.attrs.get("order")
        if given is not None:
            return [[int(a), int(b)] for a, b in given]
        n = self.taps(node)
        return [[0, 1]] + [[n + i - 1, i + 1] for i in range(1, n - 1)] if n > 1 else []

    def out_format(self, node) -> FixedFormat:
        lo = int(node.attrs["out_min"])
        hi = lo + int(np.asarray(node.params["thresholds"]).size)
        if lo >= 0:
            w = max(1, hi.bit_length())
            return FixedFormat(w, w, False)
        w = max((-lo - 1).bit_length(), hi.bit_length()) + 1
        return FixedFormat(w, w, True)

    def infer_formats(self, node, in_fmts, ctx):
        x = in_fmts[0]
        if x.frac_bits != 0 or x.width > 20:
            raise ModelError(f"{self.name} {node.name!r}: its input {x} must be integer codes of at most 20 bits")
        node.formats["result"] = ctx.choose(node, "result", self.out_format(node))

    def tap_values(self, node, codes: np.ndarray) -> np.ndarray:
        """The float32 value of each code (codes outside the table read its nearest end)."""
        values = float32_values(node.params["values"])
        idx = np.clip(np.asarray(codes, np.int64) - int(node.attrs["code_min"]), 0, values.size - 1)
        return values[idx]

    def window_sums(self, node, codes: np.ndarray) -> np.ndarray:
        """The float32 sum of each window of a batch of codes (N, *spatial, C) in :meth:`order`:
        (N, *out, C) float32."""
        win = self.windows(node, self.tap_values(node, codes), np.float32(0.0))  # (N, *out, taps, C)
        vals = [win[..., t, :].astype(np.float32) for t in range(win.shape[-2])]
        for a, b in self.order(node):
            vals.append((vals[a] + vals[b]).astype(np.float32))
        return vals[-1]

    def golden(self, node, inputs, in_fmts, ctx):
        s = self.window_sums(node, inputs[0])
        thr = order_key(float32_values(node.params["thresholds"]))
        out = int(node.attrs["out_min"]) + np.searchsorted(thr, order_key(s), side="right")
        return ctx.assign(node.name, node.formats["result"], out.astype(np.int64), self.out_format(node))

    def float_eval(self, node, inputs):
        raise ModelError(f"{self.name} {node.name!r} maps codes to codes and has no float model; "
                         "run the fixed-point (golden) model")


@register
class FsumPool1d(_FsumPool):
    name, dims = "fsum_pool1d", 1


@register
class FsumPool2d(_FsumPool):
    name, dims = "fsum_pool2d", 2


__all__ = ["FsumPool1d", "FsumPool2d", "order_key", "key_value", "lsb_exponent", "float32_values", "MAX_SUM"]
