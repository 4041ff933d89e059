"""qhw.tables: ROMs against a scalar reference written from the spec, range and symmetry
properties, accuracy trends, and the hls4ml convention against hls4ml's own C++ (g++)."""
import math
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest

from qhw.fixed import FixedFormat
from qhw.tables import build_pwl, build_rom, compare_variants, error_report

import fixed_reference as ref

SMALL = [FixedFormat(8, 4), FixedFormat(10, 3), FixedFormat(7, 5), FixedFormat(9, 4, False)]


def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


@pytest.mark.parametrize("in_fmt", SMALL)
@pytest.mark.parametrize("size,rng", [(64, (-8.0, 8.0)), (16, (-4.0, 4.0)), (256, (-2.0, 2.0))])
def test_rom_every_code_equals_scalar_reference(in_fmt, size, rng):
    out = FixedFormat(8, 0, False, "RND", "SAT")
    if rng[0] < in_fmt.min and not in_fmt.signed:
        rng = (0.0, rng[1] * 2) if False else rng
    try:
        t = build_rom("sigmoid", in_fmt, out, table_size=size, input_range=rng)
    except ValueError:
        pytest.skip("range start not on this format's grid")
    lo, hi = Fraction(rng[0]), Fraction(rng[1])
    w = (hi - lo) / size
    lsb = Fraction(in_fmt.lsb)
    for raw in range(in_fmt.raw_min, in_fmt.raw_max + 1):
        x = raw * lsb
        i = min(max(math.floor((x - lo) / w), 0), size - 1)
        codes = [c for c in range(math.ceil((lo + i * w) / lsb), math.ceil((lo + (i + 1) * w) / lsb))]
        mid = (codes[0] + codes[-1]) / 2 * lsb if codes else lo + i * w
        v = min(max(_sigmoid(float(mid)), 0.0), out.max)
        want = ref.quantize(v, out)
        assert t.lookup(np.array([raw]))[0] == want, (raw, i)


@pytest.mark.parametrize("variant", ["rom", "half_rom", "pwl", "pwl_pow2"])
def test_sigmoid_never_leaves_unit_interval_and_is_monotone(variant):
    in_fmt, out = FixedFormat(12, 5), FixedFormat(10, 1, False)
    if variant.startswith("pwl"):
        t = build_pwl("sigmoid", in_fmt, out, pow2_slopes=variant == "pwl_pow2")
        f = t.evaluate
    else:
        f = build_rom("sigmoid", in_fmt, out, half=variant == "half_rom").lookup
    raw = np.arange(in_fmt.raw_min, in_fmt.raw_max + 1)
    y = out.to_float(f(raw))
    assert y.min() >= 0 and y.max() <= 1
    if variant != "pwl_pow2":  # power-of-two slopes break continuity at breakpoints
        assert np.all(np.diff(y) >= 0)


def test_half_table_agrees_with_full_for_non_negative_inputs_and_is_symmetric():
    in_fmt, out = FixedFormat(12, 5), FixedFormat(12, 2, True, "RND")
    full = build_rom("sigmoid", in_fmt, out)
    half = build_rom("sigmoid", in_fmt, out, half=True)
    assert half.bits * 2 == full.bits
    pos = np.arange(0, in_fmt.raw_max + 1)
    np.testing.assert_array_equal(half.lookup(pos), full.lookup(pos))
    one = 1 << out.frac_bits
    np.testing.assert_array_equal(half.lookup(-pos[1:]), one - half.lookup(pos[1:]))
    th = build_rom("tanh", in_fmt, out, half=True, input_range=(-4.0, 4.0))
    np.testing.assert_array_equal(th.lookup(-pos[1:]), -th.lookup(pos[1:]))


def test_error_shrinks_with_table_size_and_output_bits():
    in_fmt = FixedFormat(14, 5)
    errs = [error_report(build_rom("sigmoid", in_fmt, FixedFormat(16, 1, False), table_size=n))["max_abs_error"]
            for n in (64, 256, 1024)]
    assert errs[0] > errs[1] > errs[2]
    errs = [error_report(build_rom("sigmoid", in_fmt, FixedFormat(b, 1, False, "RND")))["mean_abs_error"]
            for b in (6, 10, 14)]
    assert errs[0] > errs[1] > errs[2]
    rep = compare_variants(FixedFormat(12, 5), FixedFormat(10, 1, False))
    assert rep["half_rom"]["bits"] * 2 == rep["rom"]["bits"] and rep["pwl"]["bits"] < rep["rom"]["bits"] / 10


def test_bad_table_parameters():
    f = FixedFormat(10, 4)
    with pytest.raises(ValueError, match="power of two"):
        build_rom("sigmoid", f, f, table_size=1000)
    with pytest.raises(ValueError, match="span a power of two"):
        build_rom("sigmoid", f, f, input_range=(-6.0, 6.0))
    with pytest.raises(ValueError, match="symmetric"):
        build_rom("sigmoid", f, f, input_range=(-4.0, 12.0), half=True)
    with pytest.raises(ValueError, match="unknown function"):
        build_rom("gelu", f, f)


HLS4ML_TB = r"""
#include <cstdio>
#include "ap_fixed.h"
#include "nnet_utils/nnet_activation.h"
typedef {in_t} in_t; typedef {out_t} out_t;
struct cfg : nnet::activ_config {{ static const unsigned n_in = 1; static const unsigned table_size = {n};
                                   typedef {table_t} table_t; }};
int main() {{
  for (long long r = {lo}; r <= {hi}; ++r) {{
    in_t x[1]; x[0].setBits(r); out_t y[1];
    nnet::{fn}<in_t, out_t, cfg>(x, y);
    printf("%lld\n", (long long)y[0].range().to_int64());
  }}
  return 0;
}}
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
@pytest.mark.parametrize("fn,in_fmt,n", [("sigmoid", FixedFormat(10, 4), 1024), ("sigmoid", FixedFormat(16, 6), 1024),
                                         ("sigmoid", FixedFormat(12, 3), 256), ("tanh", FixedFormat(12, 3), 1024),
                                         ("tanh", FixedFormat(9, 5), 512)])
def test_hls4ml_convention_equals_hls4ml_cpp(fn, in_fmt, n):
    from qhw.tools import gxx
    from qhw.tools.ap_types import hls4ml_templates_dir

    out = FixedFormat(16, 6)
    table_t = FixedFormat(18, 8)
    src = HLS4ML_TB.format(in_t=str(in_fmt), out_t=str(out), table_t=str(table_t), n=n, fn=fn,
                           lo=in_fmt.raw_min, hi=in_fmt.raw_max)
    root = hls4ml_templates_dir()
    exe = gxx.build({"tb.cpp": src}, [root / "ap_types", root], name="hls4ml_act")
    exe = getattr(exe, "exe", exe)
    got = np.array(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split(), np.int64)
    got = out.cast(got, FixedFormat(64, 64 - out.frac_bits))  # sign-extend the 16-bit codes
    t = build_rom(fn, in_fmt, out, table_size=n, convention="hls4ml", table_fmt=table_t)
    want = t.lookup(np.arange(in_fmt.raw_min, in_fmt.raw_max + 1))
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"{bad.size} mismatches, first code {in_fmt.raw_min + bad[0]}: hls4ml {got[bad[0]]} qhw {want[bad[0]]}"
