"""A scalar reference of ap_fixed semantics in exact rational arithmetic.

Written from the definitions of the rounding and overflow modes (Vitis HLS documentation), not
from qhw's implementation, and used as an oracle by the tests. Slow by design: one value at a time.
"""
from __future__ import annotations

import math
from fractions import Fraction

from qhw.fixed import FixedFormat


def round_value(v: Fraction, mode: str) -> int:
    """Round a rational number (in LSB units) to an integer by an ap_fixed rounding mode."""
    fl = math.floor(v)
    frac = v - fl
    if frac == 0:
        return fl
    if mode == "TRN":
        return fl
    if mode == "TRN_ZERO":
        return fl if v > 0 else fl + 1
    if frac != Fraction(1, 2):
        return fl + 1 if frac > Fraction(1, 2) else fl  # nearest; only ties differ below
    return {
        "RND": fl + 1,  # towards +inf
        "RND_MIN_INF": fl,  # towards -inf
        "RND_ZERO": fl if v > 0 else fl + 1,
        "RND_INF": fl + 1 if v > 0 else fl,
        "RND_CONV": fl if fl % 2 == 0 else fl + 1,
    }[mode]


def overflow_value(v: int, fmt: FixedFormat, source_signed: bool = True) -> int:
    """Apply an overflow mode to an integer code."""
    lo, hi, w = fmt.raw_min, fmt.raw_max, fmt.width
    if lo <= v <= hi and not (fmt.overflow == "SAT_SYM" and fmt.signed and source_signed and v == lo):
        return v
    mode = fmt.overflow
    if mode == "WRAP":
        u = v % (1 << w)
        return u - (1 << w) if fmt.signed and u >= 1 << (w - 1) else u
    if mode == "SAT_ZERO":
        return 0
    if mode == "SAT":
        return hi if v > hi else lo
    # SAT_SYM: symmetric range [-max, max] for signed; a 1-bit signed keeps -1.
    if v > hi:
        return hi
    if not fmt.signed:
        return lo
    return -hi if w > 1 else lo


def quantize(x: float, fmt: FixedFormat) -> int:
    if math.isinf(x):
        return overflow_value(fmt.raw_max + 1 if x > 0 else fmt.raw_min - 1, fmt)
    v = Fraction(x) * Fraction(2) ** fmt.frac_bits
    return overflow_value(round_value(v, fmt.rounding), fmt)


def cast(raw: int, src: FixedFormat, dst: FixedFormat) -> int:
    v = Fraction(raw) * Fraction(2) ** (dst.frac_bits - src.frac_bits)
    return overflow_value(round_value(v, dst.rounding), dst, src.signed)


def value(raw: int, fmt: FixedFormat) -> Fraction:
    return Fraction(raw) * Fraction(2) ** -fmt.frac_bits


def to_raw(v: Fraction, fmt: FixedFormat) -> int:
    r = v * Fraction(2) ** fmt.frac_bits
    assert r.denominator == 1, "not on the grid"
    return int(r)


def dot(a: list[int], fa: FixedFormat, b: list[int], fb: FixedFormat, acc: FixedFormat,
        init: int = 0, product_format: FixedFormat | None = None) -> int:
    """acc = init; for i: acc += a[i] * b[i] — product exact, each sum assigned to acc."""
    sum_signed = True
    cur = init
    for x, y in zip(a, b):
        p = value(x, fa) * value(y, fb)
        if product_format is not None:
            pr = p * Fraction(2) ** product_format.frac_bits
            assert pr.denominator == 1 or True
            praw = overflow_value(round_value(pr, product_format.rounding), product_format,
                                  fa.signed or fb.signed)
            p = value(praw, product_format)
            sum_signed = acc.signed or product_format.signed
        else:
            sum_signed = acc.signed or fa.signed or fb.signed
        s = value(cur, acc) + p
        cur = overflow_value(round_value(s * Fraction(2) ** acc.frac_bits, acc.rounding), acc,
                             sum_signed)
    return cur
