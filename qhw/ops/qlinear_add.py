"""qlinear_add: onnxruntime's QLinearAdd bit for bit, as integer arithmetic.

onnxruntime (x86-64 AVX2 and ARM kernels, and the QDQ Add it fuses into QLinearAdd) computes
``rint(fma(qa, ra, fma(qb, rb, F)))`` in float32, with ``ra = fl32(sa / sc)``, ``rb = fl32(sb /
sc)`` and ``F = fl32(zc - fl32(fl32(ra * za) + fl32(rb * zb)))``: two float32 roundings, where
one exact rounding of the sum differs by 1 LSB on up to ~1% of code pairs. This op reproduces both
exactly:

- ``B[qb] = fma(qb, rb, F)`` is one float32 per input code: a table (param ``table``, indexed by
  b's raw code from its format's minimum), each entry plus the constant ``za * ra``, in units of
  ``2**-frac``; entries rounded to odd at ``2**-frac`` (bits below 2**-(frac-1) folded into the
  last bit), which keeps every comparison below exact.
- ``qa * ra`` is exact: ``da * multiplier`` (``multiplier`` = ra * 2**frac, an integer).
- ``v = da * multiplier + table[db]`` is the exact float32 sum before its second rounding.
- ``rint(fl32(v))`` differs from rounding ``v`` to nearest only where ``fl32(v)`` lands on
  ``n0 + 0.5`` (``n0 = floor(v)``): within ``2**(E - 24)`` of it, ``E = floor(log2 |n0 + .5|)``
  (on the side of +-0.5 toward zero, the binade below: half that). There the result is the even
  one of ``n0, n0 + 1``; elsewhere ``v`` rounded to nearest.
- ``out = clamp(r - zero_point, lo, hi)``: the output's zero-point-free code.

The constants are built by :func:`onnxruntime_form` from the scales and zero points; the
derivation was checked against onnxruntime on every pair of 8-bit codes (tests/test_import_merge.py).

Inputs: two integer code tensors of one shape (zero-point-free codes d = q - z). Attributes:
multiplier, frac (>= 27: the fraction bits of v), zero_point (the output's), lo, hi (clamp of the
result codes). Hardware: a constant product, a table read, one adder, a window comparison
selected by the bit length of ``n0`` and a clamp.
"""
from __future__ import annotations

import numpy as np

from qhw import limits
from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.ops.base import OpDef
from qhw.ops.code_table import table_format
from qhw.ops.registry import register
from qhw.ops.traits import Trait

#: the fewest fraction bits of v: 2**-26 (half an ulp below 0.5) on the 2**-(frac-1) grid, plus the
#: round-to-odd bit
MIN_FRAC = 27
#: widest v (bits) the golden model and C++ compute in 64-bit integers
MAX_V_BITS = 62


def _fma(x, y, z) -> np.float32:
    """fl32(x * y + z) rounded once (a fused multiply-add)."""
    from fractions import Fraction

    return np.float32(_fl32_exact(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z))))


def _round_odd(value, frac: int) -> int:
    """A dyadic rational (Fraction) times 2**frac, rounded to odd: floor, with the last bit set
    when anything was dropped (so v <= t and v >= t stay exact for t on the 2**-(frac-1) grid)."""
    scaled = value * (1 << frac)
    n = scaled.numerator // scaled.denominator
    if n * scaled.denominator != scaled.numerator:
        n |= 1
    return int(n)


def onnxruntime_form(sa: float, sb: float, sc: float, za: int, zb: int, zc: int,
                     b_codes: np.ndarray) -> dict:
    """The op's attributes and table for onnxruntime's QLinearAdd of codes qa = da + za and
    qb = db + zb (``b_codes``: the zero-point-free codes db the table lists, in order)."""
    from fractions import Fraction

    f32 = np.float32
    ra, rb = f32(f32(sa) / f32(sc)), f32(f32(sb) / f32(sc))
    fixed = f32(f32(zc) - _fma(ra, za, f32(rb * f32(zb))))
    if not (np.isfinite(ra) and np.isfinite(rb) and np.isfinite(fixed)) or ra == 0:
        raise ModelError(f"QLinearAdd scales {sa}, {sb}, {sc}: the ratios are not finite and non-zero")
    _, e = np.frexp(float(abs(ra)))  # |ra| in [2**(e-1), 2**e): its last mantissa bit is 2**(e-24)
    frac = max(24 - int(e), MIN_FRAC - 1) + 1  # the grid 2**-(frac-1) holds qa * ra and 2**-26
    if frac > MAX_V_BITS - 10:
        raise ModelError(f"QLinearAdd scales {sa}, {sb}, {sc}: the ratio {float(ra)} needs {frac} fraction "
                         f"bits (at most {MAX_V_BITS - 10})")
    codes = np.asarray(b_codes, np.int64)
    # fma(qb, rb, F): the exact product plus F, rounded once to float32 (float64 holds qb * rb and
    # the sum exactly when |qb| < 2**16 and the exponents are close; Fraction makes it certain)
    ra_q, rb_q, f_q = Fraction(float(ra)), Fraction(float(rb)), Fraction(float(fixed))
    table = []
    for db in codes.tolist():
        exact = (db + zb) * rb_q + f_q
        b = Fraction(_fl32_exact(exact))
        table.append(_round_odd(b + za * ra_q, frac))
    multiplier = ra_q * (1 << frac)
    assert multiplier.denominator == 1
    if max(abs(t) for t in table) >= 2**53:
        raise ModelError(f"QLinearAdd scales {sa}, {sb}, {sc}: the exact form needs table entries "
                         "beyond 2**53")
    return {"multiplier": int(multiplier), "frac": int(frac), "zero_point": int(zc),
            "table": np.array(table, np.float64)}


def _fl32_exact(x) -> float:
    """A Fraction rounded to the nearest float32 (ties to even), through float64 only when that
    is exact: float32(float64(x)) can round twice, so the float64 step is checked."""
    d = float(x)
    from fractions import Fraction

    if Fraction(d) == x:
        return float(np.float32(d))
    # x is not a float64: round to float32 by hand (normal range; 8-bit codes never leave it)
    s = -1 if x < 0 else 1
    a = abs(x)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    if Fraction(2) ** (e + 1) <= a:
        e += 1
    q = a / Fraction(2) ** (e - 23)
    n = q.numerator // q.denominator
    r = q - n
    if r > Fraction(1, 2) or (r == Fraction(1, 2) and n % 2):
        n += 1
    return float(s * n * Fraction(2) ** (e - 23))


def round_float32_sum(v: np.ndarray, frac: int) -> np.ndarray:
    """rint(fl32(v)) of exact values ``v`` given in units of 2**-frac (int64), as integers."""
    v = np.asarray(v, np.int64)
    n0 = v >> frac
    f = v - (n0 << frac)
    m = np.where(n0 >= 0, n0, ~n0)
    length = np.zeros_like(m)
    rest = m.copy()
    while np.any(rest):
        length += rest > 0
        rest >>= 1
    w = np.left_shift(np.int64(1), frac - 25 + length)
    zero = length == 0
    w_low = np.where(zero & (n0 >= 0), w >> 1, w)   # +0.5: below it (toward zero) the binade is finer
    w_high = np.where(zero & (n0 < 0), w >> 1, w)   # -0.5: above it
    half = np.int64(1) << (frac - 1)
    up = (f > half + w_high) | ((f >= half - w_low) & ((n0 & 1) == 1))
    return n0 + up.astype(np.int64)


@register
class QLinearAdd(OpDef):
    """Two code tensors -> onnxruntime's QLinearAdd output codes (zero-point-free)."""

    traits = frozenset({Trait.ELEMENTWISE})
    name = "qlinear_add"
    arity = 2
    required = ("multiplier", "frac", "zero_point", "lo", "hi")
    params = ("table",)

    def check(self, node):
        super().check(node)
        a = node.attrs
        for k in self.required:
            if isinstance(a[k], bool) or not isinstance(a[k], (int, np.integer)):
                raise ModelError(f"qlinear_add {node.name!r}: attribute {k!r} must be an integer, got {a[k]!r}")
        if not MIN_FRAC <= int(a["frac"]) <= MAX_V_BITS - 10:
            raise ModelError(f"qlinear_add {node.name!r}: frac {a['frac']} must be in "
                             f"[{MIN_FRAC}, {MAX_V_BITS - 10}]")
        if int(a["lo"]) > int(a["hi"]):
            raise ModelError(f"qlinear_add {node.name!r}: lo {a['lo']} > hi {a['hi']}")
        t = np.asarray(node.params["table"], np.float64)
        if t.ndim != 1 or t.size < 1:
            raise ModelError(f"qlinear_add {node.name!r}: table must be 1-D, got shape {t.shape}")
        limits.check("table_entries", int(t.size), f"qlinear_add {node.name!r} table")
        if not np.all(np.isfinite(t)) or np.any(t != np.rint(t)) or np.any(np.abs(t) >= 2.0**53):
            raise ModelError(f"qlinear_add {node.name!r}: table entries must be integers below 2**53")

    def infer_shape(self, node, in_shapes):
        if in_shapes[0] != in_shapes[1]:
            raise ModelError(f"qlinear_add {node.name!r}: input shapes {in_shapes[0]} and "
                             f"{in_shapes[1]} differ")
        return in_shapes[0]

    def table(self, node) -> np.ndarray:
        """The b table as int64 (exact: its entries are integers below 2**53)."""
        return np.asarray(node.params["table"], np.float64).astype(np.int64)

    def v_width(self, node, fa: FixedFormat) -> int:
        """Bits of v = da * multiplier + table[db] (signed), the sum's exact width."""
        t = self.table(node)
        m = int(node.attrs["multiplier"])
        ends = [fa.raw_min * m, fa.raw_max * m]
        lo, hi = min(ends) + int(t.min()), max(ends) + int(t.max())
        return max((-lo - 1).bit_length(), hi.bit_length()) + 1

    def infer_formats(self, node, in_fmts, ctx):
        fa, fb = in_fmts
        n = int(np.asarray(node.params["table"]).shape[0])
        for name, f in (("first", fa), ("second", fb)):
            if f.frac_bits != 0 or f.width > 16:
                raise ModelError(f"qlinear_add {node.name!r}: its {name} input {f} must be integer codes "
                                 "of at most 16 bits")
        if (1 << fb.width) != n:
            raise ModelError(f"qlinear_add {node.name!r}: its second input {fb} needs 2**width = {n} "
                             "table entries")
        if self.v_width(node, fa) > MAX_V_BITS:
            raise ModelError(f"qlinear_add {node.name!r}: the sum needs {self.v_width(node, fa)} bits "
                             f"(at most {MAX_V_BITS})")
        lo, hi = int(node.attrs["lo"]), int(node.attrs["hi"])
        node.formats["result"] = ctx.choose(node, "result", table_format(np.array([lo, hi])))

    def sums(self, node, a: np.ndarray, b: np.ndarray, fb: FixedFormat) -> np.ndarray:
        """v in units of 2**-frac (int64)."""
        t = self.table(node)
        idx = np.clip(np.asarray(b, np.int64) - fb.raw_min, 0, t.size - 1)
        return np.asarray(a, np.int64) * np.int64(int(node.attrs["multiplier"])) + t[idx]

    def golden(self, node, inputs, in_fmts, ctx):
        v = self.sums(node, inputs[0], inputs[1], in_fmts[1])
        r = round_float32_sum(v, int(node.attrs["frac"])) - int(node.attrs["zero_point"])
        out = np.clip(r, int(node.attrs["lo"]), int(node.attrs["hi"]))
        lo, hi = int(node.attrs["lo"]), int(node.attrs["hi"])
        return ctx.assign(node.name, node.formats["result"], out, table_format(np.array([lo, hi])))

    def float_eval(self, node, inputs):
        raise ModelError(f"qlinear_add {node.name!r} reproduces onnxruntime's float32 rounding of codes "
                         "and has no float model; run the fixed-point (golden) model")


__all__ = ["QLinearAdd", "onnxruntime_form", "round_float32_sum", "MIN_FRAC"]
