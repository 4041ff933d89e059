"""maxpool1d/2d and avgpool1d/2d over channels-last tensors.

attrs: kernel_size, stride (default: kernel_size), padding (as conv; max pads with the smallest
code, avg with zeros and still divides by the window size). avg = exact window sum times the
constant 1/N held in the ``scale`` slot (exact when N is a power of two), assigned to the result.
avg's optional ``divisor`` replaces N (``divisor: 1`` is the exact window sum, which an imported
quantized average pool requantizes afterwards; see qhw.passes.lower_affine).
"""
from __future__ import annotations

import math

import numpy as np

import qhw.fixed as qf
from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.ops.base import OpDef, capped
from qhw.ops.traits import Trait
from qhw.ops.conv import resolve_padding, spatial, windows
from qhw.ops.registry import register


class _Pool(OpDef):
    dims = 0
    #: how a window is reduced: "max" or "avg"
    reduction = ""
    required = ("kernel_size",)
    attrs = {"stride": None, "padding": 0}
    hls4ml_slots = ("accum", "result")

    def geometry(self, node):
        k = spatial(node, "kernel_size", self.dims)
        st = spatial(node, "stride", self.dims, k) if node.attrs.get("stride") is not None else k
        return k, st, (1,) * self.dims

    def infer_shape(self, node, in_shapes):
        s = in_shapes[0]
        if len(s) != self.dims + 1:
            raise ModelError(f"{self.name} {node.name!r}: input shape {s} is not (*spatial, channels)")
        k, st, d = self.geometry(node)
        pads = resolve_padding(node, s[:-1], k, st, d)
        node.attrs["padding"] = pads
        out = [(n + pads[i] + pads[i + self.dims] - k[i]) // st[i] + 1 for i, n in enumerate(s[:-1])]
        if min(out) < 1:
            raise ModelError(f"{self.name} {node.name!r}: kernel {k} does not fit input {s}")
        return tuple(out) + (s[-1],)

    def windows(self, node, x, fill):
        """The pooling windows of a batch ``x`` (N, *spatial, C), padded with ``fill``:
        (N, *out, taps, C), taps in row-major kernel order."""
        k, st, d = self.geometry(node)
        v = windows(x, node, k, st, d, node.attrs["padding"], fill)
        return v.reshape(v.shape[:1 + self.dims] + (-1, v.shape[-1]))  # (N, *out, taps, C)

    _windows = windows  # the name backends used before (qhw.backends.verilog.elementwise)

    def taps(self, node) -> int:
        return math.prod(self.geometry(node)[0])


class _MaxPool(_Pool):
    traits = frozenset({Trait.POOL, Trait.MOVE})
    reduction = "max"

    def hls4ml_auto(self, node, slot, in_fmts, default, maximum):
        return in_fmts[0]  # accum (the max) and result: the input type

    def infer_formats(self, node, in_fmts, ctx):
        acc = ctx.lookup(node, "accum")  # hls4ml returns the max as accum_t (only when configured)
        if acc is not None and acc != in_fmts[0]:
            node.formats["accum"] = acc
        node.formats["result"] = ctx.choose(node, "result", in_fmts[0])

    def golden(self, node, inputs, in_fmts, ctx):
        m, fmt = self._windows(node, inputs[0], in_fmts[0].raw_min).max(axis=-2), in_fmts[0]
        if "accum" in node.formats:
            m, fmt = node.formats["accum"].cast(m, fmt), node.formats["accum"]
        return ctx.assign(node.name, node.formats["result"], m, fmt)

    def float_eval(self, node, inputs):
        return self._windows(node, inputs[0], -np.inf).max(axis=-2)


class _AvgPool(_Pool):
    traits = frozenset({Trait.POOL})
    reduction = "avg"
    optional_attrs = ("divisor",)

    def check(self, node):
        super().check(node)
        d = node.attrs.get("divisor")
        if d is not None and (isinstance(d, bool) or int(d) != d or d < 1):
            raise ModelError(f"{self.name} {node.name!r}: divisor {d!r} must be a positive integer")

    def divisor(self, node) -> int:
        """What the window sum is divided by: ``divisor`` when given, else the window size."""
        d = node.attrs.get("divisor")
        return self.taps(node) if d is None else int(d)

    def hls4ml_auto(self, node, slot, in_fmts, default, maximum):
        from qhw.ops.hls4ml_auto import avgpool_accum

        return avgpool_accum(node, in_fmts[0]) if slot == "accum" else in_fmts[0]

    def sum_format(self, node, x: FixedFormat) -> FixedFormat:
        ib = x.integer_bits + math.ceil(math.log2(self.taps(node)))
        return capped(ib + x.frac_bits, ib, x.signed, "window sum")

    def infer_formats(self, node, in_fmts, ctx):
        n = self.divisor(node)
        exact = n & (n - 1) == 0
        scale = ctx.choose(node, "scale", FixedFormat(1, 1 - int(math.log2(n)), False) if exact else None,
                           None if exact else FixedFormat(18, 1 - math.ceil(math.log2(n)), False))
        node.formats["scale"] = scale
        node.formats["accum"] = ctx.choose(node, "accum", self.sum_format(node, in_fmts[0]))
        node.formats["result"] = ctx.choose(node, "result", in_fmts[0])

    def golden(self, node, inputs, in_fmts, ctx):
        acc_fmt, scale = node.formats["accum"], node.formats["scale"]
        s = self._windows(node, inputs[0], 0).sum(axis=-2)
        s = acc_fmt.cast(s, self.sum_format(node, in_fmts[0]))
        recip = scale.quantize(1.0 / self.divisor(node))
        raw, fmt = qf.mul(s, acc_fmt, recip, scale)
        return ctx.assign(node.name, node.formats["result"], raw, fmt)

    def float_eval(self, node, inputs):
        return self._windows(node, inputs[0], 0.0).sum(axis=-2) / self.divisor(node)


@register
class MaxPool1d(_MaxPool):
    name, dims = "maxpool1d", 1
    hls4ml_class, hls4ml_names = "Pooling1D", ("maxpooling1d", "maxpool1d")


@register
class MaxPool2d(_MaxPool):
    name, dims = "maxpool2d", 2
    hls4ml_class, hls4ml_names = "Pooling2D", ("maxpooling2d", "maxpool2d")


@register
class AvgPool1d(_AvgPool):
    name, dims = "avgpool1d", 1
    hls4ml_class, hls4ml_names = "Pooling1D", ("averagepooling1d", "avgpool1d")


@register
class AvgPool2d(_AvgPool):
    name, dims = "avgpool2d", 2
    hls4ml_class, hls4ml_names = "Pooling2D", ("averagepooling2d", "avgpool2d")
