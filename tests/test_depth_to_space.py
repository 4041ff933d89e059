"""depth_to_space (ONNX DepthToSpace, DCR and CRD): golden == onnxruntime through the ONNX
importer and == PyTorch's pixel_shuffle (CRD); HLS C simulation and RTL == golden; bad
attributes are one clear error each."""
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


def _net(mode, b=2, shape=(2, 3, 8)):
    g = GraphBuilder(f"d2s_{mode.lower()}")
    x = g.input("x", shape, "ap_fixed<8,3>")
    d = g.node("d2s", "depth_to_space", [x], {"block_size": b, "mode": mode},
               formats={"result": "ap_fixed<6,2,AP_RND,AP_SAT>"})
    g.output("y", g.relu("relu", d))
    return g.build()


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_golden_equals_onnxruntime(mode):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto as TP
    from onnx import helper as h

    from qhw.frontends import load_onnx

    node = h.make_node("DepthToSpace", ["x"], ["y"], blocksize=2, mode=mode, name="d2s")
    m = h.make_model(h.make_graph([node], "d2s", [h.make_tensor_value_info("x", TP.FLOAT, ["N", 8, 2, 3])],
                                  [h.make_tensor_value_info("y", TP.FLOAT, ["N", 2, 4, 6])]),
                     opset_imports=[h.make_opsetid("", 13)])
    m.ir_version = 8
    g = load_onnx(m)
    assert g.node("d2s").op == "depth_to_space"
    x = np.random.default_rng(0).normal(size=(5, 8, 2, 3)).astype(np.float32)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": x})[0]
    got = golden.run(g, np.moveaxis(x, 1, -1).astype(np.float64), float_mode=True).output()
    np.testing.assert_array_equal(np.moveaxis(got, -1, 1), want)


def test_crd_equals_torch_pixel_shuffle_on_codes():
    torch = pytest.importorskip("torch")
    g = _net("CRD")
    raw = models.random_inputs(g, 20, seed=1)
    res = golden.run_raw(g, raw, keep_all=True)
    x = g.node("x").formats["result"].to_float(raw["x"])
    want = torch.nn.functional.pixel_shuffle(torch.from_numpy(np.moveaxis(x, -1, 1)), 2).numpy()
    want = g.node("d2s").formats["result"].quantize(np.moveaxis(want, 1, -1))
    np.testing.assert_array_equal(res.tensors["d2s"], want)


@pytest.mark.parametrize("attrs,match", [({"block_size": 3, "mode": "DCR"}, "multiple of block_size"),
                                         ({"block_size": 2, "mode": "XYZ"}, "mode 'XYZ'"),
                                         ({"block_size": 0, "mode": "DCR"}, "positive integer")])
def test_bad_attributes_are_one_clear_error(attrs, match):
    g = GraphBuilder("bad")
    x = g.input("x", (2, 2, 8), "ap_fixed<8,3>")
    g.output("y", g.node("d2s", "depth_to_space", [x], attrs))
    with pytest.raises(ModelError, match=r"depth_to_space 'd2s'.*" + match):
        g.build()


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_hls_and_rtl_equal_golden(mode, tmp_path):
    g = _net(mode)
    raw = models.random_inputs(g, 150, seed=3)
    want = golden.run_raw(g, raw).output()
    write_hls(g, tmp_path / "hls")
    np.testing.assert_array_equal(hls_run_raw(tmp_path / "hls", raw)["y"], want)
    d = write_verilog(g, tmp_path / "rtl")
    check_design(d)
    write_vectors(tmp_path / "vectors", [raw["x"]], [want])
    sim = run_harness(tmp_path / "rtl", tmp_path / "vectors", seed=5, gap=0.3, stall=0.3)
    assert sim.ok and sim.samples == 150, sim.summary()
