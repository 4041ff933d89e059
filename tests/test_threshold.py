"""threshold (multi-thresholding): golden == qonnx's own ``multithreshold`` function on the same
values; HLS C simulation (g++) and RTL (Verilator) == golden over every input code; bad
parameters are one clear error each."""
from __future__ import annotations

import numpy as np
import pytest

from qhw import golden
from qhw.backends.hls import run_raw as hls_run_raw
from qhw.backends.hls import write_hls
from qhw.backends.verilog import write_verilog
from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.flow import GraphBuilder
from qhw.verify.stream import run_harness
from qhw.verify.vectors import write_vectors
from rtl_checks import check_design

X = FixedFormat(8, 3)  # codes -128..127, lsb 1/32


def _net(thresholds, out_scale=1.0, out_bias=0.0, result=None, channels=4, x=X):
    b = GraphBuilder("thr")
    i = b.input("x", (2, channels), x)
    t = b.node("mt", "threshold", [i], {"out_scale": out_scale, "out_bias": out_bias},
               {"thresholds": np.asarray(thresholds, np.float64)},
               formats={"result": result} if result else None)
    b.output("y", t)
    return b.build()


def _thresholds(rng, channels=4, steps=7):
    """Sorted per-channel thresholds, some on the code grid (ties), some outside the range."""
    t = np.sort(rng.normal(size=(channels, steps)) * 2, axis=1)
    t[0, 0] = -5.0  # below the range: always counted
    t[1, -1] = 4.5  # above it: never
    t[2, 3] = 0.25  # exactly on the grid: x == t counts
    return t


def _every_code(graph, x=X):
    """Inputs (256, 2, C) taking every code of x in every position."""
    c = graph.node("x").shape[-1]
    codes = np.arange(x.raw_min, x.raw_max + 1)
    return np.broadcast_to(codes[:, None, None], (codes.size, 2, c)).copy()


CASES = {
    "per_channel": dict(thresholds=_thresholds(np.random.default_rng(0))),
    "shared_bias": dict(thresholds=_thresholds(np.random.default_rng(1))[:1], out_bias=-4.0),
    "scaled": dict(thresholds=_thresholds(np.random.default_rng(2)), out_scale=0.5, out_bias=-1.75),
    "bipolar": dict(thresholds=np.zeros((1, 1)), out_scale=2.0, out_bias=-1.0),
    "narrow_result": dict(thresholds=_thresholds(np.random.default_rng(3)), out_scale=1.0,
                          out_bias=-2.0, result="ap_fixed<3,3,AP_TRN,AP_SAT>"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_equals_qonnx_multithreshold(case):
    mt = pytest.importorskip("qonnx.custom_op.general.multithreshold")
    kw = CASES[case]
    g = _net(**kw)
    raw = _every_code(g)
    got = g.node("mt").formats["result"].to_float(golden.run_raw(g, raw).output())
    xv = X.to_float(raw).reshape(-1, 4)  # qonnx: (N, C) with thresholds (C or 1, T)
    want = mt.multithreshold(xv, kw["thresholds"], kw.get("out_scale", 1.0), kw.get("out_bias", 0.0))
    if kw.get("result"):  # a narrower result saturates, as assigning to it does
        want = np.clip(want, -4, 3)
    np.testing.assert_array_equal(got.reshape(-1, 4), want)


def test_float_mode_counts_on_the_real_thresholds():
    t = _thresholds(np.random.default_rng(0))
    g = _net(t)
    x = np.random.default_rng(5).normal(size=(50, 2, 4))
    want = (x[..., None] >= t).sum(-1)
    np.testing.assert_array_equal(golden.run(g, x, float_mode=True).output(), want)


@pytest.mark.parametrize("kw,match", [
    (dict(thresholds=np.zeros((3, 2))), "3 threshold rows"),
    (dict(thresholds=np.zeros(4)), "must be \\(channels, steps\\)"),
    (dict(thresholds=np.zeros((4, 2)), out_scale=0.1), "out_scale 0.1 is not a binary fraction"),
    (dict(thresholds=np.full((4, 2), np.nan)), "finite"),
    (dict(thresholds=np.zeros((4, 2)), out_bias=float("inf")), "out_bias must be finite"),
])
def test_bad_parameters_are_one_clear_error(kw, match):
    with pytest.raises(ModelError, match=r"threshold 'mt'|" + match) as e:
        _net(**kw)
    assert "mt" in str(e.value) and __import__("re").search(match, str(e.value))


@pytest.mark.parametrize("case", ["per_channel", "scaled", "narrow_result"])
def test_hls_csim_equals_golden_on_every_code(case, tmp_path):
    g = _net(**CASES[case])
    raw = _every_code(g)
    write_hls(g, tmp_path / "hls")
    np.testing.assert_array_equal(hls_run_raw(tmp_path / "hls", raw)["y"], golden.run_raw(g, raw).output())


@pytest.mark.parametrize("case", ["per_channel", "bipolar", "narrow_result"])
def test_rtl_equals_golden_on_every_code(case, tmp_path):
    g = _net(**CASES[case])
    d = write_verilog(g, tmp_path / "rtl")
    check_design(d)
    raw = _every_code(g)
    write_vectors(tmp_path / "vectors", [raw], [golden.run_raw(g, raw).output()])
    sim = run_harness(tmp_path / "rtl", tmp_path / "vectors", seed=5, gap=0.3, stall=0.3)
    assert sim.ok and sim.samples == len(raw), sim.summary()
