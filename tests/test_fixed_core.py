"""qhw.fixed against the exact scalar reference (tests/fixed_reference.py) on seeded random and
edge cases for every rounding x overflow mode; the g++/ap_types oracle is in test_fixed_ap_types."""
import itertools
import math

import numpy as np
import pytest

import qhw.fixed as qf
from qhw.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat

import fixed_reference as ref

MODES = list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES))


def _u(raw_arr, fmt):
    """Stored int64 codes as Python ints (unsigned 64-bit codes reinterpreted)."""
    vals = [int(v) for v in np.asarray(raw_arr).ravel()]
    if not fmt.signed and fmt.width == 64:
        vals = [v & ((1 << 64) - 1) for v in vals]
    return vals


def _random_format(rng, rounding, overflow, widths=(1, 2, 3, 5, 8, 13, 16, 24, 32, 53, 63, 64)):
    w = int(rng.choice(widths))
    i = int(rng.integers(-6, w + 8))
    return FixedFormat(w, i, bool(rng.integers(2)), rounding, overflow)


def _edge_values(fmt: FixedFormat, rng, n=60):
    lsb = fmt.lsb
    base = [fmt.min, fmt.max, fmt.min - lsb, fmt.max + lsb, 0.0, lsb / 2, -lsb / 2, 1.5 * lsb,
            -1.5 * lsb, 2.5 * lsb, -2.5 * lsb, fmt.max + lsb / 2, fmt.min - lsb / 2, -0.0,
            fmt.max * 4, fmt.min * 4 - 1, 1e30, -1e30, 5e-324, -5e-324]
    k = rng.integers(int(fmt.raw_min) // 2 - 3, int(fmt.raw_max) // 2 + 3, size=n // 2, dtype=np.int64) if fmt.width < 62 else rng.integers(-(1 << 40), 1 << 40, size=n // 2)
    ties = (k.astype(np.float64) + rng.choice([0.5, 0.25, 0.75, 0.5000001, 0.4999999], size=k.size)) * lsb
    spread = rng.standard_normal(n // 2) * 2.0 ** rng.integers(-8, 8, size=n // 2) * max(abs(fmt.max), lsb)
    return np.array([v for v in np.concatenate([base, ties, spread]) if math.isfinite(v)])


@pytest.mark.parametrize("rounding,overflow", MODES)
def test_quantize_matches_reference(rounding, overflow):
    rng = np.random.default_rng(hash((rounding, overflow)) % 2**32)
    for _ in range(12):
        fmt = _random_format(rng, rounding, overflow)
        x = _edge_values(fmt, rng)
        got = _u(fmt.quantize(x), fmt)
        want = [ref.quantize(float(v), fmt) & ((1 << 64) - 1) if (not fmt.signed and fmt.width == 64) else ref.quantize(float(v), fmt) for v in x]
        assert got == want, f"{fmt}: {[(v, g, e) for v, g, e in zip(x, got, want) if g != e][:5]}"


@pytest.mark.parametrize("rounding,overflow", MODES)
def test_cast_matches_reference(rounding, overflow):
    rng = np.random.default_rng(7 + hash((rounding, overflow)) % 2**32)
    for _ in range(12):
        dst = _random_format(rng, rounding, overflow)
        src = _random_format(rng, "TRN", "WRAP")
        lo, hi = src.raw_min, src.raw_max
        codes = sorted({lo, hi, 0, lo + 1, hi - 1, 1, -1 if src.signed else 2}
                       | {int(v) for v in rng.integers(max(lo, -(1 << 62)), min(hi, 1 << 62) + 1, size=80)})
        codes = [c for c in codes if lo <= c <= hi]
        stored = np.array([c if c < (1 << 63) else c - (1 << 64) for c in codes], np.int64)
        got = _u(dst.cast(stored, src), dst)
        want = [ref.cast(c, src, dst) & ((1 << 64) - 1) if (not dst.signed and dst.width == 64) else ref.cast(c, src, dst) for c in codes]
        assert got == want, f"{src} -> {dst}: {[(c, g, e) for c, g, e in zip(codes, got, want) if g != e][:5]}"


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_arithmetic_is_exact(op):
    rng = np.random.default_rng({"add": 1, "sub": 2, "mul": 3}[op])
    for _ in range(200):
        fa = _random_format(rng, "TRN", "WRAP", widths=(1, 3, 8, 16, 24, 31))
        fb = _random_format(rng, "TRN", "WRAP", widths=(1, 3, 8, 16, 24, 31))
        try:
            rfmt = {"add": qf.add_format, "sub": qf.sub_format, "mul": qf.mul_format}[op](fa, fb)
        except ValueError:
            continue
        a = rng.integers(fa.raw_min, fa.raw_max + 1, size=20)
        b = rng.integers(fb.raw_min, fb.raw_max + 1, size=20)
        raw, out = getattr(qf, op)(a, fa, b, fb)
        assert out == rfmt
        for x, y, r in zip(a, b, _u(raw, out)):
            va, vb = ref.value(int(x), fa), ref.value(int(y), fb)
            exact = va + vb if op == "add" else va - vb if op == "sub" else va * vb
            assert ref.to_raw(exact, out) == r, (fa, fb, x, y)


def test_result_types_follow_ap_fixed():
    s8 = FixedFormat(8, 3)
    u6 = FixedFormat(6, 2, signed=False)
    assert qf.add_format(s8, u6) == FixedFormat(9, 4)  # I = max(3, 2 + 1) + 1, F = max(5, 4)
    assert qf.sub_format(u6, u6) == FixedFormat(7, 3, True)
    assert qf.mul_format(s8, u6) == FixedFormat(14, 5, True)
    with pytest.raises(ValueError, match="64"):
        qf.mul_format(FixedFormat(40, 4), FixedFormat(40, 4))


@pytest.mark.parametrize("rounding,overflow", [("TRN", "WRAP"), ("RND", "SAT"), ("RND_CONV", "SAT"),
                                               ("TRN_ZERO", "WRAP"), ("RND_INF", "SAT_SYM"),
                                               ("RND_ZERO", "SAT_ZERO"), ("RND_MIN_INF", "WRAP")])
@pytest.mark.parametrize("product_cast", [False, True])
def test_dot_and_matmul_match_reference(rounding, overflow, product_cast):
    rng = np.random.default_rng(11)
    for trial in range(6):
        fa = FixedFormat(int(rng.integers(3, 12)), int(rng.integers(-2, 6)), True)
        fb = FixedFormat(int(rng.integers(3, 12)), int(rng.integers(-2, 6)), bool(trial % 2))
        acc = FixedFormat(int(rng.integers(6, 20)), int(rng.integers(0, 8)), True, rounding, overflow)
        pf = acc if product_cast else None
        k, n, m = int(rng.integers(1, 9)), 7, 5
        a = rng.integers(fa.raw_min, fa.raw_max + 1, size=(n, k))
        b = rng.integers(fb.raw_min, fb.raw_max + 1, size=(k, m))
        init = rng.integers(acc.raw_min, acc.raw_max + 1, size=m)
        got_mm = qf.matmul(a, fa, b, fb, acc, init=init, product_format=pf)
        got_dot = qf.dot(a[:, :, None], fa, b[None], fb, acc, axis=1, init=init, product_format=pf)
        for i in range(n):
            for j in range(m):
                want = ref.dot([int(v) for v in a[i]], fa, [int(v) for v in b[:, j]], fb, acc,
                               int(init[j]), pf)
                assert got_mm[i, j] == want, (fa, fb, acc, i, j)
                assert got_dot[i, j] == want


def test_matmul_fast_path_equals_sequential_on_large_data():
    rng = np.random.default_rng(5)
    f = FixedFormat(16, 6)
    x = f.quantize(rng.standard_normal((300, 64)))
    w = f.quantize(rng.standard_normal((64, 32)) * 0.3)
    for acc in [FixedFormat(40, 18), FixedFormat(16, 6), FixedFormat(20, 8, True, "RND", "SAT"),
                FixedFormat(24, 10, True, "RND_CONV", "SAT_SYM")]:
        got = qf.matmul(x, f, w, f, acc)
        seq = np.zeros((300, 32), np.int64)
        for k in range(64):
            p, pfmt = qf.mul(x[:, k, None], f, w[None, k, :], f)
            s, sf = qf.add(seq, acc, p, pfmt)
            seq = acc.cast(s, sf)
        np.testing.assert_array_equal(got, seq)


@pytest.mark.parametrize("rounding", ["TRN", "RND"])
def test_narrow_wrapping_accumulators_match_reference(rounding):
    """hls4ml-style narrow accumulators (int32 block path): per-product rounding, modulo 2**W."""
    rng = np.random.default_rng(23)
    for trial in range(12):
        fa = FixedFormat(int(rng.integers(4, 17)), int(rng.integers(-1, 7)), bool(trial % 3))
        fb = FixedFormat(int(rng.integers(4, 16)), int(rng.integers(-1, 4)), True)
        acc = FixedFormat(int(rng.integers(8, 33)), int(rng.integers(2, 10)), True, rounding, "WRAP")
        pf = [None, acc, FixedFormat(acc.width + 3, acc.integer_bits + 1, True, rounding, "WRAP"),
              FixedFormat(acc.width - 2, acc.integer_bits, True, "RND", "WRAP")][trial % 4]
        k, n, m = int(rng.integers(1, 40)), 9, 4
        a = rng.integers(fa.raw_min, fa.raw_max + 1, size=(n, k))
        b = rng.integers(fb.raw_min, fb.raw_max + 1, size=(k, m))
        init = rng.integers(acc.raw_min, acc.raw_max + 1, size=m)
        got = qf.matmul(a, fa, b, fb, acc, init=init, product_format=pf)
        for i in range(n):
            for j in range(m):
                want = ref.dot([int(v) for v in a[i]], fa, [int(v) for v in b[:, j]], fb, acc,
                               int(init[j]), pf)
                assert got[i, j] == want, (fa, fb, acc, pf, i, j)


def test_shifts_keep_the_type():
    f = FixedFormat(8, 3)
    raw = np.array([0b0101_0011, -100, -1, 127])
    assert list(qf.shift_left(raw, f, 2)) == [ref.overflow_value(int(r) * 4, FixedFormat(8, 3)) for r in raw]
    assert list(qf.shift_right(raw, f, 3)) == [int(r) >> 3 for r in raw]
    assert list(qf.shift_left(raw, f, 9)) == [0, 0, 0, 0]


def test_bad_inputs():
    f = FixedFormat(8, 3)
    with pytest.raises(ValueError, match="NaN"):
        f.quantize([1.0, float("nan")])
    with pytest.raises(ValueError, match="inf"):
        f.quantize([float("inf")])
    assert list(f.with_modes(overflow="SAT").quantize([np.inf, -np.inf])) == [127, -128]
    assert list(f.with_modes(overflow="SAT_SYM").quantize([np.inf, -np.inf])) == [127, -127]
    assert list(f.with_modes(overflow="SAT_ZERO").quantize([np.inf, -np.inf])) == [0, 0]


def test_literals():
    f = FixedFormat(8, 3)
    assert qf.verilog_literal(-128, f) == "8'sh80"
    assert qf.verilog_literal(-5, f) == "8'shfb"
    assert qf.verilog_literal(3, FixedFormat(4, 2, False)) == "4'h3"
    with pytest.raises(ValueError, match="outside"):
        qf.verilog_literal(128, f)
    assert float(qf.cpp_literal(-5, f)) == -5 / 32
