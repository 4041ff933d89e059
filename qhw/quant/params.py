"""QuantParams: the affine quantization of one tensor (scale, zero point, integer range)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qhw.fixed import FixedFormat
from qhw.quant import affine


def _tuple(v, kind):
    a = np.asarray(v)
    if a.ndim == 0:
        return kind(a)
    return tuple(kind(x) for x in a.ravel())


@dataclass(frozen=True)
class QuantParams:
    """scale (float or tuple), zero_point (int or tuple), bits, signed, narrow_range; axis and
    group_size give the granularity when scale/zero_point are tuples."""

    scale: float | tuple[float, ...]
    zero_point: int | tuple[int, ...] = 0
    bits: int = 8
    signed: bool = True
    narrow_range: bool = False
    axis: int | None = None
    group_size: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _tuple(self.scale, float))
        object.__setattr__(self, "zero_point", _tuple(self.zero_point, int))
        if isinstance(self.bits, bool) or int(self.bits) < 1:
            raise ValueError(f"bits must be an integer >= 1, got {self.bits!r}")
        s = np.atleast_1d(np.asarray(self.scale, dtype=np.float64))
        if not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise ValueError(f"scale must be finite and > 0, got {self.scale!r}")
        z = np.atleast_1d(np.asarray(self.zero_point))
        if np.any(z < self.qmin) or np.any(z > self.qmax):
            raise ValueError(f"zero_point {self.zero_point!r} is outside [{self.qmin}, {self.qmax}]")
        if isinstance(self.scale, tuple) and self.axis is None:
            raise ValueError("per-channel/per-group scales need an axis")
        if self.group_size is not None and int(self.group_size) < 1:
            raise ValueError(f"group_size must be >= 1, got {self.group_size}")

    @property
    def qmin(self) -> int:
        return affine.qrange(self.bits, self.signed, self.narrow_range)[0]

    @property
    def qmax(self) -> int:
        return affine.qrange(self.bits, self.signed, self.narrow_range)[1]

    @property
    def is_per_tensor(self) -> bool:
        return not isinstance(self.scale, tuple)

    @property
    def is_symmetric(self) -> bool:
        return bool(np.all(np.asarray(self.zero_point) == 0))

    @property
    def is_power_of_two(self) -> bool:
        s = np.atleast_1d(np.asarray(self.scale, dtype=np.float64))
        m, _ = np.frexp(s)
        return self.is_symmetric and bool(np.all(m == 0.5))

    def scale_array(self) -> np.ndarray:
        return np.asarray(self.scale, dtype=np.float64)

    def zero_point_array(self) -> np.ndarray:
        return np.asarray(self.zero_point, dtype=np.int64)

    def quantize(self, x, rounding: str = "half_even") -> np.ndarray:
        return affine.quantize(x, self.scale, self.zero_point, self.qmin, self.qmax, self.axis,
                               self.group_size, rounding)

    def dequantize(self, q, dtype=np.float64) -> np.ndarray:
        return affine.dequantize(q, self.scale, self.zero_point, self.axis, self.group_size, dtype)

    def fake_quantize(self, x, rounding: str = "half_even") -> np.ndarray:
        return affine.fake_quantize(x, self.scale, self.zero_point, self.qmin, self.qmax,
                                    self.axis, self.group_size, rounding)

    def to_fixed_format(self, rounding: str = "RND_CONV", overflow: str = "SAT") -> FixedFormat:
        """The equal FixedFormat of a per-tensor power-of-two QuantParams (s = 2**-k, z = 0):
        ``bits`` wide with ``bits - k`` integer bits. Rounding/overflow: the modes of x/s."""
        if not (self.is_per_tensor and self.is_power_of_two):
            raise ValueError(f"only per-tensor power-of-two scales with zero_point 0 map to a "
                             f"FixedFormat, got scale={self.scale!r}, zero_point={self.zero_point!r}")
        if self.narrow_range:
            raise ValueError("narrow_range has no FixedFormat equivalent")
        k = -int(math.log2(self.scale))
        return FixedFormat(self.bits, self.bits - k, self.signed, rounding, overflow)

    @classmethod
    def from_fixed_format(cls, fmt: FixedFormat) -> "QuantParams":
        return cls(fmt.lsb, 0, fmt.width, fmt.signed)
