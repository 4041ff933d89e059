"""The CIFAR-size CNN of issue 18 (benchmarks/bench_scale.py) compiled and simulated in CI.

3x32x32 -> three 3x3 convolutions (16, 32, 32 channels, 'same', ReLU, 2x2 max pool after each)
-> dense 10, 4-bit weights, 8-bit activations: the whole ``qhw compile`` flow (``--io auto``
streams the convolutions), then the RTL under Verilator (the simulation flavour: loop kernels,
see qhw.backends.verilog.stream.mac_loop_twin) with random input gaps and output stalls, and
the HLS C simulation under g++. Oracle: the golden model's codes (qhw.golden, numpy; its
conv/pool/dense semantics are checked against PyTorch and onnxruntime in their own tests).
A few images only: one image is 1,156 cycles and about 2.2 million products. Both builds are
content-hashed, so a warm cache costs seconds; cold, about 30 + 5 CPU seconds.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from qhw.backends.hls import sim as hls_sim
from qhw.backends.verilog import write_verilog
from qhw.backends.verilog.mac_loop import LOOP_TWIN_PRODUCTS
from qhw.flow import GraphBuilder
from qhw.testing import models
from qhw.verify.compile import compile_graph
from qhw.verify.stream import run_harness
from qhw.verify.vectors import golden_vectors, write_vectors

IMAGES = 4


@pytest.fixture(scope="module")
def cnn_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("scale_cnn") / "cnn"
    report = compile_graph(models.cnn(size=32), out, ("rtl", "hls"), {}, n_vectors=IMAGES, seed=3)
    return out, report


def test_cnn_streams_its_convolutions_and_stays_small(cnn_out):
    out, report = cnn_out
    streamed = {la["node"] for la in report["layers"] if la.get("io") == "stream"}
    assert {"conv1", "pool1", "conv2", "pool2", "conv3", "pool3"} <= streamed
    man = json.loads((out / "rtl" / "design.json").read_text())
    # issue 18: Verilog <= 5 MB (was 153 MB unrolled); the hierarchical files alone
    size = sum((out / "rtl" / f).stat().st_size for f in man["files"])
    assert size < 5e6, size
    # the kernels Verilator simulates are the loop twins; synthesis reads the hierarchical ones
    twins = [f for f in man["sim_files"] if f.startswith("sim/")]
    assert {f"sim/{man['top']}_s_conv{i}_k.v" for i in (1, 2, 3)} <= set(twins), twins
    # one image enters as 32 x 32 pixels; conv1 walks the 34 x 34 padded image
    conv1 = next(la for la in report["layers"] if la["node"] == "conv1")
    assert conv1["padded"] == [34, 34] and conv1["ii"] == 34 * 34
    assert report["ii"] == 34 * 34


def test_cnn_rtl_equals_golden_under_gaps_and_stalls(cnn_out):
    out, report = cnn_out
    res = run_harness(out / "rtl", out / "vectors", seed=7, gap=0.2, stall=0.2)
    assert res.ok, res.summary()
    assert res.samples == IMAGES
    assert res.cycles >= IMAGES * report["ii"]


def test_cnn_hls_csim_equals_golden(cnn_out):
    out, _ = cnn_out
    res = hls_sim.csim(out)
    assert res.samples == IMAGES
    assert res.mismatches == 0, res.details


def _big_dense():
    """Two dense layers over LOOP_TWIN_PRODUCTS (the second folded by R = 3, latency R + 1)
    between small ones; unsigned activations after the ReLU."""
    rng = np.random.default_rng(21)
    b = GraphBuilder("big_dense")
    t = b.input("x", (300,), "ap_fixed<6,2>")
    t = b.dense("fc1", t, rng.standard_normal((300, 64)) * 0.1, rng.standard_normal(64) * 0.1,
                formats={"weight": "ap_fixed<4,1>", "result": "ap_ufixed<8,3>"})
    t = b.relu("r1", t)
    t = b.dense("fc2", t, rng.standard_normal((64, 300)) * 0.2, rng.standard_normal(300) * 0.1,
                formats={"weight": "ap_fixed<5,1>", "result": "ap_fixed<8,3>"}, reuse_factor=3)
    t = b.dense("fc3", t, rng.standard_normal((300, 5)) * 0.1, None)
    b.output("y", t)
    return b.build(default="ap_fixed<10,4>")


def test_big_parallel_layers_simulate_as_loops_equal_golden(tmp_path):
    """A parallel design's MAC layers above LOOP_TWIN_PRODUCTS get the loop twin (only those);
    RTL == golden under gaps and stalls, one of them folded."""
    g = _big_dense()
    d = write_verilog(g, tmp_path / "rtl")
    assert 300 * 64 > LOOP_TWIN_PRODUCTS
    for module, loops in ((f"{d.top}_fc1", True), (f"{d.top}_fc2", True), (f"{d.top}_fc3", False)):
        twin = d.rtl_dir / "sim" / f"{module}.v"
        assert ("ce && start" in twin.read_text()) == loops if twin.is_file() else not loops
    ins, exp = golden_vectors(g, 40, seed=8)
    write_vectors(tmp_path / "vectors", ins, exp)
    res = run_harness(tmp_path / "rtl", tmp_path / "vectors", seed=5, gap=0.3, stall=0.3)
    assert res.ok, res.summary()
    assert res.samples == 40
