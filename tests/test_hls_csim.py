"""HLS C simulation (g++ + ap_types) == golden model, bit for bit, on every test model.

Each design is written and compiled once per session (the g++ build is cached by content hash,
so reruns and other tests reuse it). The golden model is qhw's numpy specification; the C++ side
is the real ap_fixed arithmetic, an independent implementation of the same format rules.
"""
from __future__ import annotations

import numpy as np
import pytest

import report
from qhw.backends.hls import run_raw, write_hls
from qhw.fixed import FixedFormat
from qhw.golden import run_raw as golden_raw
from qhw.flow import GraphBuilder
from qhw.testing import models

N_SAMPLES = 400
RANDOM_SEEDS = range(8)


def coverage_graph():
    """Ops the test models leave out: requantize (scalar and per channel), mul, reshape, dense
    over the last axis of a rank-2 tensor,
    avgpool1d/maxpool2d with padding, dilated conv, product_cast, no bias, two inputs and two
    outputs, saturating and convergent-rounding formats."""
    rng = np.random.default_rng(7)
    b = GraphBuilder("coverage")
    x = b.input("x", (6, 6, 2), "ap_fixed<8,3>")
    z = b.input("z", (4,), "ap_ufixed<6,2>")
    c = b.conv2d("conv.dil", x, rng.standard_normal((2, 2, 2, 3)) * 0.5, None,
                 formats={"accum": "ap_fixed<10,4,AP_RND_CONV,AP_SAT>"}, dilation=2, padding=1,
                 product_cast=True)
    c = b.pool("maxpool2d", "mp", c, kernel_size=2, padding=1)
    r = b.reshape("to_1d", c, (-1, 3))
    r = b.pool("avgpool1d", "ap", r, kernel_size=3, stride=2, padding=1,
               formats={"result": "ap_fixed<9,3,AP_RND,AP_SAT>"})
    r = b.dense("per_row", r, rng.standard_normal((3, 3)), None, reuse_factor=2)
    r = b.requantize("rq", r, [3, -5, 7], shift=3,
                     formats={"result": "ap_fixed<8,2,AP_RND_ZERO,AP_SAT_SYM>"})
    f = b.flatten("flat", r)
    d = b.dense("fc", f, rng.standard_normal((24, 4)), rng.standard_normal(4),
                formats={"accum": "ap_fixed<12,5,AP_TRN_ZERO,AP_SAT>"}, reuse_factor=3)
    m = b.mul("gate", d, z, formats={"result": "ap_fixed<10,4,AP_RND_INF,AP_SAT_ZERO>"})
    q = b.requantize("rq1", m, 11, shift=4)
    b.output("y", q)
    b.output("y_fc", d, "ap_fixed<6,2,AP_RND_MIN_INF,AP_WRAP>")
    return b.build(default=FixedFormat(12, 4))


def _mlp_rf():
    g = models.mlp(seed=3)
    for name, rf in (("fc1", 4), ("fc2", 7), ("fc3", 32), ("relu1", 2)):
        g.node(name).attrs["reuse_factor"] = rf
    return g


def _mlp_product_cast():
    g = models.mlp(seed=4, fmt="ap_fixed<10,4>")
    for n in g.nodes():
        if n.op == "dense":
            n.attrs["product_cast"] = True
            n.formats["accum"] = FixedFormat(14, 6, True, "RND_ZERO", "SAT")
    return g


CASES = {
    "mlp": (models.mlp, "stream"),
    "mlp_array": (models.mlp, "array"),
    "mlp_reuse": (_mlp_rf, "stream"),
    "mlp_product_cast": (_mlp_product_cast, "array"),
    "conv1d_net": (models.conv1d_net, "stream"),
    "conv2d_net": (models.conv2d_net, "stream"),
    "coverage": (coverage_graph, "stream"),
    **{f"random{s}": ((lambda s=s: models.random_graph(s)), "stream") for s in RANDOM_SEEDS},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_csim_equals_golden(case, tmp_path, request):
    make, interface = CASES[case]
    graph = make()
    write_hls(graph, tmp_path / "hls", interface=interface)
    raw = models.random_inputs(graph, N_SAMPLES, seed=11)
    got = run_raw(tmp_path / "hls", raw)
    want = golden_raw(graph, raw).outputs
    assert set(got) == set(want)
    for name in want:
        bad = np.argwhere(got[name] != want[name])
        assert not len(bad), (
            f"{case}: output {name} differs at {len(bad)} element(s), first at {tuple(bad[0])}: "
            f"hls {got[name][tuple(bad[0])]}, golden {want[name][tuple(bad[0])]}")
    ops = sorted({n.op for n in graph.nodes()})
    report.add(f"hls csim == golden: {case} ({interface}; {', '.join(ops)}), "
               f"{N_SAMPLES} samples", request)


def test_coverage_graph_exercises_saturation_and_rounding():
    """The coverage graph must actually hit the modes it claims to (else the test is hollow)."""
    g = coverage_graph()
    res = golden_raw(g, models.random_inputs(g, N_SAMPLES, seed=11), count_overflow=True)
    hit = {name for name, c in res.overflow.items() if c.saturated or c.wrapped or c.zeroed}
    assert {"rq", "gate"} <= hit, hit


def test_unary_ops_exhaustive_over_every_input_code(tmp_path):
    """Every 16-bit input code through each unary block (clamps, shift, requantize)."""
    b = GraphBuilder("unary")
    x = b.input("x", (1,), "ap_fixed<16,5>")
    outs = [
        b.relu("relu", x, {"result": "ap_ufixed<6,2,AP_RND,AP_SAT>"}),
        b.relu6("relu6", x, {"result": "ap_fixed<5,4,AP_RND_CONV,AP_WRAP>"}),
        b.clip("clip", x, -1.3, 2.71, {"result": "ap_fixed<7,2,AP_RND_ZERO,AP_SAT_SYM>"}),
        b.shift("shl", x, 2, {"result": "ap_fixed<8,4,AP_TRN_ZERO,AP_SAT>"}),
        b.shift("shr", x, -3, {"result": "ap_fixed<6,0,AP_RND_INF,AP_SAT_ZERO>"}),
        b.requantize("rq", x, -37, 5, {"result": "ap_fixed<8,3,AP_RND_MIN_INF,AP_SAT>"}),
    ]
    for o in outs:
        b.output("out_" + o, o)
    g = b.build()
    raw = np.arange(-2**15, 2**15).reshape(-1, 1)
    write_hls(g, tmp_path / "hls")
    got = run_raw(tmp_path / "hls", raw)
    want = golden_raw(g, raw).outputs
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_product_cast_case_depends_on_the_flag():
    """mlp_product_cast is only a test of the flag if the flag changes the golden outputs."""
    g = _mlp_product_cast()
    raw = models.random_inputs(g, N_SAMPLES, seed=11)
    with_cast = golden_raw(g, raw).output()
    for n in g.nodes():
        n.attrs.pop("product_cast", None)
    assert (golden_raw(g, raw).output() != with_cast).any()


LUT_CASES = [
    ("sigmoid", "rom", "ap_fixed<12,4>", {}),
    ("sigmoid", "half_rom", "ap_fixed<12,4,AP_RND,AP_SAT>", {"table_size": 256}),
    ("sigmoid", "hls4ml", "ap_fixed<16,6>", {}),
    ("sigmoid", "pwl", "ap_ufixed<10,0,AP_RND,AP_SAT>", {}),
    ("sigmoid", "pwl", "ap_ufixed<8,0>", {"pow2_slopes": True}),
    ("tanh", "rom", "ap_fixed<10,1,AP_RND_CONV,AP_SAT>", {"table_size": 512, "input_range": [-4.0, 4.0]}),
    ("tanh", "half_rom", "ap_fixed<9,1>", {"table_size": 2048}),
    ("tanh", "hls4ml", "ap_fixed<12,2>", {}),
    ("tanh", "pwl", "ap_fixed<10,1,AP_RND,AP_SAT>", {}),
]


# slow: g++ builds the tables of every variant, run on every code (cold at load 6: 20 s / 12 s
# with the tables as integer codes; 90 s / 79 s as ap_fixed initializers)
@pytest.mark.slow
@pytest.mark.parametrize("in_fmt", ["ap_fixed<16,5>", "ap_ufixed<11,4>"])
def test_tables_exhaustive_over_every_input_code(in_fmt, tmp_path, request):
    """Sigmoid/tanh ROM (full, half, hls4ml convention), PWL and hard_sigmoid on every input code."""
    b = GraphBuilder("tables")
    x = b.input("x", (1,), in_fmt)
    for k, (fn, variant, out, extra) in enumerate(LUT_CASES):
        y = b.unary(fn, f"{fn}_{variant}_{k}", x, {"result": out}, variant=variant, **extra)
        b.output(f"y{k}", y)
    b.output("y_hard", b.unary("hard_sigmoid", "hard", x, {"result": "ap_ufixed<8,1,AP_RND,AP_SAT>"}))
    g = b.build()
    fmt = FixedFormat.parse(in_fmt)
    raw = np.arange(fmt.raw_min, fmt.raw_max + 1).reshape(-1, 1)
    write_hls(g, tmp_path / "hls")
    got = run_raw(tmp_path / "hls", raw)
    want = golden_raw(g, raw).outputs
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    report.add(f"hls csim == golden: sigmoid/tanh ROM, half ROM, hls4ml table, PWL and hard_sigmoid "
               f"over all {len(raw)} codes of {in_fmt}", request)
