"""Inputs placed where rounding is hardest: the doubles next to every rounding boundary.

A double x quantized to a format with F fraction bits is rounded at y = x * 2**F. The result
changes at the integers (TRN, TRN_ZERO) and at the half-integers (the round-to-nearest modes), so
the doubles that tell a right rounding from a wrong one are the boundary itself (when it is a
double) and its neighbours one and two ulps away on either side. Boundaries are taken next to
random codes, next to the range limits (where the overflow mode takes over) and around 2**52,
2**53, 2**63 and 2**64 LSBs (where doubles stop having a fraction, and where 64-bit codes end).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from qhw.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat

MODES = list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES))
#: powers of two (in LSBs) around which doubles lose their fraction bits or codes end
BIG_POWERS = (52, 53, 63, 64)
#: every special double: signed zeros, subnormals, the normal limits
SPECIALS = (0.0, -0.0, 5e-324, -5e-324, 2.2250738585072009e-308, -2.2250738585072009e-308,
            2.2250738585072014e-308, -2.2250738585072014e-308, 1.7976931348623157e308,
            -1.7976931348623157e308)


def anchor_codes(fmt: FixedFormat) -> list[int]:
    """Codes (in LSBs, Python ints, possibly outside the range) whose boundaries are hardest."""
    lo, hi = fmt.raw_min, fmt.raw_max
    out = {0, 1, -1, 2, -2}
    for edge in (lo, hi, -hi):  # -hi: the SAT_SYM limit
        out.update(edge + d for d in range(-2, 3))
    for p in BIG_POWERS:
        out.update(s * ((1 << p) + d) for s in (1, -1) for d in range(-2, 3))
    return sorted(out)


def random_codes(fmt: FixedFormat, rng: np.random.Generator, n: int) -> list[int]:
    """n codes: half uniform over the range, half log-uniform in magnitude (short codes too)."""
    lo, hi = fmt.raw_min, fmt.raw_max
    uni = rng.integers(0, hi - lo, size=n // 2, dtype=np.uint64, endpoint=True)
    bits = rng.integers(0, fmt.width + 1, size=n - n // 2)
    mags = [int(rng.integers(0, (1 << int(b)) - 1, dtype=np.uint64, endpoint=True)) for b in bits]
    signs = rng.integers(0, 2, size=len(mags)) if fmt.signed else np.zeros(len(mags), int)
    return [lo + int(u) for u in uni] + [-m if s else m for m, s in zip(mags, signs)]


def neighbours(x: float, steps: int = 2) -> list[float]:
    """x and the doubles up to ``steps`` ulps below and above it."""
    out, down, up = [x], x, x
    for _ in range(steps):
        down, up = math.nextafter(down, -math.inf), math.nextafter(up, math.inf)
        out += [down, up]
    return out


def boundary_doubles(k: int, frac_bits: int, steps: int = 2) -> list[float]:
    """The doubles at and next to the boundaries k and k + 1/2 (in LSBs of 2**-frac_bits).

    A boundary that is not a double (|k| >= 2**53) is replaced by the nearest double; its
    neighbours then straddle it.
    """
    at_int = math.ldexp(float(k), -frac_bits)  # float(int) rounds to nearest: exact or closest
    at_half = math.ldexp(float(2 * k + 1), -frac_bits - 1)
    return neighbours(at_int, steps) + neighbours(at_half, steps)


def quantize_inputs(fmt: FixedFormat, rng: np.random.Generator, n_random: int = 60) -> np.ndarray:
    """Unique doubles next to the boundaries of ``fmt`` (+-inf too unless it wraps)."""
    xs: list[float] = list(SPECIALS)
    for k in anchor_codes(fmt) + random_codes(fmt, rng, n_random):
        xs += boundary_doubles(k, fmt.frac_bits)
    x = np.array(xs, np.float64)
    x = x[np.isfinite(x)]
    if fmt.overflow != "WRAP":
        x = np.concatenate([x, [np.inf, -np.inf]])
    # Unique by bit pattern (keeps +0.0 and -0.0 apart).
    return np.unique(x.view(np.uint64)).view(np.float64)


def formats(rng: np.random.Generator, per_mode: int) -> list[FixedFormat]:
    """``per_mode`` shapes for every rounding x overflow mode: every width 1..64 used, integer
    bits from -W to 2W (both ends included often), signed and unsigned."""
    n = len(MODES) * per_mode
    widths = np.concatenate([rng.permutation(np.arange(1, 65)) for _ in range(n // 64 + 1)])[:n]
    out = []
    for j, w in enumerate(widths):
        w = int(w)
        pick = rng.integers(0, 5)
        i = -w if pick == 0 else 2 * w if pick == 1 else int(rng.integers(-w, 2 * w + 1))
        rounding, overflow = MODES[j % len(MODES)]
        out.append(FixedFormat(w, i, bool(rng.integers(0, 2)), rounding, overflow))
    return out


def tie_codes(src: FixedFormat, dst: FixedFormat, rng: np.random.Generator,
              n_random: int = 40) -> np.ndarray:
    """Raw codes of ``src`` whose bits below ``dst``'s LSB are a tie, or one code from one
    (100..0, 100..0 +- 1, 0..0, 0..01, 1..1), above random and range-limit codes of ``dst``.

    src must have more fraction bits than dst. Codes outside src's range are dropped.
    """
    k = src.frac_bits - dst.frac_bits
    assert k >= 1
    half, full = 1 << (k - 1), 1 << k
    low = sorted({0, 1, half - 1, half, half + 1, full - 1})
    # q: codes of dst (the part above the dropped bits), also random ones over src's own range
    above = FixedFormat(max(1, src.width - k), max(1, src.width - k), src.signed)
    qs = anchor_codes(dst) + random_codes(dst, rng, n_random) + random_codes(above, rng, n_random)
    codes = {(q << k) + r for q in qs for r in low}
    lo, hi = src.raw_min, src.raw_max
    keep = sorted(c for c in codes if lo <= c <= hi)
    return np.array([c if c <= (1 << 63) - 1 else c - (1 << 64) for c in keep], np.int64)
