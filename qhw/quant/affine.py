"""Uniform affine quantization: x_int = clamp(round(x / s) + z, qmin, qmax), x^ = s (x_int - z).

Granularity follows the shape of scale/zero_point: scalars are per tensor; 1-D arrays with
``axis`` are per channel; with ``group_size`` too, one value per group of that many consecutive
elements along ``axis``.

float32 inputs follow PyTorch's CPU kernels bit for bit: inv = 1/s in float32, then
round(fma(x, inv, z)) (one float32 rounding of x * inv + z, then round half to even on the final
code); float64 inputs are computed in float64 as round(x / s) + z.
"""
from __future__ import annotations

import numpy as np

from qhw.fixed.convert import round_float

_BLOCK = 1 << 16  # elements per block of the float32 path
ROUNDINGS = ("half_even", "half_up", "half_down", "half_away", "floor", "ceil", "trunc")


#: qhw.quant rounding names -> the ap_fixed rounding mode that rounds the same way
_AP_MODE = {"half_even": "RND_CONV", "half_up": "RND", "half_down": "RND_MIN_INF",
            "half_away": "RND_INF", "floor": "TRN", "trunc": "TRN_ZERO"}


def round_values(y: np.ndarray, rounding: str = "half_even") -> np.ndarray:
    """Round to integers (same float dtype) by a named mode, exactly (ties found exactly, see
    :func:`qhw.fixed.convert.round_float`; ``floor(y + 0.5)`` would round the largest float below
    one half up to 1)."""
    if rounding == "ceil":
        return np.ceil(y)
    if rounding not in _AP_MODE:
        raise ValueError(f"unknown rounding {rounding!r}; valid: {', '.join(ROUNDINGS)}")
    return round_float(y, _AP_MODE[rounding])


def _check_range(qmin: int, qmax: int) -> None:
    if int(qmin) >= int(qmax):
        raise ValueError(f"qmin must be below qmax, got qmin={qmin}, qmax={qmax}")


def _expand(param, name: str, x_shape, axis, group_size, dtype):
    """Broadcast a per-tensor/channel/group parameter against an array of shape x_shape."""
    p = np.asarray(param, dtype=dtype)
    if p.ndim == 0:
        if axis is not None and group_size is None:
            pass  # a scalar with an axis is still per tensor
        return p
    if p.ndim != 1:
        raise ValueError(f"{name} must be a scalar or 1-D, got shape {p.shape}")
    if axis is None:
        if p.size == 1:
            return p.reshape(())
        raise ValueError(f"{name} has {p.size} values: give the axis they run along")
    ndim = len(x_shape)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for an array of {ndim} dimensions")
    axis %= ndim
    n = x_shape[axis]
    if group_size is not None:
        if group_size < 1 or n % group_size:
            raise ValueError(f"group_size {group_size} does not divide axis {axis} of length {n}")
        if p.size != n // group_size:
            raise ValueError(f"{name} has {p.size} values, expected {n // group_size} groups")
        p = np.repeat(p, group_size)
    elif p.size != n:
        raise ValueError(f"{name} has {p.size} values, axis {axis} has {n}")
    shape = [1] * ndim
    shape[axis] = n
    return p.reshape(shape)


def _check_scale(scale) -> None:
    s = np.asarray(scale, dtype=np.float64)
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"scale must be finite and > 0, got {scale!r}")


def code_dtype(qmin: int, qmax: int) -> np.dtype:
    """The smallest integer dtype holding [qmin, qmax] (int8 for qint8, uint8 for quint8 ...)."""
    for dt in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64):
        info = np.iinfo(dt)
        if info.min <= qmin and qmax <= info.max:
            return np.dtype(dt)
    raise ValueError(f"no integer type holds [{qmin}, {qmax}]")


def quantize(x, scale, zero_point, qmin: int, qmax: int, axis: int | None = None,
             group_size: int | None = None, rounding: str = "half_even") -> np.ndarray:
    """Float array -> integer codes in [qmin, qmax], in the smallest integer dtype holding them."""
    _check_scale(scale)
    _check_range(qmin, qmax)
    x = np.asarray(x)
    if x.dtype == np.float32:
        s = _expand(scale, "scale", x.shape, axis, group_size, np.float32)
        z = _expand(zero_point, "zero_point", x.shape, axis, group_size, np.float32)
        inv = (np.float32(1.0) / s).astype(np.float64)
        out = np.empty(x.shape, code_dtype(int(qmin), int(qmax)))
        # Blocks of rows keep the float64 temporaries in cache.
        rows = max(1, _BLOCK // max(1, x[0].size)) if x.ndim > 1 else x.shape[0] or 1
        for i in range(0, x.shape[0] if x.ndim else 1, rows):
            sl = (slice(i, i + rows),) if x.ndim else ()
            inv_b = inv[sl] if inv.ndim and inv.shape[0] > 1 else inv
            z_b = z[sl] if z.ndim and z.shape[0] > 1 else z
            # float64 holds the exact float32 product (24 + 24 bits): one rounding, like an FMA
            y = x[sl].astype(np.float64)
            y *= inv_b
            y += z_b
            q = y.astype(np.float32)
            q = np.rint(q, out=q) if rounding == "half_even" else round_values(q, rounding)
            np.clip(q, qmin, qmax, out=q)
            out[sl] = q
        return out
    else:
        x = x.astype(np.float64, copy=False)
        s = _expand(scale, "scale", x.shape, axis, group_size, np.float64)
        z = _expand(zero_point, "zero_point", x.shape, axis, group_size, np.float64)
        q = np.array(round_values(x / s, rounding), np.float64)  # an array also for a 0-d x
        q += z
    np.clip(q, qmin, qmax, out=q)
    return q.astype(code_dtype(int(qmin), int(qmax)))


def dequantize(q, scale, zero_point, axis: int | None = None, group_size: int | None = None,
               dtype=np.float32) -> np.ndarray:
    """int codes -> float values s * (q - z) (float32 like PyTorch, or dtype=np.float64).

    As in PyTorch, a per-tensor scale is a float32 and the product is a float32 multiply; per-channel
    scales are float64 and the float64 product is rounded once to the output type."""
    _check_scale(scale)
    q = np.asarray(q)
    per_tensor = np.ndim(scale) == 0 or np.size(scale) == 1
    s = _expand(scale, "scale", q.shape, axis, group_size, dtype if per_tensor else np.float64)
    z = _expand(zero_point, "zero_point", q.shape, axis, group_size, np.int64)
    d = q.astype(np.int64) - z
    return (d.astype(s.dtype) * s).astype(dtype, copy=False)


def fake_quantize(x, scale, zero_point, qmin: int, qmax: int, axis: int | None = None,
                  group_size: int | None = None, rounding: str = "half_even") -> np.ndarray:
    """quantize then dequantize, in the input's float type.

    float32 follows PyTorch's fake-quant kernels, which differ from its quantize_per_tensor:
    round(x * (1/s)) is taken in float32 before z is added, and s * (q - z) is a float32 product.
    """
    x = np.asarray(x)
    if x.dtype != np.float32:
        q = quantize(x, scale, zero_point, qmin, qmax, axis, group_size, rounding)
        return dequantize(q, scale, zero_point, axis, group_size, np.float64)
    _check_scale(scale)
    _check_range(qmin, qmax)
    s = _expand(scale, "scale", x.shape, axis, group_size, np.float32)
    z = _expand(zero_point, "zero_point", x.shape, axis, group_size, np.int64)
    q = round_values(x * (np.float32(1.0) / s), rounding).astype(np.int64) + z
    return ((np.clip(q, qmin, qmax) - z).astype(np.float32) * s).astype(np.float32)


def qrange(bits: int, signed: bool, narrow_range: bool = False) -> tuple[int, int]:
    """(qmin, qmax) of a bits-wide integer; narrow_range drops the most negative code."""
    if int(bits) < 1:
        raise ValueError(f"bits must be >= 1, got {bits}")
    if signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return (lo + 1 if narrow_range else lo), hi
    return (1 if narrow_range else 0), (1 << bits) - 1
