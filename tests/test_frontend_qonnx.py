"""QONNX import: the lowered integer graph == qonnx's own executor (qonnx.core.onnx_exec) on
Quant/Trunc models, every integer rounding mode; bundled qonnx models and unsupported nodes give
one clear error naming the node."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
qonnx = pytest.importorskip("qonnx")

from onnx import TensorProto as TP  # noqa: E402
from onnx import helper as h  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.core.onnx_exec import execute_onnx  # noqa: E402
from qonnx.transformation.infer_shapes import InferShapes  # noqa: E402

from qhw import golden  # noqa: E402
from qhw.errors import ModelError  # noqa: E402
from qhw.frontends import load_onnx, onnx_kind  # noqa: E402
from qhw.frontends.qonnx import import_qonnx  # noqa: E402
from qhw.passes.lower_affine import quantize_inputs  # noqa: E402

D = "qonnx.custom_op.general"
N = 64
DATA = Path(qonnx.__file__).parent / "data" / "onnx"


def _c(name, value):
    return nh.from_array(np.asarray(value, np.float32), name)


def _quant(x, s, z, b, out, name, signed=1, narrow=0, mode="ROUND"):
    return h.make_node("Quant", [x, s, z, b], [out], domain=D, signed=signed, narrow=narrow,
                       rounding_mode=mode, name=name)


def _net(pow2: bool, mode: str, seed: int = 0):
    """Quant(in) -> Conv(4-bit per-channel weights, bias) -> Relu -> Quant(uint4, mode) -> MaxPool
    -> Flatten -> MatMul(8-bit weights) -> Add(bias) -> Quant(int8)."""
    rng = np.random.default_rng(seed)
    ws1 = (2.0 ** -rng.integers(2, 8, 8) if pow2 else rng.uniform(0.01, 0.05, 8)).reshape(8, 1, 1, 1)
    b1 = rng.integers(-20, 20, 8) * 2.0**-9 if pow2 else rng.normal(size=8) * 0.2
    b2 = rng.integers(-50, 50, 5) * 2.0**-9 if pow2 else rng.normal(size=5) * 0.1
    inits = [_c("s_in", 2.0**-4 if pow2 else 0.0371), _c("z0", 0), _c("b8", 8), _c("b4", 4),
             _c("w1", rng.normal(size=(8, 3, 3, 3)) * 0.1), _c("ws1", ws1), _c("b1", b1),
             _c("s_a", 2.0**-3 if pow2 else 0.093), _c("w2", rng.normal(size=(128, 5)) * 0.1),
             _c("ws2", 2.0**-6 if pow2 else 0.0123), _c("b2", b2), _c("s_o", 2.0**-2 if pow2 else 0.2113)]
    nodes = [_quant("x", "s_in", "z0", "b8", "xq", "qin"),
             _quant("w1", "ws1", "z0", "b4", "w1q", "qw1", narrow=1),
             h.make_node("Conv", ["xq", "w1q", "b1"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3], name="conv1"),
             h.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             _quant("r1", "s_a", "z0", "b4", "a1", "qa1", signed=0, mode=mode),
             h.make_node("MaxPool", ["a1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
             h.make_node("Flatten", ["p1"], ["f"], name="flat"),
             _quant("w2", "ws2", "z0", "b8", "w2q", "qw2"),
             h.make_node("MatMul", ["f", "w2q"], ["m"], name="fc"),
             h.make_node("Add", ["m", "b2"], ["mb"], name="fc_bias"),
             _quant("mb", "s_o", "z0", "b8", "y", "qout")]
    g = h.make_graph(nodes, "qnet", [h.make_tensor_value_info("x", TP.FLOAT, [N, 3, 8, 8])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [N, 5])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid(D, 1)])


def _qonnx_run(model, x):
    return execute_onnx(ModelWrapper(model).transform(InferShapes()), {"x": x})["y"]


def _golden(graph, x):
    xl = np.moveaxis(x, 1, -1) if x.ndim == 4 else x
    raw = golden.run_raw(graph, quantize_inputs(graph, xl)).output()
    return raw * np.asarray(graph.node(graph.output_names[0]).qparams.scale)


@pytest.mark.parametrize("mode", ["ROUND", "FLOOR", "CEIL", "DOWN", "HALF_UP", "HALF_DOWN"])
def test_pow2_scales_equal_qonnx_exactly(mode):
    model = _net(True, mode)
    graph, report = import_qonnx(model)
    assert not report.notes  # nothing approximated
    x = (np.random.default_rng(1).normal(size=(N, 3, 8, 8)) * 2).astype(np.float32)
    np.testing.assert_array_equal(_golden(graph, x), _qonnx_run(model, x))
    for node in graph.nodes():  # integer arithmetic: no fractional weights, codes in and out
        assert node.formats["result"].is_integer or node.op in ("dense", "conv2d"), node.name


def test_non_pow2_scales_match_qonnx_with_inexact_bias():
    """Float biases on non-power-of-two scales are not binary fractions of the accumulator LSB:
    exact=True refuses, exact=False rounds them (noted) and still matches qonnx on these data."""
    model = _net(False, "ROUND")
    with pytest.raises(ModelError, match=r"'conv1'.*bias.*exact=False"):
        import_qonnx(model)
    graph, report = import_qonnx(model, exact=False)
    assert any("bias rounded" in n for n in report.notes)
    x = (np.random.default_rng(2).normal(size=(N, 3, 8, 8)) * 2).astype(np.float32)
    np.testing.assert_allclose(_golden(graph, x), _qonnx_run(model, x), rtol=0, atol=1e-6)


def test_trunc_and_batchnorm_equal_qonnx():
    """Quant -> MatMul -> BatchNormalization -> Relu -> Quant(uint8) -> Trunc(v2, FLOOR)."""
    rng = np.random.default_rng(5)
    gamma = 2.0 ** rng.integers(-2, 2, 6)
    inits = [_c("s_in", 2.0**-4), _c("z0", 0), _c("b8", 8), _c("w", rng.normal(size=(10, 6)) * 0.2),
             _c("ws", 2.0**-5), _c("gamma", gamma), _c("beta", rng.integers(-8, 8, 6) * 2.0**-4),
             _c("mean", rng.integers(-8, 8, 6) * 2.0**-5), _c("var", np.full(6, 1.0 - 1e-5)),
             _c("s_a", 2.0**-4), _c("s_t", 2.0**-2), _c("b6", 6)]
    nodes = [_quant("x", "s_in", "z0", "b8", "xq", "qin"), _quant("w", "ws", "z0", "b8", "wq", "qw"),
             h.make_node("MatMul", ["xq", "wq"], ["m"], name="fc"),
             h.make_node("BatchNormalization", ["m", "gamma", "beta", "mean", "var"], ["bn"], name="bn",
                         epsilon=1e-5),
             h.make_node("Relu", ["bn"], ["r"], name="relu"),
             _quant("r", "s_a", "z0", "b8", "a", "qa", signed=0),
             h.make_node("Trunc", ["a", "s_a", "z0", "b8", "s_t", "b6"], ["y"], domain=D, name="trunc",
                         rounding_mode="FLOOR", signed=0)]
    g = h.make_graph(nodes, "trunc", [h.make_tensor_value_info("x", TP.FLOAT, [N, 10])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [N, 6])], inits)
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid(D, 2)])
    graph, _ = import_qonnx(model)
    x = (np.random.default_rng(6).normal(size=(N, 10)) * 3).astype(np.float32)
    np.testing.assert_array_equal(_golden(graph, x), _qonnx_run(model, x))


def test_dispatch_and_report(tmp_path):
    path = tmp_path / "q.onnx"
    onnx.save(_net(True, "ROUND"), path)
    assert onnx_kind(onnx.load(path)) == "qonnx"
    from qhw.frontends.report import MappingReport

    rep = MappingReport()
    g = load_onnx(path, report=rep)
    assert g.node("conv1").op == "conv2d"
    table = rep.format_table()
    assert "qa1" in table and "uint4" in table and "weights quantized" in table


# ---------------------------------------------------------------------- what does not map
def test_bundled_quant_models_name_what_blocks_them():
    """qonnx's bundled Quant models that are not integer models end to end (ESPCN sub-pixel: its
    first convolution reads the float image; the eltwise test case: a float-weight Conv on a
    float input; fp8): refused naming the node and the reason."""
    with pytest.raises(ModelError, match=r"input 'x.7' is not quantized.*input_quant"):
        import_qonnx(DATA / "bsd300x3-espcn" / "subpixel" / "quant_model.onnx")
    with pytest.raises(ModelError, match=r"'Mul_30': Mul by a constant"):
        import_qonnx(DATA / "eltwise_chanlast_testcase.onnx")
    with pytest.raises(ModelError, match=r"FloatQuant"):
        import_qonnx(DATA / "floatquant_exec" / "qonnx_act_weight_fp8.onnx")


def _single(node, inits, out_shape=(N, 4)):
    inits = [_c("s", 0.25), _c("z0", 0), _c("b8", 8), *inits]
    nodes = [_quant("x", "s", "z0", "b8", "xq", "qin"), node]
    g = h.make_graph(nodes, "one", [h.make_tensor_value_info("x", TP.FLOAT, [N, 4])],
                     [h.make_tensor_value_info("y", TP.FLOAT, list(out_shape))], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid(D, 1)])


def test_unsupported_op_is_one_clear_error():
    node = h.make_node("Sigmoid", ["xq"], ["y"], name="sig")
    with pytest.raises(ModelError, match=r"'sig'.*'Sigmoid' is not supported in a QONNX model"):
        import_qonnx(_single(node, []))


def test_corrupt_file(tmp_path):
    p = tmp_path / "c.onnx"
    p.write_bytes(b"not onnx at all")
    with pytest.raises(ModelError, match="cannot read ONNX file"):
        load_onnx(p)


# ---------------------------------------------------------------------- a bundled Quant model
def test_bundled_espcn_nn_resize_matches_qonnx_on_its_bundled_input():
    """qonnx's ESPCN super-resolution model (Quant nodes, Conv+BN, nearest Resize) on its bundled
    image, against qonnx's own execution: every activation quantizer's codes are identical; the
    output codes differ by one on a handful of elements, each within 1e-4 of a rounding tie,
    where the exact result (float64 below) decides and qonnx's float32 conv or qhw's 20-bit
    requantization multiplier (reported) can land on either side."""
    folder = DATA / "bsd300x3-espcn"
    t = onnx.TensorProto()
    t.ParseFromString((folder / "test_data" / "input_0.pb").read_bytes())
    x = nh.to_array(t)  # (1, 3, 128, 128)
    graph, report = import_qonnx(folder / "nn_resize" / "quant_model.onnx", exact=False)
    assert any("narrowed" in n for n in report.notes) and any(r.source == "Relu_0" and "absorbed" in r.what for r in report.rows)
    assert graph.node("Resize_42").op == "upsample" and graph.node("Resize_42").attrs["scale"] == [2, 2]
    model = ModelWrapper(str(folder / "nn_resize" / "quant_model.onnx")).transform(InferShapes())
    ctx = execute_onnx(model, {model.graph.input[0].name: x}, return_full_exec_context=True)
    res = golden.run_raw(graph, quantize_inputs(graph, np.moveaxis(x, 1, -1)), keep_all=True)

    def codes(node):
        return np.moveaxis(res.tensors[node], -1, 1), float(graph.node(node).qparams.scale)

    for onnx_name, node in (("x", "onnx::Relu_0"), ("x.7", "Relu_12_rq"), ("x.15", "Relu_24_rq"),
                            ("onnx::Resize_80", "Relu_36_rq"), ("x.23", "Resize_42")):
        got, s = codes(node)
        np.testing.assert_array_equal(got, np.rint(ctx[onnx_name] / s), err_msg=onnx_name)
    got, s = codes("Relu_49_rq")
    theirs = np.rint(ctx["96"] / s)
    # the exact value of the last layer from the (identical) codes before it, in float64
    init = {i.name: nh.to_array(i).astype(np.float64) for i in model.model.graph.initializer}
    xin = np.pad(ctx["x.23"].astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xin, (3, 3), axis=(2, 3))  # (1, 32, H, W, 3, 3)
    y = np.einsum("bchwij,ocij->bohw", win, ctx["quant_weight.11"].astype(np.float64))
    exact = np.maximum(y + init["conv4.conv.bias"][None, :, None, None], 0) / float(init["scale.31"])
    differ = got != theirs
    assert np.abs(got - theirs).max() <= 1 and 0 < differ.sum() <= 10, differ.sum()
    assert np.abs(np.abs(exact[differ] - np.floor(exact[differ])) - 0.5).max() < 1e-4
    assert (got[~differ] == np.clip(np.round(exact[~differ]), 0, 255)).mean() > 0.9999


# ---------------------------------------------------------------------- thresholds
def _threshold_net(seed=0):
    """FINN-style: Quant(in) -> Conv (4-bit weights) -> MultiThreshold per channel (NCHW, signed
    3-bit outputs) -> MaxPool -> Flatten -> MatMul -> MultiThreshold (shared, scaled outputs)
    -> MatMul -> BipolarQuant (a sign) -> y."""
    rng = np.random.default_rng(seed)
    t1 = np.sort(rng.normal(size=(6, 7)) * 3, axis=1)
    t2 = np.sort(rng.normal(size=(1, 3)) * 8, axis=1)
    inits = [_c("s_in", 2.0**-4), _c("z0", 0), _c("b8", 8), _c("b4", 4),
             _c("w1", rng.normal(size=(6, 2, 3, 3)) * 0.3), _c("ws1", 2.0**-3), _c("t1", t1),
             _c("w2", rng.normal(size=(54, 5)) * 0.5), _c("ws2", 2.0**-2), _c("t2", t2),
             _c("w3", rng.normal(size=(5, 3))), _c("ws3", 2.0**-1), _c("s_b", 0.75)]
    nodes = [_quant("x", "s_in", "z0", "b8", "xq", "qin"),
             _quant("w1", "ws1", "z0", "b4", "w1q", "qw1", narrow=1),
             h.make_node("Conv", ["xq", "w1q"], ["c1"], kernel_shape=[3, 3], name="conv1"),
             h.make_node("MultiThreshold", ["c1", "t1"], ["a1"], domain=D, name="mt1",
                         out_dtype="INT3", out_bias=-4.0, data_layout="NCHW"),
             h.make_node("MaxPool", ["a1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
             h.make_node("Flatten", ["p1"], ["f"], name="flat"),
             _quant("w2", "ws2", "z0", "b4", "w2q", "qw2", narrow=1),
             h.make_node("MatMul", ["f", "w2q"], ["m2"], name="fc2"),
             h.make_node("MultiThreshold", ["m2", "t2"], ["a2"], domain=D, name="mt2",
                         out_dtype="UINT2", out_scale=0.5, out_bias=0.25),
             _quant("w3", "ws3", "z0", "b4", "w3q", "qw3", narrow=1),
             h.make_node("MatMul", ["a2", "w3q"], ["m3"], name="fc3"),
             h.make_node("BipolarQuant", ["m3", "s_b"], ["y"], domain=D, name="sign")]
    g = h.make_graph(nodes, "thr", [h.make_tensor_value_info("x", TP.FLOAT, [N, 2, 8, 8])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [N, 3])], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid(D, 1)])


def test_multithreshold_and_bipolar_activation_equal_qonnx():
    model = _threshold_net()
    graph, report = import_qonnx(model)
    assert {graph.node(n).op for n in ("mt1", "mt2", "sign")} == {"threshold"}
    assert not report.notes
    for seed in range(3):
        x = (np.random.default_rng(10 + seed).normal(size=(N, 2, 8, 8)) * 2).astype(np.float32)
        want = _qonnx_run(model, x)
        got = _golden(graph, x)
        np.testing.assert_array_equal(got, want)
        assert set(np.unique(want)) == {-0.75, 0.75}  # both signs occur


def test_multithreshold_on_codes_uses_qonnx_float32_comparison():
    """Thresholds on a quantized tensor, some exactly on its grid and some one float32 ulp off:
    the code thresholds reproduce qonnx's float32 ``x >= t``."""
    s = np.float32(0.1)  # not a power of two: d * s rounds in float32
    grid = np.arange(-8, 8, dtype=np.float32) * s
    t = np.stack([grid[[2, 5, 9]], np.nextafter(grid[[2, 5, 9]], np.float32(np.inf)),
                  np.nextafter(grid[[2, 5, 9]], np.float32(-np.inf))])  # (3 channels, 3 steps)
    node = h.make_node("MultiThreshold", ["xq", "t"], ["y"], domain=D, name="mt", out_dtype="UINT2")
    inits = [_c("s", float(s)), _c("z0", 0), _c("b4", 4), _c("t", t)]
    g = h.make_graph([_quant("x", "s", "z0", "b4", "xq", "qin"), node], "mt",
                     [h.make_tensor_value_info("x", TP.FLOAT, [N, 3])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [N, 3])], inits)
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid(D, 1)])
    graph, _ = import_qonnx(model)
    x = np.repeat(grid[:, None], 3, axis=1)[np.arange(N) % 16]  # every code in every channel
    np.testing.assert_array_equal(_golden(graph, x), _qonnx_run(model, x))


def test_multithreshold_rank3_default_layout_is_one_clear_error():
    node = h.make_node("MultiThreshold", ["xq", "t"], ["y"], domain=D, name="mt3", out_dtype="UINT2")
    inits = [_c("s", 0.25), _c("z0", 0), _c("b8", 8), _c("t", np.zeros((1, 3)))]
    g = h.make_graph([_quant("x", "s", "z0", "b8", "xq", "qin"), node], "mt3",
                     [h.make_tensor_value_info("x", TP.FLOAT, [N, 2, 5])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [N, 2, 5])], inits)
    with pytest.raises(ModelError, match=r"'mt3'.*data_layout"):
        import_qonnx(h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid(D, 1)]))


def test_bundled_espcn_subpixel_with_the_image_declared_8_bit():
    """The sub-pixel ESPCN reads its image unquantized; declared as what it is (8-bit codes /
    255), it imports (DepthToSpace included; pruned channels with ~1e-43 batch-norm factors
    become constants) and its first quantizer's codes equal qonnx's except at near-ties; those
    few one-LSB differences then spread through three more convolutions to a small fraction of
    the outputs (measured: 1 code of 1,048,576 after the first layer, 174 of 196,608 at the end)."""
    from qhw.quant import QuantParams

    folder = DATA / "bsd300x3-espcn"
    t = onnx.TensorProto()
    t.ParseFromString((folder / "test_data" / "input_0.pb").read_bytes())
    x = nh.to_array(t)
    assert np.array_equal(x * 255, np.rint(x * 255))  # the image is 8-bit
    graph, report = import_qonnx(folder / "subpixel" / "quant_model.onnx", exact=False,
                                 input_quant={"x.7": QuantParams(1 / 255, 0, 8, False)})
    assert graph.node("DepthToSpace_42").op == "depth_to_space"
    assert any("treated as constant" in n for n in report.notes)
    model = ModelWrapper(str(folder / "subpixel" / "quant_model.onnx")).transform(InferShapes())
    ctx = execute_onnx(model, {"x.7": x}, return_full_exec_context=True)
    res = golden.run_raw(graph, quantize_inputs(graph, np.moveaxis(x, 1, -1)), keep_all=True)

    def compare(onnx_name, node):
        got = np.moveaxis(res.tensors[node], -1, 1)
        want = np.rint(ctx[onnx_name] / float(graph.node(node).qparams.scale))
        return got, want

    got, want = compare("x.3", "Relu_7_rq")
    assert np.abs(got - want).max() <= 1 and (got != want).sum() <= 4
    got, want = compare("79", "Relu_43_rq")
    assert np.abs(got - want).max() <= 4 and (got != want).mean() < 2e-3
