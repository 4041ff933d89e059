"""ONNX QDQ / QOperator import: the lowered integer graph == onnxruntime on models quantized by
onnxruntime's own static quantizer; onnxruntime's float32 requantization vs qhw's exact one;
one clear error per unsupported or inexact case."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
quantization = pytest.importorskip("onnxruntime.quantization")

from onnx import TensorProto as TP  # noqa: E402
from onnx import helper as h  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402

from qhw import golden  # noqa: E402
from qhw.errors import ModelError  # noqa: E402
from qhw.frontends import load_onnx, onnx_kind  # noqa: E402
from qhw.frontends.onnx_qdq import import_qdq  # noqa: E402
from qhw.frontends.report import MappingReport  # noqa: E402
from qhw.io import load_model  # noqa: E402
from qhw.passes.lower_affine import (  # noqa: E402
    dequantize_outputs,
    ort_requantize_reference,
    output_codes,
    quantize_inputs,
)
from onnx_helpers import calibration_reader  # noqa: E402


def _mlp(rng):
    w1 = (rng.normal(size=(16, 32)) * 0.3).astype(np.float32)
    w2 = (rng.normal(size=(32, 5)) * 0.3).astype(np.float32)
    b1, b2 = (rng.normal(size=32) * 0.1).astype(np.float32), (rng.normal(size=5) * 0.1).astype(np.float32)
    nodes = [h.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"),
             h.make_node("Relu", ["h"], ["r"], name="relu1"),
             h.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2")]
    inits = [nh.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))]
    g = h.make_graph(nodes, "mlp", [h.make_tensor_value_info("x", TP.FLOAT, [None, 16])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [None, 5])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), (16,)


def _cnn(rng):
    arrs = {"w1": rng.normal(size=(8, 3, 3, 3)) * 0.3, "b1": rng.normal(size=8) * 0.1,
            "w2": rng.normal(size=(8, 8, 3, 3)) * 0.2, "b2": rng.normal(size=8) * 0.1,
            "w3": rng.normal(size=(8 * 4 * 4, 4)) * 0.1, "b3": rng.normal(size=4) * 0.1}
    nodes = [h.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             h.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             h.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             h.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
             h.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             h.make_node("Flatten", ["r2"], ["f"], name="flat"),
             h.make_node("Gemm", ["f", "w3", "b3"], ["y"], name="fc")]
    inits = [nh.from_array(v.astype(np.float32), k) for k, v in arrs.items()]
    g = h.make_graph(nodes, "cnn", [h.make_tensor_value_info("x", TP.FLOAT, [None, 3, 8, 8])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [None, 4])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), (3, 8, 8)



CASES = [(net, fmt, pc, act) for net in ("mlp", "cnn") for fmt in ("QDQ", "QOperator")
         for pc in (False, True) for act in ("QInt8",)] + [("cnn", "QDQ", True, "QUInt8"),
                                                          ("mlp", "QOperator", False, "QUInt8")]


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """(path, input shape) of every case, quantized once by onnxruntime.quantization."""
    d = tmp_path_factory.mktemp("qdq")
    out = {}
    for i, (net, fmt, pc, act) in enumerate(CASES):
        model, shape = (_mlp if net == "mlp" else _cnn)(np.random.default_rng(i))
        src = d / f"{net}_{i}.onnx"
        onnx.save(model, src)
        dst = d / f"{net}_{fmt}_{pc}_{act}.onnx"
        quantization.quantize_static(str(src), str(dst), calibration_reader(shape, 16, seed=100 + i),
                                     quant_format=getattr(quantization.QuantFormat, fmt), per_channel=pc,
                                     activation_type=getattr(quantization.QuantType, act),
                                     weight_type=quantization.QuantType.QInt8)
        out[(net, fmt, pc, act)] = (dst, shape)
    return out


def _channels_last(x):
    return x if x.ndim == 2 else np.moveaxis(x, 1, -1)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_golden_equals_onnxruntime(quantized, case):
    path, shape = quantized[case]
    graph, report = import_qdq(path)
    x = np.random.default_rng(7).normal(size=(3000,) + shape).astype(np.float32) * 1.5
    y_ort = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    raw = golden.run_raw(graph, quantize_inputs(graph, _channels_last(x))).output()
    y = dequantize_outputs(graph, raw)
    lsb = np.float32(graph.node(graph.output_names[0]).qparams.scale)
    off = np.abs(y.astype(np.float64) - y_ort) / lsb
    # float32 double rounding in onnxruntime's requantization can move a tie by one code
    assert off.max() <= 1.0 + 1e-6
    assert (off > 0.5).mean() <= 1e-3, f"{(off > 0.5).sum()} of {off.size} outputs differ"
    # every node is integer: inputs are codes, constants integers, no float op survives
    for node in graph.nodes():
        for slot, fmt in node.formats.items():
            if slot != "bias" and node.op != "requantize":
                assert fmt.is_integer, (node.name, slot, fmt)
    assert "QuantizeLinear" in report.format_table()


def test_output_codes_are_onnxruntime_codes(quantized):
    """The QOperator model's quantized output (before its DequantizeLinear) equals q = d + z."""
    path, shape = quantized[("cnn", "QOperator", True, "QInt8")]
    model = onnx.load(path)
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"][-1]
    model.graph.output.append(h.make_tensor_value_info(dq.input[0], TP.INT8, None))
    x = np.random.default_rng(3).normal(size=(500,) + shape).astype(np.float32)
    codes_ort = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[1]
    graph, _ = import_qdq(path)
    codes = output_codes(graph, golden.run_raw(graph, quantize_inputs(graph, _channels_last(x))).output())
    assert np.abs(codes - codes_ort).max() <= 1
    assert (codes != codes_ort).mean() <= 1e-3


# ---------------------------------------------------------------------- the documented difference
def _qlinear_matmul(sx, zx, w, sw, sy, zy):
    """A single QLinearMatMul (uint8 activations, int8 weights) as onnxruntime runs it."""
    k, m = w.shape
    inits = [nh.from_array(np.float32(sx), "sx"), nh.from_array(np.uint8(zx), "zx"),
             nh.from_array(w.astype(np.int8), "w"), nh.from_array(np.float32(sw), "sw"),
             nh.from_array(np.int8(0), "zw"), nh.from_array(np.float32(sy), "sy"),
             nh.from_array(np.uint8(zy), "zy")]
    nodes = [h.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"], name="qx"),
             h.make_node("QLinearMatMul", ["xq", "sx", "zx", "w", "sw", "zw", "sy", "zy"], ["yq"], name="mm"),
             h.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"], name="dq")]
    g = h.make_graph(nodes, "qmm", [h.make_tensor_value_info("x", TP.FLOAT, [None, k])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [None, m]),
                      h.make_tensor_value_info("yq", TP.UINT8, [None, m])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 13)])


def test_float32_requantization_difference_is_the_tie_band():
    """onnxruntime rounds fl32(fl32(acc) * m32) to an integer; qhw rounds acc * m32 exactly.
    They differ exactly where the float32 product lands on a half-integer the exact one misses."""
    rng = np.random.default_rng(11)
    k, m = 64, 16
    w = rng.integers(-127, 128, size=(k, m))
    sx, zx, sw, sy, zy = 0.0123, 131, 0.00731, 0.0517, 97
    model = _qlinear_matmul(sx, zx, w, sw, sy, zy)
    x = rng.normal(size=(20000, k)).astype(np.float32)
    y_ort, q_ort = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    graph, _ = import_qdq(model)
    d = quantize_inputs(graph, x)
    acc = d @ w  # an independent integer accumulation
    # the reference model of onnxruntime's float requantization is onnxruntime, exactly
    ref = ort_requantize_reference(acc, sx, sw, sy, zy, 0, 255)
    np.testing.assert_array_equal(ref, q_ort)
    ours = output_codes(graph, golden.run_raw(graph, d).outputs["y"], "y")
    m32 = np.float64((np.float32(sx) * np.float32(sw)) / np.float32(sy))
    exact = acc * m32  # exact in float64: 17-bit acc times a 24-bit mantissa
    np.testing.assert_array_equal(ours, np.clip(np.rint(exact), -zy, 255 - zy) + zy)
    diff = ours != q_ort
    # where they differ, the exact product is within half a float32 ulp of a tie
    frac = np.abs(exact - np.floor(exact) - 0.5)
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert np.all(frac[diff] <= ulp[diff])
    assert np.all(np.abs(ours - q_ort.astype(np.int64)) <= 1)


# ---------------------------------------------------------------------- dispatch and report
def test_load_model_dispatches_quantized_onnx(quantized):
    path, _ = quantized[("mlp", "QDQ", False, "QInt8")]
    g = load_model(path)
    assert onnx_kind(onnx.load(path)) == "qdq"
    assert any(n.op == "requantize" for n in g.nodes())
    rep = MappingReport()
    load_onnx(path, report=rep)
    table = rep.format_table()
    assert "fc1" in table and "requantize" in table and "int8" in table


# ---------------------------------------------------------------------- errors
def _qdq_with(op_node, extra_inits=()):
    inits = [nh.from_array(np.float32(0.05), "s"), nh.from_array(np.int8(0), "z"), *extra_inits]
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="qx"),
             h.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"], name="dqx"),
             op_node,
             h.make_node("QuantizeLinear", ["t", "s", "z"], ["tq"], name="qt"),
             h.make_node("DequantizeLinear", ["tq", "s", "z"], ["y"], name="dqy")]
    g = h.make_graph(nodes, "bad", [h.make_tensor_value_info("x", TP.FLOAT, [None, 8])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [None, 8])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def test_corrupt_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a protobuf")
    with pytest.raises(ModelError, match="cannot read ONNX file"):
        load_model(bad)


def test_unsupported_op_names_the_node():
    with pytest.raises(ModelError, match=r"'hmax'.*Hardmax.*not supported.*supported: QuantizeLinear"):
        import_qdq(_qdq_with(h.make_node("Hardmax", ["xd"], ["t"], name="hmax")))


def test_float_weights_are_not_an_exact_mapping():
    w = nh.from_array(np.eye(8, dtype=np.float32) * 0.3, "w")
    with pytest.raises(ModelError, match=r"'mm'.*weight is not quantized"):
        import_qdq(_qdq_with(h.make_node("MatMul", ["xd", "w"], ["t"], name="mm"), [w]))


def test_mismatched_dequantize_is_an_error():
    inits = [nh.from_array(np.float32(0.05), "s"), nh.from_array(np.float32(0.07), "s2"),
             nh.from_array(np.int8(0), "z")]
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="qx"),
             h.make_node("DequantizeLinear", ["xq", "s2", "z"], ["y"], name="dq_wrong")]
    g = h.make_graph(nodes, "bad", [h.make_tensor_value_info("x", TP.FLOAT, [None, 8])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [None, 8])], inits)
    with pytest.raises(ModelError, match=r"'dq_wrong'.*differ from the quantization"):
        import_qdq(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]))


def test_per_axis_activation_is_an_error():
    inits = [nh.from_array(np.full(8, 0.05, np.float32), "s"), nh.from_array(np.zeros(8, np.int8), "z")]
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"], name="q_axis", axis=1),
             h.make_node("DequantizeLinear", ["xq", "s", "z"], ["y"], name="dq", axis=1)]
    g = h.make_graph(nodes, "bad", [h.make_tensor_value_info("x", TP.FLOAT, [None, 8])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [None, 8])], inits)
    with pytest.raises(ModelError, match=r"'q_axis'.*per-axis"):
        import_qdq(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]))


def test_float_in_float_out_like_onnxruntime(quantized, tmp_path):
    """golden.run / to_float and `qhw predict` take and give real values on a quantized graph
    (the input and output nodes carry the affine encoding), as onnxruntime's session does."""
    from click.testing import CliRunner

    from qhw.cli import cli

    path, shape = quantized[("cnn", "QDQ", True, "QUInt8")]
    graph = load_model(path)
    assert graph.node(graph.input_names[0]).attrs["encoding"] == "affine"
    x = np.random.default_rng(11).normal(size=(800,) + shape).astype(np.float32)
    y_ort = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    x = _channels_last(x)  # qhw's layout
    y = golden.to_float(graph, golden.run(graph, x))[graph.output_names[0]]
    lsb = float(graph.node(graph.output_names[0]).qparams.scale)
    assert np.abs(y - y_ort).max() <= lsb * (1 + 1e-6)
    assert (np.abs(y - y_ort) > lsb / 2).mean() <= 1e-3
    np.save(tmp_path / "x.npy", x)
    r = CliRunner().invoke(cli, ["predict", str(path), "--input", str(tmp_path / "x.npy"),
                                 "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output + r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), y)
