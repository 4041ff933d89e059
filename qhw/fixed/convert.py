"""Conversions into a fixed-point format, exactly as ap_fixed assignment does them.

Assignment in ap_fixed is two steps on the exact source value: *quantization* (rounding the bits
below the destination's LSB by the rounding mode) and then *overflow* handling of the rounded value
by the overflow mode. Both are done here on whole numpy arrays.

Raw codes are int64. The one format whose codes do not fit int64 as values, unsigned 64-bit, is
stored as the int64 with the same bit pattern and computed on internally as uint64.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # FixedFormat's methods call this module: no import back at run time
    from qhw.fixed.format import FixedFormat

_I64 = np.iinfo(np.int64)
_U64 = np.iinfo(np.uint64)


# ------------------------------------------------------------------ raw array handling
def is_u64(fmt: FixedFormat) -> bool:
    """True for the one format computed on as uint64 (unsigned, 64 bits)."""
    return not fmt.signed and fmt.width == 64


def as_raw(raw, fmt: FixedFormat) -> np.ndarray:
    """Raw codes as the array type computed on: uint64 for unsigned 64-bit formats, else int64."""
    a = np.asarray(raw)
    if a.dtype.kind not in "iub":
        if a.dtype.kind == "f" and a.size and not np.all(np.floor(a) == a):
            raise ValueError(f"raw codes for {fmt} must be integers, got non-integer values")
        if a.dtype.kind == "O":
            a = np.array([int(v) & 0xFFFF_FFFF_FFFF_FFFF for v in a.ravel()], np.uint64).reshape(a.shape)
    if is_u64(fmt):
        return a.astype(np.uint64) if a.dtype != np.int64 else a.view(np.uint64)
    if a.dtype == np.uint64:
        return a.view(np.int64)
    return a.astype(np.int64, copy=False)


def to_stored(a: np.ndarray) -> np.ndarray:
    """Back to the stored int64 form (bit pattern kept for uint64)."""
    return a.view(np.int64) if a.dtype == np.uint64 else a.astype(np.int64, copy=False)


def _gt(a: np.ndarray, t: int) -> np.ndarray:
    """a > t for a Python-int threshold that may lie outside a's dtype range."""
    info = np.iinfo(a.dtype)
    if t >= info.max:
        return np.zeros(a.shape, bool)
    if t < info.min:
        return np.ones(a.shape, bool)
    return a > a.dtype.type(t)


def _lt(a: np.ndarray, t: int) -> np.ndarray:
    info = np.iinfo(a.dtype)
    if t <= info.min:
        return np.zeros(a.shape, bool)
    if t > info.max:
        return np.ones(a.shape, bool)
    return a < a.dtype.type(t)


def _eq(a: np.ndarray, t: int) -> np.ndarray:
    info = np.iinfo(a.dtype)
    if not info.min <= t <= info.max:
        return np.zeros(a.shape, bool)
    return a == a.dtype.type(t)


# ------------------------------------------------------------------ quantization (rounding)
def round_shift_right(v: np.ndarray, k: int, rounding: str) -> np.ndarray:
    """``v / 2**k`` rounded by an ap_fixed rounding mode (k >= 1 bits dropped).

    v is int64 (two's complement values) or uint64 (non-negative values); the result has the same
    dtype. Follows ap_fixed: floor, then add one when the dropped bits ask for it, judged from the
    first dropped bit (half), the OR of the bits below it (sticky) and the sign.
    """
    if k <= 0:
        raise ValueError(f"round_shift_right needs k >= 1, got {k}")
    signed = v.dtype == np.int64
    if k < 64 and rounding == "TRN":  # the common case: a plain arithmetic shift
        return v >> v.dtype.type(k)
    if k < 64 and rounding == "RND":  # floor(v / 2**k + 1/2), without a carry out of 64 bits
        return (v >> v.dtype.type(k)) + ((v >> v.dtype.type(k - 1)) & v.dtype.type(1))
    if k < 64:
        q = v >> v.dtype.type(k)
        half = (v >> v.dtype.type(k - 1)) & v.dtype.type(1)
        sticky = (v & v.dtype.type((1 << (k - 1)) - 1)) != 0 if k > 1 else np.zeros(v.shape, bool)
        half = half.astype(bool)
    elif signed:  # all int64 values are below 2**63 <= 2**(k-1) in magnitude
        neg = v < 0
        q = np.where(neg, np.int64(-1), np.int64(0))
        half = neg
        sticky = np.where(neg, v != _I64.min, v != 0) if k == 64 else np.where(neg, True, v != 0)
    else:
        q = np.zeros(v.shape, np.uint64)
        if k == 64:
            half = (v >> np.uint64(63)).astype(bool)
            sticky = (v & np.uint64((1 << 63) - 1)) != 0
        else:
            half = np.zeros(v.shape, bool)
            sticky = v != 0
    neg = (v < 0) if signed else np.zeros(v.shape, bool)
    if rounding == "TRN":
        return q
    if rounding == "TRN_ZERO":
        inc = neg & (half | sticky)
    elif rounding == "RND":
        inc = half
    elif rounding == "RND_ZERO":
        inc = half & (neg | sticky)
    elif rounding == "RND_MIN_INF":
        inc = half & sticky
    elif rounding == "RND_INF":
        inc = half & (~neg | sticky)
    elif rounding == "RND_CONV":
        inc = half & ((q & q.dtype.type(1)).astype(bool) | sticky)
    else:  # pragma: no cover - FixedFormat validates modes
        raise ValueError(f"unknown rounding mode {rounding!r}")
    return q + inc.astype(q.dtype)


def round_float(y: np.ndarray, rounding: str) -> np.ndarray:
    """Round floats to integers (same float dtype) by an ap_fixed rounding mode, exactly.

    ``r = rint(y)`` is the nearest integer (ties to even) and ``d = y - r`` is exact (Sterbenz: once
    |y| >= 1/2, r lies within a factor of 2 of y; below, r is 0), so ``|d| == 1/2`` finds the ties
    exactly, and only at ties do the round-to-nearest modes differ. A tie's other neighbour
    ``y +- 1/2`` is exact too (ties exist only below 2**52, or 2**23 in float32). No ``y + 0.5`` is
    formed for other values: for the largest double below one half that sum rounds up to 1.
    """
    if rounding == "TRN":
        return np.floor(y)
    if rounding == "TRN_ZERO":
        return np.trunc(y)
    r = np.rint(y)
    if rounding == "RND_CONV":
        return r
    with np.errstate(invalid="ignore"):  # +-inf - +-inf is NaN: never a tie
        d = np.subtract(y, r)
    tie = np.abs(d, out=d if isinstance(d, np.ndarray) else None) == 0.5
    if not tie.any():
        return r
    if rounding == "RND":
        other = y + 0.5
    elif rounding == "RND_MIN_INF":
        other = y - 0.5
    elif rounding == "RND_INF":
        other = y + np.copysign(0.5, y)
    elif rounding == "RND_ZERO":
        other = y - np.copysign(0.5, y)
    else:  # pragma: no cover - FixedFormat validates modes
        raise ValueError(f"unknown rounding mode {rounding!r}")
    return np.where(tie, other, r)


# ------------------------------------------------------------------ overflow
def _sym_underflow_code(fmt: FixedFormat) -> int:
    # ap_fixed sets the bit pattern 100..001: -max for W > 1, and -1 (= min) for W == 1.
    return fmt.raw_min + 1 if fmt.width > 1 else fmt.raw_min


def _wrap_low_bits(low: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    """Keep the low W bits of uint64 words, sign-extended for signed formats; int64 result."""
    w = fmt.width
    if w == 64:
        return low.view(np.int64)
    if fmt.signed:  # move the sign bit to bit 63, then shift back arithmetically
        sh = np.uint64(64 - w)
        return (low << sh).view(np.int64) >> np.int64(64 - w)
    return (low & np.uint64((1 << w) - 1)).view(np.int64)


def _finish(fmt: FixedFormat, in_range_value, over, under, sym_min, low_bits) -> np.ndarray:
    """Apply ``fmt``'s overflow mode.

    in_range_value(): int64 stored codes, valid where the value is in range.
    over/under: the rounded value is above/below the range. sym_min: it equals raw_min and the
    source is signed (an underflow for SAT_SYM). low_bits(): the value modulo 2**64 as uint64.
    """
    mode = fmt.overflow
    if mode == "WRAP":
        return _wrap_low_bits(low_bits(), fmt)
    out = in_range_value()
    if mode == "SAT":
        hi, lo = fmt.raw_max, fmt.raw_min
    elif mode == "SAT_ZERO":
        hi = lo = 0
    else:  # SAT_SYM
        hi = fmt.raw_max
        lo = _sym_underflow_code(fmt) if fmt.signed else 0
        if fmt.signed:
            under = under | sym_min
    if over.any():
        out = np.where(over, np.uint64(hi).view(np.int64) if hi > _I64.max else np.int64(hi), out)
    if under.any():
        out = np.where(under, np.int64(lo), out)
    return out


# ------------------------------------------------------------------ public conversions
def _fast_overflow(fmt: FixedFormat, r: np.ndarray, source_signed: bool):
    """One-pass overflow handling when ``r`` (exact integers, float64 or int64) can be clipped and
    converted directly; None when the general path is needed."""
    w = fmt.width
    if r.dtype == np.float64 and w > 53:
        return None
    if r.dtype == np.uint64:
        return None
    mode = fmt.overflow
    if mode == "WRAP":
        if r.dtype == np.float64:
            if w == 64 or not r.size:
                return None
            lo_r, hi_r = float(r.min()), float(r.max())
            if fmt.raw_min <= lo_r and hi_r <= fmt.raw_max:
                return r.astype(np.int64)  # nothing wraps
            if not max(-lo_r, hi_r) < 2.0**62:
                return None
            r = r.astype(np.int64)
        if w == 64 or (r.size and fmt.raw_min <= r.min() and r.max() <= fmt.raw_max):
            return r  # nothing wraps (two read-only passes are cheaper than the shifts)
        sh = np.int64(64 - w)
        if fmt.signed:
            return (r << sh) >> sh
        return r & np.int64((1 << w) - 1)
    lo, hi = fmt.raw_min, fmt.raw_max
    if mode == "SAT_SYM" and fmt.signed and source_signed:
        lo = _sym_underflow_code(fmt)
    if mode == "SAT_ZERO":
        keep = (r >= lo) & (r <= hi)
        out = np.where(keep, r, 0)
    else:
        out = np.clip(r, lo, hi)
    return out.astype(np.int64, copy=False)


def quantize(fmt: FixedFormat, x) -> np.ndarray:
    """Raw codes of ``fmt`` for float values, as assigning a ``double`` to that ap_fixed type."""
    x = np.asarray(x, dtype=np.float64)
    finite = bool(np.isfinite(x).all())
    if not finite and np.isnan(x).any():
        raise ValueError(f"cannot quantize NaN to {fmt}")
    if not finite and fmt.overflow == "WRAP" and np.isinf(x).any():
        raise ValueError(f"cannot quantize +-inf to {fmt}: it has no value under AP_WRAP")
    f = fmt.frac_bits
    with np.errstate(over="ignore", under="ignore"):
        y = np.ldexp(x, f)
    if f < 0:  # scaling down may underflow a tiny non-zero to 0: keep its sign and non-zero-ness
        lost = (y == 0) & (x != 0)
        if lost.any():
            y = np.where(lost, np.copysign(0.25, x), y)
    r = round_float(y, fmt.rounding)
    fast = _fast_overflow(fmt, r, source_signed=True)
    if fast is not None:
        return fast
    w = fmt.width
    lo_f = -(2.0 ** (w - 1)) if fmt.signed else 0.0
    hi_excl = 2.0 ** (w - 1) if fmt.signed else 2.0**w
    over = r >= hi_excl
    under = r < lo_f

    def in_range():
        safe = np.where(over | under, 0.0, r)
        if is_u64(fmt):
            return safe.astype(np.uint64).view(np.int64)
        return safe.astype(np.int64)

    def low_bits():
        small = np.abs(r) < 2.0**63
        low = np.where(small, r, 0.0).astype(np.int64).view(np.uint64)
        if not small.all():
            # |r| >= 2**63: r is an integer m * 2**s with s >= 10; take m << s modulo 2**64 from x.
            mant, ex = np.frexp(np.where(small, 0.0, x))
            m = (mant * 2.0**53).astype(np.int64).view(np.uint64)
            s = ex.astype(np.int64) - 53 + f
            shifted = m << np.clip(s, 0, 63).astype(np.uint64)
            low = np.where(small, low, np.where(s >= 64, np.uint64(0), shifted))
        return low

    sym_min = r == lo_f  # a double is a signed source; only used for signed SAT_SYM
    return _finish(fmt, in_range, over, under, sym_min, low_bits)


def cast(fmt: FixedFormat, raw, src: FixedFormat) -> np.ndarray:
    """Raw codes of ``fmt`` for raw codes of ``src``: ap_fixed assignment between fixed types."""
    v = as_raw(raw, src)
    d = fmt.frac_bits - src.frac_bits
    if d < 0:
        v = round_shift_right(v, -d, fmt.rounding)
        fast = _fast_overflow(fmt, v, src.signed)
        if fast is not None:
            return fast
        over = _gt(v, fmt.raw_max)
        under = _lt(v, fmt.raw_min)
        sym = _eq(v, fmt.raw_min) if (src.signed and fmt.signed) else np.zeros(v.shape, bool)
        in_range = lambda: to_stored(np.where(over | under, v.dtype.type(0), v))  # noqa: E731
        low_bits = lambda: v.view(np.uint64) if v.dtype == np.int64 else v  # noqa: E731
        return _finish(fmt, in_range, over, under, sym, low_bits)
    # d >= 0: exact scaling by 2**d.
    if v.dtype == np.int64 and src.width + d <= 63:  # the scaled value still fits int64
        fast = _fast_overflow(fmt, v << np.int64(d) if d else v, src.signed)
        if fast is not None:
            return fast
    # Otherwise detect range against thresholds scaled down instead.
    over = _gt(v, fmt.raw_max >> d)
    under = _lt(v, -((-fmt.raw_min) >> d))
    if src.signed and fmt.signed and (-fmt.raw_min) % (1 << d) == 0:
        sym = _eq(v, fmt.raw_min >> d)
    else:
        sym = np.zeros(v.shape, bool)

    def shifted_u64():
        u = v.view(np.uint64) if v.dtype == np.int64 else v
        return u << np.uint64(d) if d < 64 else np.zeros(v.shape, np.uint64)

    in_range = lambda: np.where(over | under, np.int64(0), shifted_u64().view(np.int64))  # noqa: E731
    return _finish(fmt, in_range, over, under, sym, shifted_u64)


def to_float(fmt: FixedFormat, raw) -> np.ndarray:
    """Real values of raw codes (exact while W <= 53; otherwise rounded to nearest double)."""
    v = as_raw(raw, fmt)
    return np.ldexp(v.astype(np.float64), -fmt.frac_bits)
