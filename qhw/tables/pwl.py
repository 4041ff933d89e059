"""Piecewise-linear sigmoid/tanh: segments between breakpoints, mirrored for x < 0.

For x >= 0 in segment j (b_j <= x < b_{j+1}): y = y_j + m_j (x - b_j), with y_j = f(b_j) and m_j
the chord slope; beyond the last breakpoint y = f(b_last). For x < 0: y = 1 - y(-x) (sigmoid) or
-y(-x) (tanh). In hardware: compares pick the segment, one multiply (or a shift when slopes are
powers of two), one add, then assignment to the output format. ``evaluate`` does exactly that on
integer codes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qhw.fixed import FixedFormat
from qhw.tables.rom import evaluate as f_eval

DEFAULT_BREAKPOINTS = (0.0, 0.25, 0.5, 0.75, 1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0)
GUARD_BITS = 4  # extra fraction bits of the intercepts over the output


@dataclass(frozen=True)
class PwlFunction:
    function: str
    in_fmt: FixedFormat
    out_fmt: FixedFormat
    breakpoints_raw: np.ndarray  # input codes b_0 = 0 < ... < b_m
    slopes_raw: np.ndarray  # codes of slope_fmt, one per segment (m of them)
    slope_fmt: FixedFormat
    intercepts_raw: np.ndarray  # codes of intercept_fmt: y_0 .. y_m
    intercept_fmt: FixedFormat
    pow2_slopes: bool

    @property
    def bits(self) -> int:
        """Constant storage in bits (breakpoints, slopes, intercepts)."""
        return int(self.breakpoints_raw.size * self.in_fmt.width + self.slopes_raw.size * self.slope_fmt.width
                   + self.intercepts_raw.size * self.intercept_fmt.width)

    def sum_format(self) -> FixedFormat:
        """The exact format of y_j + m_j (x - b_j) (and of 1 - that)."""
        f = max(self.in_fmt.frac_bits + self.slope_fmt.frac_bits, self.intercept_fmt.frac_bits)
        return FixedFormat(min(64, f + 4), 4, True)

    def evaluate(self, raw) -> np.ndarray:
        raw = np.asarray(raw, np.int64)
        a = np.abs(raw)
        b = self.breakpoints_raw
        seg = np.clip(np.searchsorted(b, a, side="right") - 1, 0, len(b) - 1)
        last = seg == len(b) - 1
        segc = np.minimum(seg, len(self.slopes_raw) - 1)
        t = np.where(last, 0, a - b[seg])
        sf = self.sum_format()
        prod = t * self.slopes_raw[segc]  # F = in.F + slope.F
        prod_f = self.in_fmt.frac_bits + self.slope_fmt.frac_bits
        y = (self.intercepts_raw[seg] << (sf.frac_bits - self.intercept_fmt.frac_bits)) \
            + (prod << (sf.frac_bits - prod_f))
        one = 1 << sf.frac_bits
        neg = (one - y) if self.function == "sigmoid" else -y
        return self.out_fmt.cast(np.where(raw < 0, neg, y), sf)


def build_pwl(function: str = "sigmoid", in_fmt: FixedFormat | None = None,
              out_fmt: FixedFormat | None = None, *, breakpoints=DEFAULT_BREAKPOINTS,
              pow2_slopes: bool = False, slope_bits: int = 16) -> PwlFunction:
    if function not in ("sigmoid", "tanh"):
        raise ValueError(f"piecewise-linear {function!r} is not supported (sigmoid, tanh)")
    if in_fmt is None or out_fmt is None:
        raise ValueError("build_pwl needs in_fmt and out_fmt")
    b = np.asarray(sorted(float(v) for v in breakpoints), np.float64)
    if b[0] != 0.0 or np.any(np.diff(b) <= 0):
        raise ValueError(f"breakpoints must start at 0 and increase, got {list(breakpoints)}")
    b_raw = np.unique(np.clip(np.round(b / in_fmt.lsb), 0, in_fmt.raw_max).astype(np.int64))
    bx = b_raw * in_fmt.lsb
    y = f_eval(function, bx)
    slopes = np.diff(y) / np.diff(bx)
    if pow2_slopes:
        slopes = 2.0 ** np.round(np.log2(slopes))
    smax = float(slopes.max())
    s_ib = math.floor(math.log2(smax)) + 1
    slope_fmt = FixedFormat(slope_bits, s_ib, False, "RND")
    icpt_fmt = FixedFormat(out_fmt.width + GUARD_BITS + 1, out_fmt.integer_bits + 1, True, "RND")
    return PwlFunction(function, in_fmt, out_fmt, b_raw, slope_fmt.quantize(slopes), slope_fmt,
                       icpt_fmt.quantize(y), icpt_fmt, pow2_slopes)
