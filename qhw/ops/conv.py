"""conv1d / conv2d: dense over an im2col window (taps ordered kh, kw, cin), zero padding.

Layout channels-last: input (L, C) or (H, W, C); weight (K, Cin, Cout) or (KH, KW, Cin, Cout).
attrs: kernel_size, stride, dilation, padding: an int (all sides), "valid", "same", or explicit
[begin..., end...] (ONNX order); stored resolved as the explicit list.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from qhw.errors import ModelError
from qhw.ops.base import OpDef
from qhw.ops.traits import Trait
from qhw.ops.dense import mac_formats, mac_golden
from qhw.ops.registry import register


def spatial(node, key: str, dims: int, default=None) -> tuple[int, ...]:
    v = node.attrs.get(key, default)
    t = (int(v),) * dims if isinstance(v, (int, np.integer)) else tuple(int(x) for x in v)
    if len(t) != dims or min(t) < 1:
        raise ModelError(f"node {node.name!r}: {key} must be a positive int or {dims} of them, got {v!r}")
    return t


def resolve_padding(node, in_spatial, kernel, stride, dilation) -> list[int]:
    """Explicit [begin..., end...] zero padding from the attribute."""
    dims = len(kernel)
    p = node.attrs.get("padding", 0)
    if isinstance(p, str):
        if p == "valid":
            return [0] * (2 * dims)
        if p != "same":
            raise ModelError(f"node {node.name!r}: padding {p!r} is not 'valid', 'same' or numbers")
        begin, end = [], []
        for n, k, s, d in zip(in_spatial, kernel, stride, dilation):
            out = -(-n // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
            begin.append(total // 2)
            end.append(total - total // 2)
        return begin + end
    if isinstance(p, (int, np.integer)):
        return [int(p)] * (2 * dims)
    p = [int(x) for x in p]
    if len(p) == dims:
        return p + p
    if len(p) != 2 * dims or min(p) < 0:
        raise ModelError(f"node {node.name!r}: padding {p} must have {2 * dims} non-negative values")
    return p


def windows(x: np.ndarray, node, kernel, stride, dilation, pads, fill=0) -> np.ndarray:
    """(N, *spatial, C) -> (N, *out_spatial, *kernel, C) views of the padded input."""
    dims = len(kernel)
    pad = [(0, 0)] + [(pads[i], pads[i + dims]) for i in range(dims)] + [(0, 0)]
    if any(pads):
        x = np.pad(x, pad, constant_values=fill)
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    v = sliding_window_view(x, span, axis=tuple(range(1, dims + 1)))  # (N, *out, C, *span)
    v = v[(slice(None),) * (dims + 2) + tuple(slice(None, None, d) for d in dilation)]
    v = v[(slice(None),) + tuple(slice(None, None, s) for s in stride)]
    return np.moveaxis(v, dims + 1, -1)  # (N, *out, *kernel, C)


class _Conv(OpDef):
    traits = frozenset({Trait.MAC})
    dims = 0
    required = ("kernel_size",)
    attrs = {"stride": 1, "dilation": 1, "padding": 0}
    params = ("weight",)
    optional_params = ("bias",)
    hls4ml_slots = ("weight", "bias", "accum", "result")

    def hls4ml_auto(self, node, slot, in_fmts, default, maximum):
        from qhw.ops.hls4ml_auto import mac_auto

        return mac_auto(node, slot, in_fmts, default, maximum)

    def geometry(self, node):
        k = spatial(node, "kernel_size", self.dims)
        return k, spatial(node, "stride", self.dims), spatial(node, "dilation", self.dims)

    def check(self, node):
        super().check(node)
        w = node.params["weight"]
        k, _, _ = self.geometry(node)
        if w.ndim != self.dims + 2 or tuple(w.shape[:self.dims]) != k:
            raise ModelError(f"{self.name} {node.name!r}: weight shape {w.shape} is not "
                             f"(*kernel {k}, in_channels, out_channels)")
        if "bias" in node.params and node.params["bias"].shape != (w.shape[-1],):
            raise ModelError(f"{self.name} {node.name!r}: bias shape {node.params['bias'].shape} "
                             f"does not match {w.shape[-1]} output channels")

    def infer_shape(self, node, in_shapes):
        s = in_shapes[0]
        w = node.params["weight"]
        if len(s) != self.dims + 1 or s[-1] != w.shape[-2]:
            raise ModelError(f"{self.name} {node.name!r}: input shape {s} is not (*spatial, "
                             f"{w.shape[-2]} channels)")
        k, st, d = self.geometry(node)
        pads = resolve_padding(node, s[:-1], k, st, d)
        node.attrs["padding"] = pads
        out = []
        for i, n in enumerate(s[:-1]):
            span = (k[i] - 1) * d[i] + 1
            o = (n + pads[i] + pads[i + self.dims] - span) // st[i] + 1
            if o < 1:
                raise ModelError(f"{self.name} {node.name!r}: kernel {k} does not fit input {s}")
            out.append(o)
        return tuple(out) + (w.shape[-1],)

    def infer_formats(self, node, in_fmts, ctx):
        w = node.params["weight"]
        mac_formats(node, in_fmts[0], int(np.prod(w.shape[:-1])), ctx)

    def _im2col(self, node, x):
        k, st, d = self.geometry(node)
        v = windows(x, node, k, st, d, node.attrs["padding"])
        return v.reshape(v.shape[:1 + self.dims] + (-1,))

    def golden(self, node, inputs, in_fmts, ctx):
        w = node.param_raw("weight")
        cols = self._im2col(node, inputs[0])
        return mac_golden(node, cols, in_fmts[0], w.reshape(-1, w.shape[-1]), ctx)

    def float_eval(self, node, inputs):
        w = node.params["weight"]
        y = self._im2col(node, inputs[0]) @ w.reshape(-1, w.shape[-1])
        return y + node.params["bias"] if "bias" in node.params else y


@register
class Conv1d(_Conv):
    name = "conv1d"
    hls4ml_class, hls4ml_names = "Conv1D", ("qconv1d",)
    dims = 1


@register
class Conv2d(_Conv):
    name = "conv2d"
    hls4ml_class, hls4ml_names = "Conv2D", ("qconv2d",)
    dims = 2
