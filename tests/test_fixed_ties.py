"""Rounding next to ties (issue 15.1): the doubles and codes where float shortcuts go wrong.

Oracles: the real ap_types headers compiled with g++ (quantize, fixed->fixed cast, and the
integer requantizer as an ap_fixed cast), the exact rational reference tests/fixed_reference.py
(itself checked against ap_types here), Python's ``fractions`` for qhw.quant's rounding, and
PyTorch for qhw.quant's float32 quantizers.
"""
import math
import shutil
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fixed_reference as ref
import qhw.quant as q
import report
from oracle import adversarial, ap_oracle
from qhw.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat
from qhw.quant.affine import round_values
from qhw.quant.requant import Requantizer

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")

SEED = 20261128  # fixed: the oracle program (one instantiation per format) is then cached
QUANTIZE_SHAPES_PER_MODE = 7
CAST_PAIRS_PER_MODE = 2
#: qhw.quant rounding names -> the ap_fixed mode that rounds the same way ("ceil" has none:
#: it is checked as -floor(-v))
AP_OF_QUANT = {"half_even": "RND_CONV", "half_up": "RND", "half_down": "RND_MIN_INF",
               "half_away": "RND_INF", "floor": "TRN", "trunc": "TRN_ZERO", "ceil": "TRN"}
REQUANT_SHIFTS = (1, 2, 9, 23, 31)
FLAGS = ("-O1", "-std=c++14", "-w")  # -O1: compiles faster than -O2, runs fast enough


def _mask(words: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    """ap_types' bits_to_uint64 sign-extends signed values; compare the low W bits only."""
    words = np.asarray(words).astype(np.int64).view(np.uint64)
    return words if fmt.width == 64 else words & np.uint64((1 << fmt.width) - 1)


# ------------------------------------------------------------------ the documented example
@pytest.mark.parametrize("mode", ["RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV"])
def test_largest_double_below_a_half_lsb_rounds_to_zero(mode):
    # issue 15: ap_fixed<4,-2,AP_RND> of 0.0078125 - 2**-60 is code 0 in ap_types (floor(y + 0.5)
    # in float64 gave 1, because 0.49999999999999994 + 0.5 == 1.0)
    x = 0.0078125 - 2.0**-60
    for overflow in OVERFLOW_MODES:
        fmt = FixedFormat(4, -2, True, mode, overflow)
        assert fmt.quantize([x, -x]).tolist() == [0, 0]


# ------------------------------------------------------------------ the ap_types oracle
def _quantize_cases(rng) -> list[ap_oracle.Case]:
    cases = []
    for fmt in adversarial.formats(rng, QUANTIZE_SHAPES_PER_MODE):
        x = adversarial.quantize_inputs(fmt, rng, n_random=130)
        c = ap_oracle.Case("quantize", (fmt,), x.size, x.view(np.uint64))
        c.x = x
        c.expected = _mask(fmt.quantize(x), fmt)
        cases.append(c)
    return cases


def _cast_pair(rng, rounding, overflow):
    while True:
        sw = int(rng.integers(2, 65))
        src = FixedFormat(sw, int(rng.integers(-sw, 2 * sw + 1)), bool(rng.integers(2)))
        dw = int(rng.integers(1, 65))
        dst = FixedFormat(dw, int(rng.integers(-dw, 2 * dw + 1)), bool(rng.integers(2)), rounding, overflow)
        # ap_types asserts when a cast drops more bits than the source has (test_fixed_ap_types)
        if 1 <= src.frac_bits - dst.frac_bits <= src.width:
            return src, dst


def _cast_cases(rng) -> list[ap_oracle.Case]:
    cases = []
    for rounding, overflow in adversarial.MODES:
        for _ in range(CAST_PAIRS_PER_MODE):
            src, dst = _cast_pair(rng, rounding, overflow)
            raw = adversarial.tie_codes(src, dst, rng)
            c = ap_oracle.Case("cast", (src, dst), raw.size, raw.view(np.uint64))
            c.raw = raw
            c.expected = _mask(dst.cast(raw, src), dst)
            cases.append(c)
    return cases


def _requant_cases(rng) -> list[ap_oracle.Case]:
    """Requantizer.apply's rounded shift, at ties of acc * M, as an ap_fixed cast of the product
    (F = n) to an integer with the matching rounding mode; zero point and clamp added after."""
    cases = []
    for n in REQUANT_SHIFTS:
        for rounding, mode in AP_OF_QUANT.items():
            half, full = 1 << (n - 1), 1 << n
            src = FixedFormat(64, 64 - n, True)
            dst = FixedFormat(64, 64, True, mode, "WRAP")
            mults = [1, 3, int(rng.integers(0, 1 << 30)) * 2 + 1, int(rng.integers(1, 1 << 31))]
            accs, ms = [], []
            for m in mults:
                odd, twos = m, 0
                while odd % 2 == 0:
                    odd, twos = odd // 2, twos + 1
                inv = pow(odd, -1, full)
                for low in sorted({0, 1, half - 1, half, half + 1, full - 1}):
                    if low % (1 << min(twos, n)):
                        continue  # acc * m is a multiple of 2**twos: this remainder cannot occur
                    base = ((low >> min(twos, n)) * inv) % full
                    for j in rng.integers(-(1 << 30) // full, (1 << 30) // full + 1, size=12):
                        accs.append(base + int(j) * full)
                        ms.append(m)
            acc, m = np.array(accs, np.int64), np.array(ms, np.int64)
            prod = acc * m  # |prod| < 2**62
            words = (-prod if rounding == "ceil" else prod).view(np.uint64)
            c = ap_oracle.Case("cast", (src, dst), acc.size, words)
            c.requant = (rounding, acc, m, n)
            cases.append(c)
    return cases


def _check_quantize(cases) -> tuple[int, list[str]]:
    total, failures = 0, []
    for case in cases:
        fmt = case.formats[0]
        got = _mask(case.result[:, 0], fmt)
        bad = np.flatnonzero(got != case.expected)
        total += case.n
        if bad.size:
            j = bad[0]
            failures.append(f"quantize {fmt}: {bad.size}/{case.n} mismatches, first x={case.x[j]!r}: "
                            f"ap_types {int(got[j]):#x} qhw {int(case.expected[j]):#x}")
    return total, failures


def _check_reference(cases) -> tuple[int, list[str]]:
    """tests/fixed_reference.py (trusted by the hypothesis tests below) against ap_types."""
    total, failures = 0, []
    for case in cases[::3]:
        fmt = case.formats[0]
        for j in range(0, case.n, 7):
            want = int(_mask(case.result[j, 0], fmt))
            got = ref.quantize(float(case.x[j]), fmt) % (1 << fmt.width)
            total += 1
            if got != want:
                failures.append(f"fixed_reference {fmt} x={case.x[j]!r}: {got:#x}, ap_types {want:#x}")
    return total, failures


def _check_cast(cases) -> tuple[int, list[str]]:
    total, failures = 0, []
    for case in cases:
        src, dst = case.formats
        got = _mask(case.result[:, 0], dst)
        bad = np.flatnonzero(got != case.expected)
        total += case.n
        if bad.size:
            j = bad[0]
            failures.append(f"cast {src} -> {dst}: {bad.size}/{case.n} mismatches, first raw "
                            f"{int(case.raw[j]):#x}: ap_types {int(got[j]):#x} "
                            f"qhw {int(case.expected[j]):#x}")
    return total, failures


def _check_requant(cases) -> tuple[int, list[str]]:
    total, failures = 0, []
    z, qmin, qmax = 3, -(1 << 40), 1 << 40  # a wide clamp keeps the rounding visible
    for case in cases:
        rounding, acc, m, n = case.requant
        rounded = case.result[:, 0].view(np.int64)
        want = np.clip((-rounded if rounding == "ceil" else rounded) + z, qmin, qmax)
        for mult in np.unique(m):
            sel = m == mult
            got = Requantizer(np.array([mult]), np.array([n]), z, qmin, qmax, rounding).apply(acc[sel])
            bad = np.flatnonzero(got != want[sel])
            total += int(sel.sum())
            if bad.size:
                j = bad[0]
                failures.append(f"requantize {rounding} M={int(mult)} n={n}: {bad.size} mismatches, "
                                f"first acc={int(acc[sel][j])}: qhw {int(got[j])} ap_types {int(want[sel][j])}")
    return total, failures


@needs_gxx
def test_next_to_ties_equals_ap_types(request):
    # One test, so that pytest-xdist builds and runs the oracle program once.
    rng = np.random.default_rng(SEED)
    cases = {"quantize": _quantize_cases(rng), "cast": _cast_cases(rng), "requant": _requant_cases(rng)}
    ap_oracle.run([c for group in cases.values() for c in group], flags=FLAGS, name="ap_ties")
    n_q, fail_q = _check_quantize(cases["quantize"])
    n_ref, fail_ref = _check_reference(cases["quantize"])
    n_c, fail_c = _check_cast(cases["cast"])
    n_r, fail_r = _check_requant(cases["requant"])
    report.add(f"ap_types oracle next to ties: quantize {n_q} doubles in {len(cases['quantize'])} "
               f"formats, cast {n_c} codes in {len(cases['cast'])} pairs, requantize {n_r}; "
               f"fixed_reference on {n_ref}; {len(fail_q + fail_c + fail_r + fail_ref)} mismatching groups",
               request)
    assert n_q >= 200_000 and n_c >= 10_000 and n_r >= 5_000 and n_ref >= 8_000
    failures = fail_q + fail_c + fail_r + fail_ref
    assert not failures, "\n".join(failures[:20])


# ------------------------------------------------------------------ hypothesis, exact reference
formats = st.integers(1, 64).flatmap(lambda w: st.builds(
    FixedFormat, st.just(w), st.integers(-w, 2 * w), st.booleans(),
    st.sampled_from(ROUNDING_MODES), st.sampled_from(OVERFLOW_MODES)))


def _step(x: float, steps: int) -> float:
    for _ in range(abs(steps)):
        x = math.nextafter(x, math.inf if steps > 0 else -math.inf)
    return x


@st.composite
def near_boundaries(draw, fmt: FixedFormat, n: int = 25) -> list[float]:
    """Doubles at most 2 ulps from a boundary k or k + 1/2 (LSBs), k biased like the oracle's."""
    anchors = adversarial.anchor_codes(fmt)
    code = st.one_of(st.integers(-2, 2), st.sampled_from(anchors),
                     st.integers(fmt.raw_min - 2, fmt.raw_max + 2), st.integers(-(1 << 12), 1 << 12))
    xs = []
    for _ in range(n):
        if draw(st.integers(0, 9)) == 0:
            xs.append(draw(st.sampled_from(adversarial.SPECIALS)))
            continue
        k, half, steps = draw(code), draw(st.booleans()), draw(st.integers(-2, 2))
        xs.append(_step(math.ldexp(float(2 * k + half), -fmt.frac_bits - 1), steps))
    return xs


def _as_code(v: int, fmt: FixedFormat) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v  # unsigned 64-bit codes are stored as int64


@settings(max_examples=400, deadline=None)
@given(data=st.data(), fmt=formats)
def test_quantize_near_boundaries_equals_exact_reference(data, fmt):
    xs = data.draw(near_boundaries(fmt))
    got = fmt.quantize(np.array(xs))
    want = [_as_code(ref.quantize(x, fmt), fmt) for x in xs]
    assert got.tolist() == want, [(x, g, w) for x, g, w in zip(xs, got.tolist(), want) if g != w][:5]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), src=formats, dst=formats)
def test_cast_at_ties_equals_exact_reference(data, src, dst):
    # Includes casts dropping more bits than the source has, which ap_types cannot check.
    k = src.frac_bits - dst.frac_bits
    assume(k >= 1)
    half, full = 1 << (k - 1), 1 << k
    ties = st.sampled_from([0, 1, half - 1, half, half + 1, full - 1])
    low = data.draw(st.lists(ties, min_size=1, max_size=20))
    above = (st.integers(dst.raw_min - 2, dst.raw_max + 2) | st.sampled_from(adversarial.anchor_codes(dst))
             | st.integers(src.raw_min >> k, src.raw_max >> k))
    codes = [(data.draw(above) << k) + r for r in low]
    codes = [c for c in codes if src.raw_min <= c <= src.raw_max] or [0]
    raw = np.array([_as_code(c, src) for c in codes], np.int64)
    want = [_as_code(ref.cast(c, src, dst), dst) for c in codes]
    assert dst.cast(raw, src).tolist() == want


def _exact_round(v: Fraction, rounding: str) -> int:
    """qhw.quant rounding names, from their definitions."""
    fl = math.floor(v)
    frac = v - fl
    if frac == 0 or rounding == "floor":
        return fl
    if rounding == "ceil":
        return fl + 1
    if rounding == "trunc":
        return fl + (v < 0)
    if frac != Fraction(1, 2):
        return fl + (frac > Fraction(1, 2))
    return {"half_up": fl + 1, "half_down": fl, "half_away": fl + (v > 0),
            "half_even": fl + fl % 2}[rounding]


@settings(max_examples=300, deadline=None)
@given(dtype=st.sampled_from([np.float32, np.float64]), rounding=st.sampled_from(q.ROUNDINGS),
       data=st.data())
def test_quant_rounding_near_ties_equals_exact(dtype, rounding, data):
    mant = 24 if dtype == np.float32 else 53
    k = st.one_of(st.integers(-4, 4), st.integers(-(1 << (mant + 1)), 1 << (mant + 1)),
                  st.sampled_from([s * ((1 << p) + d) for s in (1, -1) for p in (mant - 2, mant - 1, mant)
                                   for d in (-1, 0, 1)]))
    ys = []
    for _ in range(20):
        y = dtype(data.draw(k)) + dtype(0.5)  # the tie, or the nearest float to it
        for _ in range(abs(steps := data.draw(st.integers(-3, 3)))):
            y = np.nextafter(y, dtype(np.inf if steps > 0 else -np.inf))
        ys.append(y)
    y = np.array(ys, dtype)
    got = round_values(y, rounding)
    assert got.dtype == dtype
    want = [_exact_round(Fraction(float(v)), rounding) for v in y]
    assert [int(g) for g in got] == want


# ------------------------------------------------------------------ PyTorch, float32 near ties
def test_float32_quantizers_next_to_ties_equal_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    total = 0
    for _ in range(40):
        scale = float(np.float32(10.0 ** rng.uniform(-4, 1)))
        zp = int(rng.integers(0, 256))
        inv = np.float64(np.float32(1.0) / np.float32(scale))
        k = rng.integers(-20, 280, 1500)
        x0 = ((k + 0.5 - zp) / inv).astype(np.float32)  # x * (1/s) + z next to k + 1/2
        xs, up, down = [x0], x0, x0
        for _ in range(3):
            up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(-np.inf))
            xs += [up, down]
        x = np.concatenate(xs).astype(np.float32)
        t = torch.from_numpy(x)
        want = torch.quantize_per_tensor(t, scale, zp, torch.quint8).int_repr().numpy()
        np.testing.assert_array_equal(q.quantize(x, scale, zp, 0, 255), want)
        want_fq = torch.fake_quantize_per_tensor_affine(t, scale, zp, 0, 255).numpy()
        np.testing.assert_array_equal(q.fake_quantize(x, scale, zp, 0, 255), want_fq)
        total += x.size
    assert total >= 400_000


def test_lsq_forward_next_to_ties_equals_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    for dtype in (np.float64, np.float32):
        for _ in range(20):
            qn, qp = (128, 127) if rng.integers(2) else (0, 15)
            s = dtype(10.0 ** rng.uniform(-3, 0))
            x0 = ((rng.integers(-qn - 2, qp + 2, 2000) + 0.5) * s).astype(dtype)
            x = np.concatenate([x0, np.nextafter(x0, dtype(np.inf)), np.nextafter(x0, dtype(-np.inf))])
            # LSQ's forward as written in torch (the papers' reference): round(clamp(x / s)) * s
            want = (torch.clamp(torch.from_numpy(x) / torch.tensor(s), -qn, qp).round() * torch.tensor(s)).numpy()
            np.testing.assert_array_equal(q.lsq_forward(x, s, qn, qp), want)
