"""upsample (nearest neighbour, integer factors): golden == PyTorch's interpolate on the same
values; RTL (Verilator) and HLS C simulation (g++) == golden; bad factors are one clear error."""
from __future__ import annotations

import numpy as np
import pytest

from qhw import golden
from qhw.backends.hls import run_raw as hls_run_raw
from qhw.backends.hls import write_hls
from qhw.backends.verilog import write_verilog
from qhw.errors import ModelError
from qhw.flow import GraphBuilder
from qhw.testing import models
from qhw.verify.stream import run_harness
from qhw.verify.vectors import write_vectors
from rtl_checks import check_design


def _net2d(channels: int = 3, outputs: int = 4):
    """conv -> upsample (2, 3) -> relu -> saturating result -> flatten -> dense
    (tests/generated_snapshot.py writes the default)."""
    rng = np.random.default_rng(4)
    b = GraphBuilder("up2d")
    x = b.input("x", (3, 2, 2), "ap_fixed<8,3>")
    c = b.conv2d("conv", x, rng.standard_normal((2, 2, 2, channels)) * 0.5,
                 rng.standard_normal(channels) * 0.1, padding="same")
    u = b.upsample("up", c, [2, 3], formats={"result": "ap_fixed<7,2,AP_RND,AP_SAT>"})
    r = b.relu("relu", u)
    d = b.dense("fc", b.flatten("flat", r), rng.standard_normal((36 * channels, outputs)) * 0.2, None)
    b.output("y", d)
    b.output("y_up", u)
    return b.build(default="ap_fixed<12,4>")


def _net1d():
    b = GraphBuilder("up1d")
    x = b.input("x", (5, 2), "ap_fixed<6,2>")
    b.output("y", b.upsample("up", x, 3))
    return b.build()


def test_golden_equals_torch_interpolate():
    torch = pytest.importorskip("torch")
    for g, factors in ((_net2d(), (2, 3)), (_net1d(), (3,))):
        res = golden.run_raw(g, models.random_inputs(g, 20, seed=1), keep_all=True)
        up = g.node("up")
        src = g.node(up.inputs[0])
        x = src.formats["result"].to_float(res.tensors[src.name])  # (N, *spatial, C)
        t = torch.from_numpy(np.moveaxis(x, -1, 1))  # channels first for torch
        want = torch.nn.functional.interpolate(t, scale_factor=factors, mode="nearest").numpy()
        want = up.formats["result"].quantize(np.moveaxis(want, 1, -1))
        np.testing.assert_array_equal(res.tensors["up"], want)
        assert res.tensors["up"].shape[1:] == up.shape


def test_saturation_in_the_result_format_is_counted():
    g = _net2d()
    res = golden.run_raw(g, models.random_inputs(g, 50, seed=2), count_overflow=True)
    assert res.overflow["up"].saturated > 0


@pytest.mark.parametrize("scale", [[2], [0, 2], [1.5, 2], "2"])
def test_bad_factors_are_one_clear_error(scale):
    b = GraphBuilder("bad")
    x = b.input("x", (3, 3, 1), "ap_fixed<8,3>")
    b.output("y", b.upsample("up", x, scale))
    with pytest.raises(ModelError, match=r"upsample 'up': scale"):
        b.build()


@pytest.mark.parametrize("make", [_net2d, _net1d])
def test_hls_csim_equals_golden(make, tmp_path):
    g = make()
    raw = models.random_inputs(g, 200, seed=3)
    write_hls(g, tmp_path / "hls")
    got = hls_run_raw(tmp_path / "hls", raw)
    for name, want in golden.run_raw(g, raw).outputs.items():
        np.testing.assert_array_equal(got[name], want, err_msg=name)


def _net2d_small():
    """_net2d with two channels and two outputs: the dense layer's 144 constant products, not
    432, most of the Yosys time (92 s -> 45 s of Yosys at load 6)."""
    return _net2d(channels=2, outputs=2)


# slow (_net2d_small: 57 s cold at load 6, Yosys and a Verilator build): near the end of the
# collection, so unmarked it started late and ran alone at the end of the CI run
@pytest.mark.parametrize("make", [pytest.param(_net2d_small, marks=pytest.mark.slow), _net1d])
def test_rtl_equals_golden_under_backpressure(make, tmp_path):
    g = make()
    d = write_verilog(g, tmp_path / "rtl")
    check_design(d)
    raw = models.random_inputs(g, 150, seed=4)
    out = golden.run_raw(g, raw).outputs
    write_vectors(tmp_path / "vectors", [raw[n] for n in g.input_names], [out[n] for n in g.output_names])
    sim = run_harness(tmp_path / "rtl", tmp_path / "vectors", seed=5, gap=0.3, stall=0.3)
    assert sim.ok and sim.samples == 150, sim.summary()
