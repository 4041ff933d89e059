"""fsum_pool1d/2d (qhw.ops.fsum_pool): an average pool computed as a float32 runtime computes it.

Oracles: onnxruntime's float AveragePool on the taps' float32 values (a window of 4 taps, so its
average times 4 is its float32 sum exactly) with the thresholds counted in float64; RTL
(Verilator, under gaps and stalls) and the HLS C simulation (g++) against golden on tap values
spread over 24 binades with both signs and zeros, in random add orders, where every add rounds.
"""
from __future__ import annotations

import numpy as np
import pytest

from qhw import golden
from qhw.errors import ModelError
from qhw.flow import GraphBuilder


def _net(op, shape, values, thresholds, **attrs):
    b = GraphBuilder(f"one_{op}")
    x = b.input("x", shape, "ap_int<6>")
    b.output("y", b.node("p", op, [x], attrs, {"values": values, "thresholds": thresholds}))
    return b.build()


def _values(scale):
    return (np.arange(-32, 32).astype(np.float32) * np.float32(scale)).astype(np.float32)


def test_golden_equals_numpy_float32_and_onnxruntime():
    """1-D windows of 4 (onnxruntime's 1-D pool adds them in order) and 2x2 windows of one
    channel (its vector pool: column sums first, then across: ``order`` says so)."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto as TP
    from onnx import helper as h

    rng = np.random.default_rng(3)
    vals = _values(0.0371)
    thr = np.sort(rng.uniform(-4.8, 4.8, 40).astype(np.float32)).astype(np.float64)
    thr[:10] = (np.arange(-5, 5) * np.float32(4 * 0.0371) + np.float32(2 * 0.0371)).astype(np.float32)  # ties
    thr = np.sort(thr)
    cases = [("fsum_pool1d", (16, 1), dict(kernel_size=4), [4]),
             ("fsum_pool2d", (4, 8, 1), dict(kernel_size=[2, 2], order=[[0, 2], [1, 3], [4, 5]]), [2, 2])]
    for op, shape, attrs, kernel in cases:
        g = _net(op, shape, vals, thr, code_min=-32, out_min=0, **attrs)
        codes = rng.integers(-32, 31, size=(400,) + shape) + rng.integers(0, 2, size=(400,) + shape)
        got = golden.run_raw(g, {"x": codes}).outputs["y"]
        x = np.moveaxis(vals[codes + 32], -1, 1)  # (N, C, *spatial) float32
        node = h.make_node("AveragePool", ["x"], ["y"], kernel_shape=kernel, strides=kernel)
        m = h.make_model(h.make_graph([node], "p", [h.make_tensor_value_info("x", TP.FLOAT, list(x.shape))],
                                      [h.make_tensor_value_info("y", TP.FLOAT, None)]),
                         opset_imports=[h.make_opsetid("", 13)])
        avg = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        sums = np.moveaxis(avg, 1, -1).astype(np.float64) * 4  # exact: the sum of 4 taps / 4
        want = np.searchsorted(thr, sums, side="right")
        assert np.array_equal(got, want), (op, int(np.count_nonzero(got != want)))


def _wide(rng, n):
    """Tap values over 24 binades (what 64-bit integer units hold), both signs, a few zeros:
    every add rounds somewhere."""
    v = rng.uniform(1, 2, n) * 2.0 ** rng.integers(-12, 12, n) * rng.choice([-1, 1], n)
    v[rng.integers(0, n, 4)] = 0.0
    return v.astype(np.float32)


def _random_order(rng, taps):
    live, order = list(range(taps)), []
    while len(live) > 1:
        a, b = rng.choice(len(live), 2, replace=False)
        order.append([live[a], live[b]])
        live = [v for i, v in enumerate(live) if i not in (a, b)] + [taps + len(order) - 1]
    return order


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    from qhw.graph import Graph
    from qhw.ops import get
    from qhw.passes import prepare
    from qhw.testing import models

    rng = np.random.default_rng(11)
    whole = Graph("fsum_wide")
    for k, (op, shape, attrs) in enumerate([
            ("fsum_pool1d", (7, 2), dict(kernel_size=5, stride=2, padding=2)),
            ("fsum_pool2d", (4, 4, 3), dict(kernel_size=[2, 3], stride=[2, 1])),
            ("fsum_pool2d", (3, 3, 1), dict(kernel_size=[3, 3]))]):
        vals = _wide(rng, 64)
        taps = int(np.prod(attrs["kernel_size"]))
        order = _random_order(rng, taps)
        g = _net(op, shape, vals, np.zeros(0), code_min=-32, out_min=0, order=order, **attrs)
        codes = rng.integers(-32, 32, size=(2000,) + shape)
        # thresholds: float32 sums of random windows in this order, so comparisons meet equality
        sums = get(op).window_sums(g.node("p"), codes).ravel()
        thr = np.unique(rng.choice(sums, 40).astype(np.float32)).astype(np.float64)
        g = _net(op, shape, vals, thr, code_min=-32, out_min=-3, order=order, **attrs)
        for node in g.nodes():
            n = node.copy()
            n.name, n.inputs = f"c{k}_{node.name}", [f"c{k}_{i}" for i in node.inputs]
            n.inferred = set(node.inferred)
            whole.add(n)
    g = prepare(whole)
    raw = models.random_inputs(g, 150, seed=5)
    return g, raw, golden.run_raw(g, raw).outputs, tmp_path_factory.mktemp("fsum_wide")


def test_golden_equals_float64_sums_of_the_order(wide):
    """The golden float32 sums equal the same adds done in float64 and rounded to float32 after
    each add (float64 holds any sum of two float32 exactly, so each rounding is a single one)."""
    from qhw.ops import get

    g, raw, want, _ = wide
    for node in g.nodes():
        if node.op.startswith("fsum_pool"):
            op = get(node.op)
            codes = raw[node.inputs[0]]
            win = op.windows(node, op.tap_values(node, codes).astype(np.float64), 0.0)
            v = [win[..., t, :] for t in range(win.shape[-2])]
            for a, b in op.order(node):
                v.append((v[a] + v[b]).astype(np.float32).astype(np.float64))
            assert np.array_equal(op.window_sums(node, codes).astype(np.float64), v[-1])


def test_rtl_equals_golden(wide):
    from rtl_checks import assert_lint_clean, design_in

    from qhw.backends.verilog import write_verilog
    from qhw.verify.stream import run_harness
    from qhw.verify.vectors import write_vectors

    g, raw, want, d = wide
    write_verilog(g, d / "rtl")
    write_vectors(d / "vectors", [raw[n] for n in g.input_names], [want[n] for n in g.output_names])
    sim = run_harness(d / "rtl", d / "vectors", seed=3, gap=0.3, stall=0.3, work_dir=d / "sim")
    assert sim.ok and sim.samples == 150, sim.summary()
    assert_lint_clean(design_in(d / "rtl"))


def test_csim_equals_golden(wide):
    from qhw.backends.hls import run_raw, write_hls

    g, raw, want, d = wide
    write_hls(g, d / "hls")
    got = run_raw(d / "hls", raw)
    for n in g.output_names:
        assert np.array_equal(got[n], want[n]), n


@pytest.mark.parametrize("change,needle", [
    (dict(thresholds=np.array([1.0, 0.5])), "ascending"),
    (dict(thresholds=np.array([0.1])), "float32"),
    (dict(values=np.full(64, 2.0 ** 120)), "window sum"),
    (dict(order=[[0, 0], [0, 0], [0, 9]]), "order step 2"),
    (dict(order=[[0, 1]]), "needs 3"),
])
def test_bad_parameters_name_the_node(change, needle):
    params = {"values": _values(0.5), "thresholds": np.array([0.0, 1.0])}
    attrs = dict(kernel_size=[2, 2], code_min=-32, out_min=0)
    for k, v in change.items():
        (params if k in params else attrs)[k] = v
    b = GraphBuilder("bad")
    x = b.input("x", (4, 4, 1), "ap_int<6>")
    b.output("y", b.node("pool_x", "fsum_pool2d", [x], attrs, params))
    with pytest.raises(ModelError, match=needle) as e:
        b.build()
    assert "pool_x" in str(e.value)
