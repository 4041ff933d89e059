"""Pipeline registers inside element layers and streamed layers at a clock period
(qhw.backends.verilog.timing): tables (ROM read register), requantizers and clamps (the unary
block split after its multiply/comparison), threshold comparators, max/average pools, and the
kernels of streamed convolutions/pools. Oracles: the golden numpy model (Verilator runs the RTL
under input gaps and output stalls, with and without the output FIFO), ``FixedFormat.cast`` for
the split unary block, Verilator ``-Wall`` lint and Yosys. A 1000 ns period writes the same
Verilog as no period."""
from __future__ import annotations

import json

import numpy as np
import pytest

from qhw.backends.verilog import write_verilog
from qhw.backends.verilog.requant import UnarySpec, split_spec
from qhw.fixed import FixedFormat
from qhw.flow import GraphBuilder
from qhw.verify.stream import run_harness
from qhw.verify.vectors import golden_vectors, write_vectors
from rtl_checks import assert_lint_clean, assert_synthesizes

N = 80
ELEMENT_LAYERS = ("th", "rq", "sig", "hs", "cl", "mp", "ap", "r6")


def element_net():
    """One of each element family a period cuts, on a small input."""
    rng = np.random.default_rng(19)
    b = GraphBuilder("enet")
    t = b.input("x", (4, 2), "ap_fixed<8,3>")
    t = b.pool("maxpool1d", "mp", t, kernel_size=2, stride=1)          # compare chain
    t = b.requantize("rq", t, [5, -3], 2, formats={"result": "ap_fixed<10,5,AP_RND,AP_SAT>"})
    s = b.unary("sigmoid", "sig", t, formats={"result": "ap_ufixed<8,0>"})  # a ROM
    h = b.unary("hard_sigmoid", "hs", t, formats={"result": "ap_ufixed<8,1,AP_RND,AP_SAT>"})
    a = b.pool("avgpool1d", "ap", b.add("sum", s, h), kernel_size=2, stride=1)  # window sum
    c = b.clip("cl", a, 0.25, 1.5)
    t = b.node("th", "threshold", [c], {"out_scale": 0.5, "out_bias": -1.0},
               {"thresholds": np.sort(rng.normal(size=(2, 3)) * 0.5 + 0.8, axis=1)})
    b.output("y", b.relu6("r6", t))
    return b.build(default="ap_fixed<12,4>")


def stream_net():
    """Streamed: conv1d folded by 2 -> relu -> max pool -> requantize; then conv1d and a dense
    tail (parallel)."""
    rng = np.random.default_rng(20)
    b = GraphBuilder("snet")
    t = b.input("x", (9, 2), "ap_fixed<8,3>")
    t = b.conv1d("c1", t, rng.standard_normal((3, 2, 3)) * 0.4, rng.standard_normal(3) * 0.1,
                 padding="same", reuse_factor=2)
    t = b.pool("maxpool1d", "mp", b.relu("r1", t), kernel_size=2)
    t = b.requantize("rq", t, 3, 1, formats={"result": "ap_fixed<8,3,AP_RND,AP_SAT>"})
    t = b.conv1d("c2", t, rng.standard_normal((2, 3, 2)) * 0.4, None)
    b.output("y", b.dense("fc", b.flatten("flat", t), rng.standard_normal((6, 2)) * 0.3, None))
    return b.build(default="ap_fixed<10,4>")


def _verilog(d) -> dict:
    return {f: (d.rtl_dir / f).read_text() for f in d.files}


def _simulate(g, d, folder, seed):
    ins, exp = golden_vectors(g, N, seed=seed)
    write_vectors(folder / "vectors", ins, exp)
    for gap, stall in ((0.3, 0.4), (0.0, 0.8)):
        res = run_harness(d.rtl_dir, folder / "vectors", seed=seed, gap=gap, stall=stall)
        assert res.ok and res.samples == N, res.summary()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(graph, design, folder) per (net, period, options), written once for the module."""
    root = tmp_path_factory.mktemp("timing_layers")
    cache = {}

    def get(net, period, **opts):
        key = (net.__name__, period, tuple(sorted(opts.items())))
        if key not in cache:
            g = net()
            folder = root / "_".join(map(str, key[:2])) / str(len(cache))
            o = dict(opts)
            if period is not None:
                o.update(clock_period=period, target="ecp5")
            cache[key] = (g, write_verilog(g, folder / "rtl", options=o or None), folder)
        return cache[key]
    return get


@pytest.mark.parametrize("spec", [
    UnarySpec(FixedFormat(8, 3), FixedFormat(6, 2, True, "RND", "SAT"), FixedFormat(8, 3), lo=-40, hi=90),
    UnarySpec(FixedFormat(7, 3, False), FixedFormat(9, 2, True, "RND_CONV", "SAT_SYM"),
              FixedFormat(11, 5), multiplier=-13),
    UnarySpec(FixedFormat(6, 1), FixedFormat(5, 5, False, "TRN", "WRAP"), FixedFormat(9, 4, False),
              lo=0, multiplier=3),
])
def test_split_unary_block_equals_the_whole_on_every_code(spec):
    """The two halves a "mid" register sits between compose to the original block (the
    oracle: FixedFormat.cast through UnarySpec.golden), on every input code."""
    x = np.arange(spec.src_in.raw_min, spec.src_in.raw_max + 1)
    first, second = split_spec(spec)
    v = first.golden(x)
    assert np.array_equal(second.golden(v), spec.golden(x))
    assert first.dst.signed and first.dst.raw_min <= v.min() and v.max() <= first.dst.raw_max


@pytest.mark.parametrize("net", [element_net, stream_net])
def test_a_slow_clock_adds_no_register(built, net):
    _, plain, _ = built(net, None, io="stream") if net is stream_net else built(net, None)
    _, slow, _ = built(net, 1000, io="stream") if net is stream_net else built(net, 1000)
    assert _verilog(slow) == _verilog(plain) and slow.latency == plain.latency
    assert slow.timing["registers_added"] == 0 and slow.timing["met"]


def test_element_layers_get_registers_only_when_the_period_needs_them(built):
    lat = {}
    for p in (1000, 10, 5, 3):
        g, d, _ = built(element_net, p)
        by = {l["node"]: l for l in d.layers}
        lat[p] = d.latency
        for name in ELEMENT_LAYERS:
            t = by[name]["timing"]
            assert by[name]["latency"] == 1 + t["registers_added"], name
            # a layer without a register fits the period (its whole path is one stage)
            if t["registers_added"] == 0:
                assert t["path_ns"] <= p, (name, p, t)
    assert lat[1000] < lat[10] <= lat[5] <= lat[3]
    by = {l["node"]: l for l in built(element_net, 3)[1].layers}
    assert all(by[n]["timing"]["registers_added"] >= 1 for n in ELEMENT_LAYERS)


@pytest.mark.parametrize("fifo", [False, True])
def test_pipelined_element_layers_equal_golden(built, fifo):
    g, d, folder = built(element_net, 3, output_fifo=fifo)
    assert d.timing["registers_added"] >= len(ELEMENT_LAYERS)
    if not fifo:
        assert_lint_clean(d)
    _simulate(g, d, folder, seed=3)


@pytest.mark.parametrize("net, opts", [(element_net, {}), (stream_net, {"io": "stream"})])
def test_pipelined_designs_synthesize(built, net, opts):
    """Yosys: no error, no latch, in the registered element layers and streamed kernels."""
    assert_synthesizes(built(net, 3, **opts)[1])


@pytest.mark.parametrize("period", [3])
def test_streamed_layers_at_a_period_equal_golden(built, period):
    """The kernels of streamed layers get their registers (the stream layer's valid pipeline
    follows the kernel's latency); the report covers every layer and says what it does not
    model."""
    g, d, folder = built(stream_net, period, io="stream")
    _, plain, _ = built(stream_net, None, io="stream")
    streamed = {l["node"]: l for l in d.layers if l["io"] == "stream"}
    assert set(streamed) >= {"c1", "r1", "mp", "rq", "c2"}
    assert all("timing" in l for l in d.layers)
    assert sum(l["timing"]["registers_added"] for l in streamed.values()) > 0
    assert d.latency > plain.latency
    man = json.loads((d.rtl_dir / "design.json").read_text())
    assert man["timing"]["clock_period_ns"] == period and "handshake" in man["timing"]["not_modeled"]
    assert_lint_clean(d)
    _simulate(g, d, folder, seed=period)
