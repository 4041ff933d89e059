"""Streaming convolution and pooling (issue 18.1): RTL == golden under random gaps and stalls.

Oracle: qhw.golden (numpy; the conv/pool geometry there is the op modules' own, checked
against PyTorch/onnxruntime in their tests); the hardware is Verilator running the streamed
Verilog (pixels through line buffers, one kernel block per layer). The nets are small and odd
on purpose: non-square images, stride with padding, dilation, max pooling that pads (with the
smallest code, not zero), average pooling that pads, a reuse factor, per-channel requantize,
and a streamed region that reaches the output without a parallel layer after it.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from qhw.backends.verilog import write_verilog
from qhw.errors import ConfigError
from qhw.flow import GraphBuilder
from qhw.testing import models
from qhw.tools.verilator import lint
from qhw.verify.stream import run_harness
from rtl_checks import assert_synthesizes, design_cache

N = 60


def _conv2d_odd():
    rng = np.random.default_rng(11)
    b = GraphBuilder("s_conv2d")
    t = b.input("x", (7, 6, 2), "ap_fixed<8,3>")
    t = b.conv2d("c1", t, rng.standard_normal((3, 3, 2, 3)) * 0.4, rng.standard_normal(3) * 0.1,
                 stride=2, padding=1)
    t = b.relu("r1", t)
    t = b.conv2d("c2", t, rng.standard_normal((2, 2, 3, 4)) * 0.4, None, dilation=[1, 2],
                 padding=[1, 1, 0, 1], formats={"accum": "ap_fixed<12,4,AP_RND,AP_SAT>"})
    t = b.pool("maxpool2d", "mp", t, kernel_size=2, padding=1)
    t = b.flatten("flat", t)
    t = b.dense("fc", t, rng.standard_normal((3 * 2 * 4, 3)) * 0.3, rng.standard_normal(3) * 0.1)
    b.output("y", t)
    return b.build(default="ap_fixed<12,4>")


def _conv1d_odd():
    rng = np.random.default_rng(12)
    b = GraphBuilder("s_conv1d")
    t = b.input("x", (11, 3), "ap_fixed<7,2>")
    t = b.conv1d("c1", t, rng.standard_normal((3, 3, 4)) * 0.4, rng.standard_normal(4) * 0.1,
                 stride=2, padding="same", reuse_factor=3)
    t = b.requantize("rq", t, [3, -5, 7, 2], shift=2,
                     formats={"result": "ap_fixed<8,3,AP_RND,AP_SAT>"})
    t = b.pool("avgpool1d", "ap", t, kernel_size=3, stride=1, padding=1)
    t = b.conv1d("c2", t, rng.standard_normal((2, 4, 2)) * 0.4, None, dilation=2)
    t = b.flatten("flat", t)
    t = b.dense("fc", t, rng.standard_normal((4 * 2, 2)) * 0.3, None)
    b.output("y", t)
    return b.build(default="ap_fixed<10,4>")


def _pool_to_output():
    """Streamed layers all the way to the output (the tail is the output node only)."""
    rng = np.random.default_rng(13)
    b = GraphBuilder("s_pool")
    t = b.input("x", (5, 4, 3), "ap_ufixed<6,2>")
    t = b.pool("maxpool2d", "mp", t, kernel_size=2, stride=1)
    t = b.conv2d("c", t, rng.standard_normal((1, 1, 3, 2)), None)
    t = b.pool("avgpool2d", "ap", t, kernel_size=[2, 3], stride=[1, 1], padding=[1, 1, 0, 1])
    b.output("y", t)
    return b.build(default="ap_fixed<10,4>")


def _random_chain(seed: int):
    """Seeded random window layers: kernel 1..3 per axis, stride 1..2, dilation 1..2 (conv),
    padding up to the window's reach before and 0..2 after, random result formats."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"s_random{seed}")
    h, w, c = int(rng.integers(5, 10)), int(rng.integers(4, 10)), int(rng.integers(1, 4))
    t = b.input("x", (h, w, c), "ap_fixed<7,3>")
    for i in range(4):
        kind = ["conv2d", "conv2d", "maxpool2d", "avgpool2d"][int(rng.integers(0, 4))]
        k = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
        st = [int(rng.integers(1, 3)), int(rng.integers(1, 3))]
        d = [int(rng.integers(1, 3)), int(rng.integers(1, 3))] if kind == "conv2d" else [1, 1]
        span = [(k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1]
        pad = [int(rng.integers(0, span[0])), int(rng.integers(0, span[1])),
               int(rng.integers(0, 3)), int(rng.integers(0, 3))]
        oh = (h + pad[0] + pad[2] - span[0]) // st[0] + 1
        ow = (w + pad[1] + pad[3] - span[1]) // st[1] + 1
        if oh < 1 or ow < 1:
            continue
        fmt = {"result": f"ap_fixed<{int(rng.integers(6, 11))},{int(rng.integers(2, 5))},AP_RND,AP_SAT>"}
        if kind == "conv2d":
            co = int(rng.integers(1, 4))
            t = b.conv2d(f"c{i}", t, rng.standard_normal((k[0], k[1], c, co)) * 0.5,
                         rng.standard_normal(co) * 0.2 if rng.random() < 0.5 else None,
                         formats=fmt, stride=st, dilation=d, padding=pad)
            c = co
        else:
            t = b.pool(kind, f"p{i}", t, kernel_size=k, stride=st, padding=pad, formats=fmt)
        h, w = oh, ow
        if rng.random() < 0.5:
            t = b.relu(f"r{i}", t)
    t = b.flatten("flat", t)
    t = b.dense("fc", t, rng.standard_normal((h * w * c, 2)) * 0.3, None)
    b.output("y", t)
    return b.build(default="ap_fixed<12,5>")


CASES = {
    # shift-add constants and a register after every adder-tree level: kernel latency > 1
    "conv2d_stride_dilation_pad": (_conv2d_odd, {"io": "stream", "multipliers": "csd",
                                                 "tree_stage_levels": 1}),
    "conv1d_r3_requant_avgpad": (_conv1d_odd, {"io": "stream"}),
    "pool_to_output": (_pool_to_output, {"io": "stream"}),
    "random_chain_5": (lambda: _random_chain(5), {"io": "stream"}),
}


@pytest.fixture(scope="module")
def designs(tmp_path_factory):
    return design_cache(tmp_path_factory.mktemp("stream"),
                        lambda name: (CASES[name][0](), CASES[name][1]), N, seed=5)


@pytest.mark.parametrize("name", list(CASES))
def test_stream_rtl_equals_golden_under_gaps_and_stalls(designs, name):
    g, d, folder = designs(name)
    streamed = [la["node"] for la in d.layers if la["io"] == "stream"]
    windows = [n.name for n in g.nodes() if n.op.startswith(("conv", "maxpool", "avgpool"))]
    assert streamed and set(windows) <= set(streamed), (streamed, windows)
    assert any(f.endswith("_win.v") for f in d.files)
    assert all(f.endswith(".v") for f in d.files)
    res = run_harness(folder / "rtl", folder / "vectors", seed=9, gap=0.35, stall=0.35)
    assert res.ok, res.summary()
    assert res.samples == N
    # a streamed layer takes at least one cycle per padded position of every image
    assert res.cycles >= N * d.ii


@pytest.mark.parametrize("name", ["conv2d_stride_dilation_pad", "conv1d_r3_requant_avgpad"])
def test_stream_synthesis_flavour_equals_golden(designs, name):
    """run_harness simulates the simulation flavour (the kernels as loop twins); the
    hierarchical files Yosys reads are checked too, on the kernels with pipeline registers
    (latency > 1) and with folding (R = 3)."""
    _, d, folder = designs(name)
    res = run_harness(folder / "rtl", folder / "vectors", seed=3, gap=0.3, stall=0.3,
                      flavour="synth")
    assert res.ok, res.summary()
    assert res.samples == N


def test_streamed_kernels_simulate_as_loops(designs):
    """Every streamed convolution kernel and the dense layer after the stream have a loop twin
    in sim/ (computing only on an accepted beat), listed in sim_files in place of the
    hierarchical file; the hierarchical files stay in files."""
    _, d, _ = designs("conv1d_r3_requant_avgpad")
    man = json.loads((d.rtl_dir / "design.json").read_text())
    for module in (f"{d.top}_s_c1_k", f"{d.top}_s_c2_k", f"{d.top}_p_fc"):
        assert f"sim/{module}.v" in man["sim_files"] and f"{module}.v" not in man["sim_files"]
        assert f"{module}.v" in man["files"]
        assert "ce && start" in (d.rtl_dir / "sim" / f"{module}.v").read_text()


def test_stream_rtl_full_rate(designs):
    """No gaps, no stalls: images overlap in the pipeline, still bit-exact."""
    _, d, folder = designs("conv2d_stride_dilation_pad")
    res = run_harness(folder / "rtl", folder / "vectors", seed=1, gap=0.0, stall=0.0)
    assert res.ok, res.summary()
    assert res.cycles <= (N + 2) * d.ii + d.latency  # the reported II and latency hold


@pytest.mark.parametrize("name", ["conv2d_stride_dilation_pad", "conv1d_r3_requant_avgpad"])
def test_backpressure_reaches_the_input(designs, name):
    """The output ready 1% of the cycles: slower than the design's II, so every layer and the
    input fill up and hold; nothing is lost or duplicated."""
    _, d, folder = designs(name)
    res = run_harness(folder / "rtl", folder / "vectors", seed=4, gap=0.5, stall=0.99)
    assert res.ok, res.summary()
    assert res.cycles > N * max(d.ii, 50)  # output-limited (about 100 cycles per sample)


@pytest.mark.parametrize("name", list(CASES))
def test_stream_lint_clean(designs, name):
    _, d, _ = designs(name)
    res = lint([d.rtl_dir / f for f in d.files], top=d.top)
    assert res.ok, res.summary()


def test_stream_synthesizes(designs):
    _, d, _ = designs("pool_to_output")
    stat = assert_synthesizes(d)
    assert stat["modules"]


def test_design_json_reports_per_layer_ii(designs):
    _, d, _ = designs("conv2d_stride_dilation_pad")
    man = json.loads((d.rtl_dir / "design.json").read_text())
    assert man["io"] == "stream"
    core = man["pixel_core"]
    assert core["module"] == f"{d.top}_core" and f"{d.top}_core.v" in d.files
    assert core["pixel_bits"] == 2 * 8 and core["pixels"] == 7 * 6
    c1 = next(la for la in man["layers"] if la["node"] == "c1")
    # 7x6 image padded by 1 on every side: 9x8 positions walked per image
    assert c1["ii"] == 9 * 8 and c1["padded"] == [9, 8] and c1["window"] == [3, 3]
    assert c1["line_buffer_bits"] == (2 * 8 + 2) * 2 * 8
    assert man["ii"] == max(la["ii"] for la in man["layers"])


def test_reuse_factor_folds_the_kernel_array(designs):
    _, d, _ = designs("conv1d_r3_requant_avgpad")
    c1 = next(la for la in d.layers if la["node"] == "c1")
    # 11 positions + 'same' padding (1 + 1) walked; 6 outputs, 3 cycles each
    assert c1["pixel_ii"] == 3 and c1["reuse_factor"] == 3
    assert c1["ii"] == max(13, 3 * 6)


def test_auto_streams_only_big_convolutions(tmp_path):
    small = write_verilog(models.conv2d_net(), tmp_path / "small")
    assert all(la.get("io", "parallel") == "parallel" for la in small.layers)
    # conv1 of a 16x16x3 image to 16 channels unrolled: 256 x 27 x 16 = 110,592 products
    big = write_verilog(models.cnn(size=16, widths=(16, 8), classes=2), tmp_path / "big")
    assert {la["node"] for la in big.layers if la["io"] == "stream"} >= {"conv1", "conv2"}
    # a node attribute overrides: c1 parallel ends the streamed region before it
    g = _conv2d_odd()
    g.node("c1").attrs["io"] = "parallel"
    d = write_verilog(g, tmp_path / "forced", options={"io": "stream"})
    assert not any(la.get("io") == "stream" for la in d.layers)


def test_streamed_size_follows_the_kernel_not_the_image(tmp_path):
    sizes = {}
    for s in (8, 16):
        d = write_verilog(models.cnn(size=s, widths=(8, 8), classes=2), tmp_path / str(s),
                          options={"io": "stream"})
        sizes[s] = sum(os.path.getsize(d.rtl_dir / f) for f in d.files)
    # 4x the pixels; only the dense layer after the flatten grows (4x its 128 inputs)
    assert sizes[16] < 2.5 * sizes[8], sizes


def test_bad_io_choice_names_the_node(tmp_path):
    g = models.conv2d_net()
    g.node("conv1").attrs["io"] = "sideways"
    with pytest.raises(ConfigError, match="conv1.*sideways"):
        write_verilog(g, tmp_path / "x")
    with pytest.raises(ConfigError, match="io 'both'"):
        write_verilog(models.conv2d_net(), tmp_path / "y", options={"io": "both"})


# ----------------------------------------------------------------------------- HLS
@pytest.mark.parametrize("name", list(CASES))
def test_stream_hls_csim_equals_golden(name, tmp_path):
    """The line-buffer walk in C++ (ap_types compiled by g++) == golden, bit for bit."""
    from qhw.backends.hls import run_raw, write_hls
    from qhw.golden import run_raw as golden_raw

    make, _ = CASES[name]
    g = make()
    p = write_hls(g, tmp_path / "hls", io="stream")
    walked = [n.name for n in g.nodes() if n.op.startswith(("conv", "maxpool", "avgpool"))]
    for n in walked:
        text = next((tmp_path / "hls" / f).read_text() for f in p.files
                    if f.startswith("layers/") and f.endswith(".h") and n.replace(".", "_") in f)
        assert "line buffer" in text, n
    raw = models.random_inputs(g, 200, seed=11)
    got = run_raw(tmp_path / "hls", raw)
    want = golden_raw(g, raw).outputs
    for out in want:
        bad = np.argwhere(got[out] != want[out])
        assert not len(bad), (name, out, len(bad), tuple(bad[0]))
