"""relu, relu6, clip: exact clamps of the input codes, then assignment to the result."""
from __future__ import annotations

import math

import numpy as np

from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.ops.base import OpDef, capped
from qhw.ops.traits import Trait
from qhw.ops.registry import register


def bound_codes(fmt: FixedFormat, lo: float | None, hi: float | None) -> tuple[int, int]:
    """Raw clamp bounds inside ``fmt``: lo rounded up, hi rounded down, within the range."""
    rlo = fmt.raw_min if lo is None else max(fmt.raw_min, math.ceil(lo / fmt.lsb))
    rhi = fmt.raw_max if hi is None else min(fmt.raw_max, math.floor(hi / fmt.lsb))
    return rlo, rhi


_bound_codes = bound_codes  # the name backends imported before


class _Clamp(OpDef):
    """Clamp to [lo, hi] (None: unbounded) in the input's own format."""
    traits = frozenset({Trait.ELEMENTWISE, Trait.CLAMP})
    hls4ml_slots = ("result",)

    def limits(self, node) -> tuple[float | None, float | None]:
        raise NotImplementedError

    def bounds(self, node, fmt: FixedFormat) -> tuple[int, int]:
        """The clamp bounds as raw codes of the input format ``fmt`` (lo rounded up, hi down,
        within its range): what the golden model and both backends compare against."""
        return bound_codes(fmt, *self.limits(node))

    def is_identity(self, node, src) -> bool:
        lo, hi = self.limits(node)
        f = src.formats.get("result")
        return (lo is None and hi is None) or (f is not None and (lo is None or f.min >= lo)
                                               and (hi is None or f.max <= hi))

    def lossless(self, node, x: FixedFormat) -> FixedFormat:
        lo, hi = self.limits(node)
        if lo is not None and lo >= 0:
            top = x.max if hi is None else min(hi, x.max)
            ib = max(math.floor(math.log2(top)) + 1, 1) if top > 0 else 1
            return capped(ib + x.frac_bits, ib, False, "result") if ib + x.frac_bits >= 1 else x
        return x

    def infer_formats(self, node, in_fmts, ctx):
        node.formats["result"] = ctx.choose(node, "result", self.lossless(node, in_fmts[0]))

    def golden(self, node, inputs, in_fmts, ctx):
        x, res = in_fmts[0], node.formats["result"]
        lo, hi = self.bounds(node, x)
        v = np.maximum(inputs[0], lo) if hi >= x.raw_max else np.clip(inputs[0], lo, hi)
        if not ctx.count_overflow and res.frac_bits == x.frac_bits and res.raw_min <= lo and hi <= res.raw_max:
            return v  # the clamped codes already are the result's codes (same grid, in range)
        return ctx.assign(node.name, res, v, x)

    def float_eval(self, node, inputs):
        lo, hi = self.limits(node)
        return np.clip(inputs[0], -np.inf if lo is None else lo, np.inf if hi is None else hi)


@register
class Relu(_Clamp):
    name = "relu"
    hls4ml_class, hls4ml_names = "Activation", ("relu", "qactivation")

    def limits(self, node):
        return 0.0, None


@register
class Relu6(_Clamp):
    name = "relu6"
    hls4ml_class, hls4ml_names = "Activation", ("qactivation", "relu6")

    def limits(self, node):
        return 0.0, 6.0


@register
class Clip(_Clamp):
    """attrs: min_value, max_value (either may be None)."""

    name = "clip"
    attrs = {"min_value": None, "max_value": None}
    hls4ml_slots, hls4ml_names = (), ("clip",)  # no hls4ml layer class

    def limits(self, node):
        lo, hi = node.attrs["min_value"], node.attrs["max_value"]
        if lo is not None and hi is not None and lo > hi:
            raise ModelError(f"clip {node.name!r}: min_value {lo} > max_value {hi}")
        return lo, hi
