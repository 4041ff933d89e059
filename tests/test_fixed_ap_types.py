"""qhw.fixed against the real ap_types headers compiled with g++ (the independent oracle).

Every rounding x overflow combination; formats with width 1 and 64, integer_bits <= 0 and > width,
unsigned; inputs with exact ties, +-max, one LSB beyond the range, huge values, signed zeros.

Not asked of the oracle: casts that drop more bits than the source is wide (ap_types' own
quantization code asserts "Attempting to read bit beyond MSB" there); test_fixed_core checks them
against the exact rational reference instead.
"""
import itertools
import shutil

import numpy as np
import pytest

import qhw.fixed as qf
from qhw.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat

import report
from oracle import ap_oracle

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")

MODES = list(itertools.product(ROUNDING_MODES, OVERFLOW_MODES))
SHAPES = [(1, 1, True), (1, 0, False), (2, 2, True), (8, 3, True), (8, -2, True), (8, 11, False),
          (13, 0, False), (16, 6, True), (24, 30, True), (53, 10, True), (63, 40, False),
          (64, 20, True), (64, 64, False), (5, 9, True)]


def _bits(raw: np.ndarray) -> np.ndarray:
    return np.asarray(raw, np.int64).view(np.uint64)


def _mask(words: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    """ap_types' bits_to_uint64 sign-extends signed values; compare the low W bits only."""
    if fmt.width == 64:
        return words
    return words & np.uint64((1 << fmt.width) - 1)


def _quantize_inputs(fmt: FixedFormat, rng) -> np.ndarray:
    lsb = fmt.lsb
    edges = [fmt.min, fmt.max, fmt.min - lsb, fmt.max + lsb, 0.0, -0.0, lsb / 2, -lsb / 2,
             1.5 * lsb, -1.5 * lsb, 2.5 * lsb, -2.5 * lsb, fmt.max + lsb / 2, fmt.min - lsb / 2,
             fmt.max * 3 + lsb, fmt.min * 5, 1e30, -1e30, 5e-324, -5e-324, 2.0**80, -(2.0**80) + 2**28]
    span = max(min(fmt.raw_max, 1 << 50), 4)
    k = rng.integers(-span - 3, span + 3, size=900).astype(np.float64)
    frac = rng.choice([0.0, 0.5, 0.25, 0.75, 0.5 + 2**-20, 0.5 - 2**-20, 0.999], size=k.size)
    ties = (k + frac) * lsb
    wide = rng.standard_normal(300) * 2.0 ** rng.integers(-10, 12, size=300) * max(fmt.max, lsb)
    x = np.concatenate([edges, ties, wide])
    x = x[np.isfinite(x)]
    if fmt.overflow != "WRAP":
        x = np.concatenate([x, [np.inf, -np.inf]])
    return x


def _codes(fmt: FixedFormat, rng, n: int) -> np.ndarray:
    lo, hi = fmt.raw_min, fmt.raw_max
    edge = [lo, hi, 0, min(lo + 1, hi), max(hi - 1, lo)]
    if fmt.width == 64 and not fmt.signed:
        rand = rng.integers(-(1 << 63), (1 << 63) - 1, size=n, dtype=np.int64)
    else:
        rand = rng.integers(lo, hi, size=n, endpoint=True, dtype=np.int64)
    return np.concatenate([np.array(edge, dtype=object).astype(np.int64) if fmt.width < 64 or fmt.signed
                           else np.array([0, -1, 1, -(1 << 63), (1 << 63) - 1], np.int64), rand])


def _build_cases(rng):
    cases = []
    for rounding, overflow in MODES:
        for w, i, s in SHAPES:
            fmt = FixedFormat(w, i, s, rounding, overflow)
            x = _quantize_inputs(fmt, rng)
            c = ap_oracle.Case("quantize", (fmt,), x.size, x.astype(np.float64).view(np.uint64))
            c.expected = _mask(_bits(fmt.quantize(x)), fmt)
            cases.append(c)
        pairs = 0
        while pairs < 4:
            sw, si, ss = SHAPES[rng.integers(len(SHAPES))]
            dw, di, ds = SHAPES[rng.integers(len(SHAPES))]
            src = FixedFormat(sw, si, ss)
            dst = FixedFormat(dw, di, ds, rounding, overflow)
            if src.frac_bits - dst.frac_bits > src.width:
                continue  # ap_types asserts (reads its half bit beyond the MSB); see module doc
            pairs += 1
            raw = _codes(src, rng, 400)
            c = ap_oracle.Case("cast", (src, dst), raw.size, _bits(raw))
            c.expected = _mask(_bits(dst.cast(raw, src)), dst)
            cases.append(c)
        for product_cast in (False, True):
            fa = FixedFormat(int(rng.integers(2, 13)), int(rng.integers(-2, 7)), True)
            fb = FixedFormat(int(rng.integers(2, 13)), int(rng.integers(-2, 7)), bool(rng.integers(2)))
            acc = FixedFormat(int(rng.integers(4, 20)), int(rng.integers(-1, 9)), True, rounding, overflow)
            k, n = int(rng.integers(1, 12)), 150
            a = np.stack([_codes(fa, rng, k)[-k:] for _ in range(n)])
            b = np.stack([_codes(fb, rng, k)[-k:] for _ in range(n)])
            init = rng.integers(acc.raw_min, acc.raw_max, endpoint=True, size=n)
            words = np.concatenate([_bits(init)[:, None], _bits(a), _bits(b)], axis=1).ravel()
            c = ap_oracle.Case("dot", (fa, fb, acc), n, words, k=k, product_cast=product_cast)
            c.expected = _mask(_bits(qf.dot(a, fa, b, fb, acc, init=init,
                                            product_format=acc if product_cast else None)), acc)
            cases.append(c)
    for op in ("add", "sub", "mul"):
        for _ in range(12):
            fa = FixedFormat(*SHAPES[rng.integers(len(SHAPES))])
            fb = FixedFormat(*SHAPES[rng.integers(len(SHAPES))])
            try:
                raw, out = getattr(qf, op)(np.zeros(1, np.int64), fa, np.zeros(1, np.int64), fb)
            except ValueError:
                continue  # result wider than 64 bits: refused by design
            a, b = _codes(fa, rng, 300), _codes(fb, rng, 300)
            raw, out = getattr(qf, op)(a, fa, b, fb)
            c = ap_oracle.Case(op, (fa, fb), a.size, np.stack([_bits(a), _bits(b)], 1).ravel(),
                               out_per_sample=4)
            c.expected = _mask(_bits(raw), out)
            c.out_format = out
            cases.append(c)
    for op in ("shl", "shr"):
        for w, i, s in SHAPES:
            fmt = FixedFormat(w, i, s)
            n_shift = int(rng.integers(0, w + 2))
            raw = _codes(fmt, rng, 100)
            c = ap_oracle.Case(op, (fmt,), raw.size, _bits(raw), k=n_shift)
            fn = qf.shift_left if op == "shl" else qf.shift_right
            c.expected = _mask(_bits(fn(raw, fmt, n_shift)), fmt)
            cases.append(c)
    return cases


# -O0, as Vitis HLS builds a C simulation unless told to optimize (csim_design -O): the test took
# 96 s CPU at -O2 cold (609 cases, nearly all of it g++), 58 s at -O0 (load 10, ap_types precompiled)
FLAGS = ("-O0", "-std=c++14", "-w")


@pytest.mark.slow  # g++ of 609 ap_types cases (58 s CPU cold at -O0)
def test_qhw_fixed_equals_ap_types(request):
    rng = np.random.default_rng(20261124)
    cases = _build_cases(rng)
    ap_oracle.run(cases, flags=FLAGS)
    total, failures = 0, []
    for case in cases:
        fmt = case.formats[-1] if case.kind not in ("add", "sub", "mul") else case.out_format
        got = _mask(case.result[:, 0], fmt)
        if case.kind in ("add", "sub", "mul"):
            w, i, s = case.result[0, 1:]
            got_type = (int(w), int(np.int64(i.astype(np.uint64).view(np.int64))), bool(s))
            want_type = (fmt.width, fmt.integer_bits, fmt.signed)
            if got_type != want_type:
                failures.append(f"{case.kind} {case.formats}: result type {got_type} != {want_type}")
        bad = np.flatnonzero(got != case.expected)
        total += case.n
        if bad.size:
            j = bad[0]
            failures.append(f"{case.kind} {[str(f) for f in case.formats]}: {bad.size}/{case.n} "
                            f"mismatches, first sample {j}: ap_types {int(got[j]):#x} qhw {int(case.expected[j]):#x}")
    report.add(f"ap_types oracle (g++ + hls4ml {ap_oracle.ap_types_include_dir().parent.parent.name} headers): "
               f"{total} cases in {len(cases)} groups, {len(failures)} mismatching groups", request)
    assert total >= 200_000
    assert not failures, "\n".join(failures[:20])
