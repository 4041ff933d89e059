"""Hostile merges and softmax: a native code_softmax with bad attributes or tables, and quantized
ONNX files whose Concat / QLinearConcat / Softmax cannot be mapped. One error line naming the
node and the key, exit code 2, nothing written."""
from __future__ import annotations

import numpy as np
import pytest

from bad_input_harness import assert_error, edit_yaml, run_qhw, unchanged


def _softmax_model(tmp_path):
    from qhw.flow import GraphBuilder
    from qhw.io import save

    b = GraphBuilder("sm")
    x = b.input("x", (5,), "ap_int<4>")
    b.output("y", b.node("soft", "code_softmax", [x], {"scale": 256},
                         {"exp": np.rint(2.0 ** 20 * np.exp(np.arange(-15, 1) * 0.4)),
                          "out": np.minimum(np.arange(257), 255) - 128.0}, {"result": "ap_int<8>"}))
    case = tmp_path / "case"
    case.mkdir()
    return save(b.build(), case / "model.yaml")


def _set_attr(doc, key, value):
    for n in doc["nodes"]:
        if n["name"] == "soft":
            n.setdefault("attrs", {})[key] = value


@pytest.mark.parametrize("value,needles", [(0, ("'soft'", "scale", "integer >= 1")),
                                           ("256", ("'soft'", "scale")),
                                           (True, ("'soft'", "scale")),
                                           (10 ** 9, ("'soft'", "out", "scale + 1"))])
def test_bad_code_softmax_scale(tmp_path, value, needles):
    model = _softmax_model(tmp_path)
    edit_yaml(model, lambda doc: _set_attr(doc, "scale", value))
    with unchanged(model.parent):
        r = run_qhw(["inspect", model])
    assert_error(r, *needles)


@pytest.mark.parametrize("exp,needles", [(-np.ones(16), ("'soft'", "exp entries")),
                                         (np.full(16, 2.0 ** 45), ("'soft'", "exp entries")),
                                         (np.r_[np.ones(15), 0.0], ("'soft'", "positive last entry")),
                                         (np.full(16, 0.5), ("'soft'", "integers"))])
def test_bad_code_softmax_table(tmp_path, exp, needles):
    model = _softmax_model(tmp_path)
    npz = model.with_suffix(".npz")
    arrays = dict(np.load(npz))
    key = next(k for k in arrays if "exp" in k)
    arrays[key] = exp
    np.savez(npz, **arrays)
    with unchanged(model.parent):
        r = run_qhw(["inspect", model])
    assert_error(r, *needles)


def _onnx(tmp_path, nodes, inits, n_out=8):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as TP
    from onnx import helper as h

    g = h.make_graph(nodes, "bad", [h.make_tensor_value_info("x", TP.FLOAT, [None, 4])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [None, n_out])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid("com.microsoft", 1)])
    path = tmp_path / "case" / "m.onnx"
    path.parent.mkdir(exist_ok=True)
    onnx.save(m, path)
    return path


def _qinits():
    from onnx import TensorProto as TP
    from onnx import helper as h

    return [h.make_tensor("s", TP.FLOAT, [], [0.05]), h.make_tensor("z", TP.UINT8, [], [128])]


def test_qlinearconcat_with_a_broken_input_list(tmp_path):
    from onnx import helper as h

    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="qx"),
             h.make_node("QLinearConcat", ["s", "z", "q", "s"], ["c"], name="cat", domain="com.microsoft", axis=1),
             h.make_node("DequantizeLinear", ["c", "s", "z"], ["y"], name="dq")]
    path = _onnx(tmp_path, nodes, _qinits())
    with unchanged(path.parent):
        r = run_qhw(["inspect", path])
    assert_error(r, "'cat'", "QLinearConcat", "triples")


def test_float_concat_in_a_quantized_model(tmp_path):
    from onnx import helper as h

    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="qx"),
             h.make_node("DequantizeLinear", ["q", "s", "z"], ["d"], name="dqx"),
             h.make_node("Concat", ["d", "d"], ["y"], name="cat", axis=1)]
    path = _onnx(tmp_path, nodes, _qinits())
    with unchanged(path.parent):
        r = run_qhw(["inspect", path])
    assert_error(r, "'cat'", "Concat", "QuantizeLinear after it")


def test_softmax_of_a_feature_map(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as TP
    from onnx import helper as h

    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="qx"),
             h.make_node("DequantizeLinear", ["q", "s", "z"], ["d"], name="dqx"),
             h.make_node("Softmax", ["d"], ["p"], name="soft", axis=1),
             h.make_node("QuantizeLinear", ["p", "s", "z"], ["pq"], name="qp"),
             h.make_node("DequantizeLinear", ["pq", "s", "z"], ["y"], name="dqp")]
    g = h.make_graph(nodes, "bad", [h.make_tensor_value_info("x", TP.FLOAT, [None, 3, 4, 4])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [None, 3, 4, 4])], _qinits())
    path = tmp_path / "case" / "m.onnx"
    path.parent.mkdir()
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), path)
    with unchanged(path.parent):
        r = run_qhw(["inspect", path])
    assert_error(r, "'soft'", "vector")
