"""Float ONNX import: qhw's float evaluation equals onnxruntime, names follow ONNX nodes, and bad
files give one clear error each."""
import numpy as np
import pytest

from qhw import golden
from qhw.errors import ModelError
from qhw.frontends.onnx_float import ImportReport, load_onnx

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(nodes, inputs, outputs, inits, name="m"):
    g = helper.make_graph(nodes, name, inputs, outputs,
                          [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _ort(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]


def test_mlp_with_gemm_matmul_bias_and_batchnorm():
    rng = np.random.default_rng(0)
    inits = {"w1": rng.standard_normal((8, 6)), "b1": rng.standard_normal(8),
             "w2": rng.standard_normal((8, 3)), "b2": rng.standard_normal(3),
             "s": rng.random(8) + 0.5, "bb": rng.standard_normal(8), "mu": rng.standard_normal(8),
             "var": rng.random(8) + 0.1}
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", transB=1),
             helper.make_node("BatchNormalization", ["h", "s", "bb", "mu", "var"], ["hb"], name="bn1"),
             helper.make_node("Relu", ["hb"], ["r"], name="act1"),
             helper.make_node("MatMul", ["r", "w2"], ["m"], name="fc2"),
             helper.make_node("Add", ["m", "b2"], ["y"], name="fc2_bias")]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 6])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])], inits)
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    rep = ImportReport()
    g = load_onnx(m, input_format="ap_fixed<16,6>", report=rep)
    assert [n.name for n in g.nodes() if n.op == "dense"] == ["fc1", "fc2"]
    assert ("bn1", "BatchNormalization", "folded into fc1") in [(r.source, r.kind, r.what) for r in rep.rows]
    assert "folded into fc1" in rep.table()
    x = rng.standard_normal((50, 6))
    got = golden.run(g, x, float_mode=True).output()
    np.testing.assert_allclose(got, _ort(m, x), rtol=1e-4, atol=1e-4)


def test_conv_net_channels_last_and_flatten_order():
    rng = np.random.default_rng(1)
    inits = {"w": rng.standard_normal((4, 2, 3, 3)), "b": rng.standard_normal(4),
             "wf": rng.standard_normal((5, 4 * 3 * 2)), "bf": rng.standard_normal(5)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1)]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 4])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    g = load_onnx(m)
    assert g.node("x").shape == (6, 4, 2) and g.node("conv").shape == (6, 4, 4)
    x = rng.standard_normal((3, 2, 6, 4))
    want = np.concatenate([_ort(m, x[i:i + 1]) for i in range(3)])
    got = golden.run(g, np.transpose(x, (0, 2, 3, 1)), float_mode=True).output()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # and the fixed-point golden model tracks it
    q = golden.to_float(g, golden.run(g, np.transpose(x, (0, 2, 3, 1))))["y"]
    assert np.abs(q - want).max() < 0.1


def test_unsupported_op_names_node_and_lists_supported(tmp_path):
    nodes = [helper.make_node("LeakyRelu", ["x"], ["y"], name="weird")]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], {})
    with pytest.raises(ModelError, match="node 'weird': op 'LeakyRelu' is not supported; supported: Gemm"):
        load_onnx(m)


def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01 not a protobuf at all" * 10)
    with pytest.raises(ModelError, match="cannot read ONNX file .*bad.onnx"):
        load_onnx(bad)
    with pytest.raises(ModelError, match="does not exist"):
        load_onnx(tmp_path / "nope.onnx")


def _resize_net(attrs, scales=None, sizes=None, shape=(2, 3, 4)):
    """Conv -> Resize(attrs) -> Relu -> Flatten -> Gemm on an NCHW input of ``shape``."""
    rng = np.random.default_rng(2)
    c, h, w = shape
    inits = {"w": rng.standard_normal((3, c, 3, 3)), "b": rng.standard_normal(3)}
    ins = ["c", "", ""]
    if scales is not None:
        inits["scales"] = np.asarray(scales, np.float64)
        ins[2] = "scales"
    out_hw = (h * 2, w * 3)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Resize", ins + (["sizes"] if sizes is not None else []), ["u"],
                              name="up", **attrs),
             helper.make_node("Relu", ["u"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1)]
    inits.update(wf=rng.standard_normal((2, 3 * out_hw[0] * out_hw[1])) * 0.1, bf=rng.standard_normal(2))
    g = helper.make_graph(nodes, "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
                          [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()]
                          + ([numpy_helper.from_array(np.asarray(sizes, np.int64), "sizes")] if sizes is not None else []))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


@pytest.mark.parametrize("attrs,scales,sizes", [
    ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
     [1, 1, 2, 3], None),
    ({"mode": "nearest"}, [1, 1, 2, 3], None),  # ONNX defaults: half_pixel, round_prefer_floor
    ({"mode": "nearest", "coordinate_transformation_mode": "tf_half_pixel_for_nn", "nearest_mode": "floor"},
     None, [1, 3, 6, 12]),
])
def test_nearest_resize_becomes_upsample_and_equals_onnxruntime(attrs, scales, sizes):
    m = _resize_net(attrs, scales, sizes)
    g = load_onnx(m)
    assert g.node("up").op == "upsample" and g.node("up").attrs["scale"] == [2, 3]
    x = np.random.default_rng(3).standard_normal((1, 2, 3, 4))
    # the float model == onnxruntime; then, on the whole graph, a tensor check of the upsample
    np.testing.assert_allclose(golden.run(g, np.moveaxis(x, 1, -1), float_mode=True).output(), _ort(m, x),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("attrs,scales,match", [
    ({"mode": "linear"}, [1, 1, 2, 3], "mode 'linear'"),
    ({"mode": "nearest"}, [1, 1, 1.5, 3], "not an integer upsampling"),
    ({"mode": "nearest"}, [1, 2, 2, 3], "spatial axes only"),
    ({"mode": "nearest", "nearest_mode": "floor"}, [1, 1, 2, 3], "does not repeat each value"),
    ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric"}, [1, 1, 2, 3], "by 3 does not repeat"),
])
def test_resize_that_is_no_repeat_is_one_clear_error(attrs, scales, match):
    with pytest.raises(ModelError, match=r"'up'.*" + match):
        load_onnx(_resize_net(attrs, scales))
