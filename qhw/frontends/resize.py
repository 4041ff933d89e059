"""ONNX ``Resize`` / ``Upsample`` in nearest mode as qhw's ``upsample`` (integer factors).

A nearest-neighbour resize is a repeat only for some combinations of scale, coordinate
transformation and rounding. Rather than trusting a list of them, the source index of every
output position is computed with ONNX's own formulas and compared with the repeat's
``dst // factor``: equal on every axis -> an ``upsample`` node; otherwise one clear error.
"""
from __future__ import annotations

import math

import numpy as np

from qhw.errors import ModelError

_TRANSFORMS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
               "tf_half_pixel_for_nn")
_NEAREST = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def onnx_nearest_source(n_in: int, n_out: int, scale: float, transform: str, nearest: str) -> np.ndarray:
    """The input index ONNX's Resize (mode nearest) reads for each of ``n_out`` outputs."""
    d = np.arange(n_out, dtype=np.float64)
    if transform == "half_pixel":
        x = (d + 0.5) / scale - 0.5
    elif transform == "pytorch_half_pixel":
        x = (d + 0.5) / scale - 0.5 if n_out > 1 else np.zeros_like(d)
    elif transform == "align_corners":
        x = d * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros_like(d)
    elif transform == "asymmetric":
        x = d / scale
    else:  # tf_half_pixel_for_nn
        x = (d + 0.5) / scale
    if nearest == "floor":
        i = np.floor(x)
    elif nearest == "ceil":
        i = np.ceil(x)
    elif nearest == "round_prefer_ceil":
        i = np.floor(x + 0.5)
    else:  # round_prefer_floor
        i = np.ceil(x - 0.5)
    return np.clip(i, 0, n_in - 1).astype(np.int64)


def nearest_factors(where: str, attrs: dict, scales, sizes, in_shape_nchw: tuple[int, ...]) -> list[int]:
    """Integer upsampling factors of the spatial axes of an NC(spatial) tensor, or ModelError.

    attrs: the node's attributes (mode, coordinate_transformation_mode, nearest_mode);
    scales/sizes: the constant inputs (either may be None or empty)."""
    mode = attrs.get("mode", "nearest")
    if mode != "nearest":
        raise ModelError(f"{where}: Resize mode {mode!r} is not supported (only 'nearest', which "
                         "copies values; linear and cubic interpolation are not integer-exact)")
    transform = attrs.get("coordinate_transformation_mode", "half_pixel")
    nearest = attrs.get("nearest_mode", "round_prefer_floor")
    if transform not in _TRANSFORMS or nearest not in _NEAREST:
        raise ModelError(f"{where}: coordinate_transformation_mode {transform!r} with nearest_mode "
                         f"{nearest!r} is not supported")
    rank = len(in_shape_nchw)
    if scales is not None and np.size(scales):
        s = [float(v) for v in np.ravel(scales)]
        out = [math.floor(n * f) for n, f in zip(in_shape_nchw, s)]
    elif sizes is not None and np.size(sizes):
        out = [int(v) for v in np.ravel(sizes)]
        s = [o / n for o, n in zip(out, in_shape_nchw)]
    else:
        raise ModelError(f"{where}: Resize needs constant scales or sizes")
    if len(s) != rank:
        raise ModelError(f"{where}: {len(s)} scales for a rank-{rank} input")
    if s[0] != 1 or s[1] != 1:
        raise ModelError(f"{where}: Resize may scale the spatial axes only, got scales {s}")
    factors = []
    for n_in, n_out, f in zip(in_shape_nchw[2:], out[2:], s[2:]):
        k = round(f)
        if k < 1 or f != k or n_out != n_in * k:
            raise ModelError(f"{where}: Resize by {s[2:]} (output {out[2:]}) is not an integer "
                             "upsampling of every spatial axis")
        src = onnx_nearest_source(n_in, n_out, f, transform, nearest)
        if not np.array_equal(src, np.arange(n_out) // k):
            raise ModelError(f"{where}: Resize with coordinate_transformation_mode {transform!r} "
                             f"and nearest_mode {nearest!r} by {k} does not repeat each value {k} "
                             "times; qhw's upsample is that repeat")
        factors.append(k)
    return factors
