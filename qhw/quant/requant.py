"""From affine quantization parameters to integer hardware arithmetic.

A quantized layer computes acc = sum (x_q - z_x)(w_q - z_w) in integers; its real value is
s_x * s_w * acc, and the output code is y_q = z_y + round(acc * s_x * s_w / s_y). The real factor
m = s_x s_w / s_y is realised as an integer multiplier M and a right shift n (m ~ M * 2**-n), or a
pure shift when m is a power of two.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qhw.quant.affine import round_values


@dataclass(frozen=True)
class Requantizer:
    """y = clamp(z_out + round(acc * M * 2**-shift), qmin, qmax) per channel (arrays) or tensor."""

    multiplier: np.ndarray  # int64, >= 0
    shift: np.ndarray  # int64, >= 0 (right shift)
    zero_point: int
    qmin: int
    qmax: int
    rounding: str = "half_even"

    @property
    def is_pure_shift(self) -> bool:
        return bool(np.all(self.multiplier == 1))

    def apply(self, acc) -> np.ndarray:
        """Exact integer evaluation (no float): acc * M, rounded right shift, offset, clamp."""
        acc = np.asarray(acc, dtype=np.int64)
        prod = acc * self.multiplier
        n = self.shift
        if np.any(n > 0):
            q = prod >> n
            rem = prod - (q << n)
            half = np.where(n > 0, np.int64(1) << np.maximum(n - 1, 0), 0)
            up = _round_up(rem, half, q, n > 0, self.rounding, prod < 0)
            prod = q + up
        return np.clip(prod + self.zero_point, self.qmin, self.qmax)

    def relative_error(self, real_multiplier) -> np.ndarray:
        """|M 2**-n - m| / m per channel: the approximation's relative error."""
        m = np.asarray(real_multiplier, dtype=np.float64)
        return np.abs(self.multiplier * np.ldexp(1.0, -self.shift.astype(int)) - m) / m


def _round_up(rem, half, q, active, rounding, neg):
    """1 where the exact quotient rounds above its floor q (rem in [0, 2**n))."""
    gt, eq, nz = rem > half, rem == half, rem != 0
    table = {
        "half_even": gt | (eq & (q % 2 != 0)),
        "half_up": rem >= half,
        "half_down": gt,
        "half_away": gt | (eq & ~neg),
        "floor": np.zeros_like(nz),
        "ceil": nz,
        "trunc": nz & neg,
    }
    if rounding not in table:
        raise ValueError(f"unknown rounding {rounding!r}")
    return (table[rounding] & active).astype(np.int64)


def quantize_multiplier(m, bits: int = 32, max_shift: int = 62) -> tuple[np.ndarray, np.ndarray]:
    """m > 0 (scalar or per channel) -> (M, n): M < 2**(bits-1) with as many significant bits as
    fit, n the right shift, so that M * 2**-n ~ m. A power of two gives M = 1 (a pure shift)."""
    m = np.atleast_1d(np.asarray(m, dtype=np.float64))
    if not np.all(np.isfinite(m)) or np.any(m <= 0):
        raise ValueError(f"the real multiplier must be finite and > 0, got {m}")
    if bits < 2:
        raise ValueError(f"multiplier bits must be >= 2, got {bits}")
    mant, exp = np.frexp(m)  # m = mant * 2**exp, mant in [0.5, 1)
    pow2 = mant == 0.5
    M = np.rint(np.ldexp(mant, bits - 1)).astype(np.int64)  # up to 2**(bits-1)
    n = (bits - 1 - exp).astype(np.int64)
    carry = M == (1 << (bits - 1))  # rounding overflowed the mantissa
    M = np.where(carry, M >> 1, M)
    n = np.where(carry, n - 1, n)
    M = np.where(pow2, 1, M)
    n = np.where(pow2, 1 - exp, n)
    while np.any((n < 0) | (n > max_shift)):  # keep shifts in range by trading bits of M
        bad = n > max_shift
        if np.any(bad):
            M = np.where(bad, np.rint(M / 2).astype(np.int64), M)
            n = np.where(bad, n - 1, n)
        neg = n < 0
        if np.any(neg):
            M = np.where(neg, M * 2, M)
            n = np.where(neg, n + 1, n)
    return M, n


def requantizer(s_in, s_w, s_out, z_out: int, qmin: int, qmax: int, bits: int = 32,
                rounding: str = "half_even") -> Requantizer:
    """The integer requantizer for accumulator scale s_in*s_w into output scale s_out."""
    m = np.asarray(s_in, dtype=np.float64) * np.asarray(s_w, dtype=np.float64) / float(s_out)
    M, n = quantize_multiplier(m, bits)
    return Requantizer(M, n, int(z_out), int(qmin), int(qmax), rounding)


def zero_point_terms(w_q, z_x: int, z_w, k_axis: int = 0) -> tuple[np.ndarray, int]:
    """Correction terms of sum_k (x_k - z_x)(w_k - z_w) = sum x w - z_w sum x - z_x sum w + K z_x z_w.

    Returns (per-output constant -z_x * sum_k w_k + K z_x z_w, and the factor z_w of the
    data-dependent term -z_w * sum_k x_k), for constant weights w_q of shape (K, M)."""
    w = np.asarray(w_q, dtype=np.int64)
    k = w.shape[k_axis]
    z_w_arr = np.asarray(z_w, dtype=np.int64)
    const = -int(z_x) * w.sum(axis=k_axis) + k * int(z_x) * z_w_arr
    return const, z_w_arr


def float_requantize(acc, m, z_out, qmin, qmax, rounding="half_even") -> np.ndarray:
    """The float reference of :meth:`Requantizer.apply` (for error reports)."""
    y = round_values(np.asarray(acc, np.float64) * np.asarray(m, np.float64), rounding)
    return np.clip(y + z_out, qmin, qmax).astype(np.int64)


def shift_for(m: float) -> int | None:
    """n with m == 2**-n exactly, or None."""
    mant, exp = math.frexp(m)
    return 1 - exp if mant == 0.5 else None
