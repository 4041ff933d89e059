"""Quantized elementwise functions as code tables: a float model with Sigmoid / Tanh /
LeakyRelu / HardSigmoid after Gemm layers, quantized by onnxruntime's quantize_static (QDQ: the
function between DequantizeLinear and QuantizeLinear; QOperator: com.microsoft QLinearSigmoid /
QLinearLeakyRelu). ``qhw predict`` through the CLI == onnxruntime on every output: the table is
onnxruntime's own output code for every input code, and everything else is the integer lowering
(a float32 requantization tie may move one output code; counted)."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
quantization = pytest.importorskip("onnxruntime.quantization")

from click.testing import CliRunner  # noqa: E402
from onnx import TensorProto as TP  # noqa: E402
from onnx import helper as h  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402

from qhw.cli import cli  # noqa: E402
from qhw.io import load_model  # noqa: E402
from onnx_helpers import calibration_reader, compile_and_simulate  # noqa: E402


def _model(fn: str, attrs: dict):
    rng = np.random.default_rng(1)
    arrs = {"w1": rng.normal(size=(8, 16)) * 0.6, "b1": rng.normal(size=16) * 0.2,
            "w2": rng.normal(size=(16, 4)) * 0.4, "b2": rng.normal(size=4) * 0.1}
    nodes = [h.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"),
             h.make_node(fn, ["h"], ["a"], name="act", **attrs),
             h.make_node("Gemm", ["a", "w2", "b2"], ["y"], name="fc2")]
    g = h.make_graph(nodes, "m", [h.make_tensor_value_info("x", TP.FLOAT, [None, 8])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [None, 4])],
                     [nh.from_array(v.astype(np.float32), k) for k, v in arrs.items()])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])



@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("fn,attrs", [("Sigmoid", {}), ("LeakyRelu", {"alpha": 0.1}),
                                      ("Tanh", {}), ("HardSigmoid", {})])
def test_code_table_predict_equals_onnxruntime(tmp_path, fn, attrs, fmt):
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(_model(fn, attrs), src)
    quantization.quantize_static(str(src), str(dst), calibration_reader((8,), 32),
                                 quant_format=getattr(quantization.QuantFormat, fmt),
                                 activation_type=quantization.QuantType.QUInt8,
                                 weight_type=quantization.QuantType.QInt8)
    ops = {n.op_type for n in onnx.load(dst).graph.node}
    if fn not in ops and f"QLinear{fn}" not in ops:
        pytest.skip(f"onnxruntime's quantizer leaves {fn} in float ({fmt})")
    graph = load_model(dst)
    assert any(n.op == "code_table" for n in graph.nodes())
    x = np.random.default_rng(5).normal(size=(2000, 8)).astype(np.float32) * 1.5
    np.save(tmp_path / "x.npy", x)
    r = CliRunner().invoke(cli, ["predict", str(dst), "--input", str(tmp_path / "x.npy"),
                                 "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    y = np.load(tmp_path / "y.npy")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    ref = ort.InferenceSession(str(dst), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    lsb = float(graph.node(graph.output_names[0]).qparams.scale)
    off = np.abs(y.astype(np.float64) - ref) / lsb
    assert off.max() <= 1.0 + 1e-6 and (off > 0.5).mean() <= 1e-3, (off > 0.5).sum()


@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_code_table_compiles_and_simulates(tmp_path, backend):
    """The code table in RTL (a ROM per element, Verilator) and HLS C++ (g++) == golden."""
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(_model("Sigmoid", {}), src)
    quantization.quantize_static(str(src), str(dst), calibration_reader((8,), 32), quant_format=quantization.QuantFormat.QDQ,
                                 activation_type=quantization.QuantType.QInt8,
                                 weight_type=quantization.QuantType.QInt8)
    compile_and_simulate(dst, tmp_path / "out", backend, 100)
