"""Full-precision fixed-point arithmetic with ap_fixed's result-type rules, on raw codes.

``a + b``, ``a - b`` and ``a * b`` of ap_fixed values are exact: the result type is wide enough.
Results wider than 64 bits are refused (qhw keeps raw codes in 64-bit words).
"""
from __future__ import annotations

import numpy as np

from qhw.fixed.convert import as_raw, to_stored
from qhw.fixed.format import MAX_WIDTH, FixedFormat


def _checked(width: int, integer_bits: int, signed: bool, what: str, fa, fb) -> FixedFormat:
    if width > MAX_WIDTH:
        raise ValueError(
            f"{what} of {fa} and {fb} needs {width} bits, more than the {MAX_WIDTH} qhw supports"
        )
    return FixedFormat(width, integer_bits, signed)


def _plus_integer_bits(fa: FixedFormat, fb: FixedFormat) -> int:
    # A signed result needs one more integer bit to hold an unsigned operand's range.
    ia = fa.integer_bits + (fb.signed and not fa.signed)
    ib = fb.integer_bits + (fa.signed and not fb.signed)
    return max(ia, ib) + 1


def add_format(fa: FixedFormat, fb: FixedFormat) -> FixedFormat:
    """Result type of ``a + b`` (ap_fixed ``RType::plus``)."""
    i = _plus_integer_bits(fa, fb)
    return _checked(i + max(fa.frac_bits, fb.frac_bits), i, fa.signed or fb.signed, "a sum", fa, fb)


def sub_format(fa: FixedFormat, fb: FixedFormat) -> FixedFormat:
    """Result type of ``a - b`` (ap_fixed ``RType::minus``): always signed."""
    i = _plus_integer_bits(fa, fb)
    return _checked(i + max(fa.frac_bits, fb.frac_bits), i, True, "a difference", fa, fb)


def mul_format(fa: FixedFormat, fb: FixedFormat) -> FixedFormat:
    """Result type of ``a * b`` (ap_fixed ``RType::mult``)."""
    return _checked(
        fa.width + fb.width, fa.integer_bits + fb.integer_bits, fa.signed or fb.signed,
        "a product", fa, fb,
    )


def _aligned_u64(raw, fmt: FixedFormat, frac_bits: int) -> np.ndarray:
    """Raw codes moved onto a grid with more fraction bits, as uint64 words (mod 2**64)."""
    u = as_raw(raw, fmt)
    u = u.view(np.uint64) if u.dtype == np.int64 else u
    return u << np.uint64(frac_bits - fmt.frac_bits)


def add(ra, fa: FixedFormat, rb, fb: FixedFormat) -> tuple[np.ndarray, FixedFormat]:
    """Exact ``a + b`` → (raw codes, result format)."""
    out = add_format(fa, fb)
    # Modulo-2**64 arithmetic is exact here: the true result fits the result width (<= 64 bits).
    s = _aligned_u64(ra, fa, out.frac_bits) + _aligned_u64(rb, fb, out.frac_bits)
    return to_stored(s), out


def sub(ra, fa: FixedFormat, rb, fb: FixedFormat) -> tuple[np.ndarray, FixedFormat]:
    """Exact ``a - b`` → (raw codes, result format)."""
    out = sub_format(fa, fb)
    s = _aligned_u64(ra, fa, out.frac_bits) - _aligned_u64(rb, fb, out.frac_bits)
    return to_stored(s), out


def mul(ra, fa: FixedFormat, rb, fb: FixedFormat) -> tuple[np.ndarray, FixedFormat]:
    """Exact ``a * b`` → (raw codes, result format)."""
    out = mul_format(fa, fb)
    a = as_raw(ra, fa)
    b = as_raw(rb, fb)
    p = (a.view(np.uint64) if a.dtype == np.int64 else a) * (
        b.view(np.uint64) if b.dtype == np.int64 else b
    )
    return to_stored(p), out


def shift_left(raw, fmt: FixedFormat, n: int) -> np.ndarray:
    """ap_fixed ``a << n``: the type is kept, bits shifted out are lost (no saturation)."""
    if n < 0:
        return shift_right(raw, fmt, -n)
    u = as_raw(raw, fmt)
    u = u.view(np.uint64) if u.dtype == np.int64 else u
    low = u << np.uint64(n) if n < 64 else np.zeros(u.shape, np.uint64)
    from qhw.fixed.convert import _wrap_low_bits

    return _wrap_low_bits(low, fmt)


def shift_right(raw, fmt: FixedFormat, n: int) -> np.ndarray:
    """ap_fixed ``a >> n``: the type is kept, arithmetic shift (floor), no rounding mode applied."""
    if n < 0:
        return shift_left(raw, fmt, -n)
    v = as_raw(raw, fmt)
    n = min(n, 63)
    return to_stored(v >> v.dtype.type(n))
