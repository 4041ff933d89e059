"""threshold: multi-thresholding, y = out_bias + out_scale * #{t : x >= thresholds[c, t]}.

QONNX's ``MultiThreshold`` (FINN's quantized activations), and with one threshold at 0 a sign
(``BipolarQuant`` of an activation). params: ``thresholds`` (C, T) in the input's real units, per
channel (C = the last axis) or (1, T) shared. attrs: out_scale, out_bias (binary fractions, so
the outputs are exact fixed-point values). On codes, ``x >= t`` is ``code >= ceil(t / lsb)``
(exact: the lsb is a power of two), so each threshold becomes an integer code once per input
format; the count then selects one of T + 1 constants, assigned to the result format.
"""
from __future__ import annotations

import math

import numpy as np

from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.ops.base import OpDef, capped
from qhw.ops.traits import Trait
from qhw.ops.registry import register

#: the finest grid out_scale/out_bias may use (2**-MAX_FRAC)
MAX_FRAC = 32


def _frac_bits(v: float, what: str, node) -> int:
    """Fraction bits needed to hold ``v`` exactly (a binary fraction), else ModelError."""
    if not math.isfinite(v):
        raise ModelError(f"threshold {node.name!r}: {what} must be finite, got {v!r}")
    for f in range(MAX_FRAC + 1):
        if math.ldexp(v, f) == math.floor(math.ldexp(v, f)):
            return f
    raise ModelError(f"threshold {node.name!r}: {what} {v!r} is not a binary fraction (k * 2**-n, "
                     f"n <= {MAX_FRAC}), so its outputs have no exact fixed-point format")


@register
class Threshold(OpDef):
    traits = frozenset({Trait.ELEMENTWISE, Trait.RESCALE})
    name = "threshold"
    hls4ml_names = ("multithreshold", "threshold")  # no hls4ml layer class
    params = ("thresholds",)
    attrs = {"out_scale": 1.0, "out_bias": 0.0}

    def check(self, node):
        super().check(node)
        t = node.params["thresholds"]
        if t.ndim != 2 or t.shape[1] < 1:
            raise ModelError(f"threshold {node.name!r}: thresholds must be (channels, steps) with at "
                             f"least one step, got shape {t.shape}")
        if not np.isfinite(t).all():
            raise ModelError(f"threshold {node.name!r}: thresholds must be finite")

    def infer_shape(self, node, in_shapes):
        s = in_shapes[0]
        c = node.params["thresholds"].shape[0]
        if not s or c not in (1, s[-1]):
            raise ModelError(f"threshold {node.name!r}: {c} threshold rows for an input of shape {s} "
                             f"(one row, or one per channel of the last axis)")
        return tuple(s)

    def steps(self, node) -> int:
        return int(node.params["thresholds"].shape[1])

    def exact_format(self, node) -> FixedFormat:
        """The format holding every out_bias + out_scale * k, k = 0..T, exactly."""
        s, b = float(node.attrs["out_scale"]), float(node.attrs["out_bias"])
        f = max(_frac_bits(s, "out_scale", node), _frac_bits(b, "out_bias", node))
        ends = (b, b + s * self.steps(node))
        lo, hi = math.ldexp(min(ends), f), math.ldexp(max(ends), f)
        signed = lo < 0
        bits = max(int(hi).bit_length(), (int(-lo) - 1).bit_length() if lo < 0 else 0, 1) + signed
        return capped(bits, bits - f, signed, "threshold output")

    def infer_formats(self, node, in_fmts, ctx):
        node.formats["result"] = ctx.choose(node, "result", self.exact_format(node))

    def codes(self, node, x: FixedFormat) -> np.ndarray:
        """Integer thresholds on ``x``'s codes, (C, T), clipped to [raw_min, raw_max + 1]
        (a threshold above the range is never reached, one below it always)."""
        def build():
            t = np.ceil(np.ldexp(node.params["thresholds"], x.frac_bits))
            return np.clip(t, x.raw_min, x.raw_max + 1).astype(np.int64)

        return node.cached(("threshold_codes", x), build)

    def outputs(self, node, res: FixedFormat) -> np.ndarray:
        """The result codes for count = 0..T (the table the hardware selects from)."""
        ex = self.exact_format(node)
        k = np.arange(self.steps(node) + 1, dtype=np.float64)
        exact = ex.quantize(float(node.attrs["out_bias"]) + float(node.attrs["out_scale"]) * k)
        return res.cast(exact, ex)

    def count(self, node, x: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        """#{t : x >= thresholds[c, t]} per element (channels on the last axis)."""
        return (x[..., None] >= thresholds).sum(axis=-1)

    def golden(self, node, inputs, in_fmts, ctx):
        n = self.count(node, np.asarray(inputs[0], np.int64), self.codes(node, in_fmts[0]))
        ex = self.exact_format(node)
        exact = ex.quantize(float(node.attrs["out_bias"]) + float(node.attrs["out_scale"]) * n)
        return ctx.assign(node.name, node.formats["result"], exact, ex)

    def float_eval(self, node, inputs):
        n = self.count(node, inputs[0], node.params["thresholds"])
        return float(node.attrs["out_bias"]) + float(node.attrs["out_scale"]) * n
