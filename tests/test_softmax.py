"""softmax: golden == a scalar reference written from the op's definition; error vs bits;
argmax ties; HLS C simulation and RTL == golden; ONNX Softmax import; errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from qhw import golden
from qhw.backends.hls import run_raw as hls_run_raw
from qhw.backends.hls import write_hls
from qhw.backends.verilog import write_verilog
from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.flow import GraphBuilder
from qhw.testing import models
from qhw.verify.stream import run_harness
from qhw.verify.vectors import write_vectors
from rtl_checks import check_design


def _rom_entry(f, lo: float, span: float, size: int, in_lsb: float, code: int, tf: FixedFormat):
    """The entry a qhw-convention ROM gives input code ``code``, from the definition: bins of
    span/size, the function at the bin's middle input code, clipped, quantized (saturating)."""
    per_bin = span / size / in_lsb  # input codes per bin
    lo_code = lo / in_lsb
    i = min(max(math.floor((code - lo_code) / per_bin), 0), size - 1)
    mid = lo_code + i * per_bin + (per_bin - 1) / 2 if per_bin >= 1 else lo_code + i * per_bin
    with np.errstate(divide="ignore"):
        v = f(mid * in_lsb)
    v = min(max(v, max(0.0, tf.min)), tf.max)
    return int(tf.with_modes(overflow="SAT").quantize(v))


def _reference(node, x_raw, xf: FixedFormat):
    ef, rf, res = node.formats["exp_table"], node.formats["inv_table"], node.formats["result"]
    size, n = int(node.attrs["table_size"]), len(x_raw)
    dlsb = xf.lsb
    m = max(x_raw)
    e = [_rom_entry(math.exp, -8.0, 8.0, size, dlsb, int(v - m), ef) for v in x_raw]
    s = sum(e)
    span = float(2 ** max(1, math.ceil(math.log2(n))))
    acc_lsb = 2.0 ** -ef.frac_bits
    r = _rom_entry(lambda v: 1.0 / v if v else math.inf, 0.0, span, size, acc_lsb, s, rf)
    return [int(res.quantize(ef.to_float(c) * rf.to_float(r))) for c in e]


def test_golden_equals_the_reference_from_the_definition():
    g = models.softmax_net()
    node = g.node("sm")
    xf = g.node("fc").formats["result"]
    x = np.random.default_rng(3).integers(-2048, 2048, (40, 8))
    t = golden.run_raw(g, x, keep_all=True).tensors
    for k in range(len(x)):
        assert t["sm"][k].tolist() == _reference(node, t["fc"][k].tolist(), xf), k


def test_error_vs_float_shrinks_with_bits():
    x = np.random.default_rng(4).standard_normal((400, 8))
    errs = []
    for bits in (8, 12, 16):  # beyond, 2**14-entry tables set the floor
        b = GraphBuilder("sm")
        t = b.input("x", (8,), "ap_fixed<16,4>")
        b.output("y", b.unary("softmax", "sm", t, {"exp_table": f"ap_ufixed<{bits},1,AP_RND,AP_SAT>",
                                                   "inv_table": f"ap_ufixed<{bits},2,AP_RND,AP_SAT>",
                                                   "result": f"ap_ufixed<{bits},1,AP_RND,AP_SAT>"},
                              table_size=2 ** min(bits, 14)))
        g = b.build()
        q = golden.to_float(g, golden.run(g, x))["y"]
        f = golden.run(g, x, float_mode=True).output()
        errs.append(float(np.abs(q - f).max()))
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-3


def test_argmax_takes_the_first_maximum():
    b = GraphBuilder("am")
    t = b.input("x", (4,), "ap_int<4>")
    b.output("y", b.unary("softmax", "am", t, variant="argmax"))
    g = b.build()
    raw = np.array([[1, 3, 3, 0], [-8, -8, -8, -8], [0, 0, 0, 7], [5, 1, 5, 2]])
    assert golden.run_raw(g, raw).output()[:, 0].tolist() == [1, 0, 3, 0]
    assert g.node("am").formats["result"] == FixedFormat(2, 2, False)


@pytest.mark.parametrize("variant", ["stable", "argmax"])
def test_hls_and_rtl_equal_golden(variant, tmp_path):
    g = models.softmax_net(variant)
    x = np.random.default_rng(5).integers(-2048, 2048, (300, 8))
    want = golden.run_raw(g, x).outputs["y"]
    write_hls(g, tmp_path / "hls")
    np.testing.assert_array_equal(hls_run_raw(tmp_path / "hls", x)["y"], want)
    d = write_verilog(g, tmp_path / "rtl")
    check_design(d)
    write_vectors(tmp_path / "vectors", [x], [want])
    sim = run_harness(tmp_path / "rtl", tmp_path / "vectors", seed=1, gap=0.3, stall=0.3)
    assert sim.ok and sim.samples == 300, sim.summary()


def test_bad_softmax_names_the_node():
    b = GraphBuilder("bad")
    t = b.input("x", (2, 3), "ap_fixed<8,3>")
    b.output("y", b.unary("softmax", "sm", t))
    with pytest.raises(ModelError, match="sm.*vector"):
        b.build()
    b = GraphBuilder("bad2")
    t = b.input("x", (3,), "ap_fixed<8,3>")
    b.output("y", b.unary("softmax", "sm", t, variant="fast"))
    with pytest.raises(ModelError, match="sm.*variant"):
        b.build()


def test_onnx_softmax_imports_and_matches_onnxruntime():
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    from qhw.frontends import load_onnx

    w = np.random.default_rng(8).standard_normal((6, 4)).astype(np.float32)
    graph = h.make_graph([h.make_node("MatMul", ["x", "w"], ["z"], name="fc"),
                          h.make_node("Softmax", ["z"], ["y"], name="prob", axis=-1)], "sm",
                         [h.make_tensor_value_info("x", TP.FLOAT, [None, 6])],
                         [h.make_tensor_value_info("y", TP.FLOAT, [None, 4])], [nh.from_array(w, "w")])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])
    g = load_onnx(model)
    assert g.node("prob").op == "softmax"
    x = np.random.default_rng(9).standard_normal((200, 6)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(golden.run(g, x, float_mode=True).output(), want, atol=1e-6)
    q = golden.to_float(g, golden.run(g, x))[g.output_names[0]]
    assert np.abs(q - want).max() < 0.02
