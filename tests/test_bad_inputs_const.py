"""Hostile constant ops between quantizers and per-channel code tables: a constant that
broadcasts along a spatial axis (not one value per channel), a float op between quantizers whose
constant is not a constant, and native code_table nodes whose per-channel rows do not match the
tensor. One error line naming the node, exit code 2, nothing written."""
from __future__ import annotations

import numpy as np
import pytest

from bad_input_harness import assert_error, edit_yaml, run_qhw, unchanged


def _onnx(tmp_path, nodes, inits, shape):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto as TP
    from onnx import helper as h

    g = h.make_graph(nodes, "bad", [h.make_tensor_value_info("x", TP.FLOAT, [None] + shape)],
                     [h.make_tensor_value_info("y", TP.FLOAT, [None] + shape)], inits)
    path = tmp_path / "case" / "m.onnx"
    path.parent.mkdir(exist_ok=True)
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), path)
    return path


def _between(op, c_name):
    from onnx import helper as h

    return [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="qx"),
            h.make_node("DequantizeLinear", ["q", "s", "z"], ["d"], name="dqx"),
            h.make_node(op, ["d", c_name], ["f"], name="scale_it"),
            h.make_node("QuantizeLinear", ["f", "s", "z"], ["fq"], name="qf"),
            h.make_node("DequantizeLinear", ["fq", "s", "z"], ["y"], name="dqf")]


def _qinits():
    from onnx import TensorProto as TP
    from onnx import helper as h

    return [h.make_tensor("s", TP.FLOAT, [], [0.05]), h.make_tensor("z", TP.UINT8, [], [128])]


def test_constant_broadcast_along_a_spatial_axis(tmp_path):
    """(N, 2, 3, 3) * c of shape (3,): one value per column, not per channel."""
    from onnx import TensorProto as TP
    from onnx import helper as h

    inits = _qinits() + [h.make_tensor("c", TP.FLOAT, [3], [0.5, 1.0, 2.0])]
    path = _onnx(tmp_path, _between("Mul", "c"), inits, [2, 3, 3])
    with unchanged(path.parent):
        r = run_qhw(["inspect", path])
    assert_error(r, "'scale_it'", "Mul", "(1, 1, 3)", "per channel")


def test_mul_of_two_tensors_between_quantizers_is_not_a_table(tmp_path):
    """x * x_float (the second factor a float model input's value, not a constant): not a table;
    the error names the node."""
    from onnx import helper as h

    nodes = _between("Div", "x")
    path = _onnx(tmp_path, nodes, _qinits(), [4])
    with unchanged(path.parent):
        r = run_qhw(["inspect", path])
    assert_error(r, "'scale_it'", "Div")


def _table_model(tmp_path, table):
    from qhw.flow import GraphBuilder
    from qhw.io import save

    b = GraphBuilder("ct")
    x = b.input("x", (2, 5), "ap_int<4>")
    b.output("y", b.node("tab", "code_table", [x], {}, {"table": table}, {"result": "ap_int<8>"}))
    case = tmp_path / "case"
    case.mkdir()
    return save(b.build(), case / "model.yaml")


@pytest.mark.parametrize("rows,needles", [(3, ("'tab'", "3 per-channel rows", "(2, 5)")),
                                          (1, ("'tab'", "1 per-channel rows"))])
def test_per_channel_rows_that_do_not_match_the_channels(tmp_path, rows, needles):
    model = _table_model(tmp_path, np.tile(np.arange(16) - 8.0, (5, 1)))
    npz = model.with_suffix(".npz")
    arrays = dict(np.load(npz))
    key = next(k for k in arrays if "table" in k)
    arrays[key] = np.tile(np.arange(16) - 8.0, (rows, 1))
    np.savez(npz, **arrays)
    with unchanged(model.parent):
        r = run_qhw(["inspect", model])
    assert_error(r, *needles)


def test_table_of_three_dimensions(tmp_path):
    model = _table_model(tmp_path, np.tile(np.arange(16) - 8.0, (5, 1)))
    npz = model.with_suffix(".npz")
    arrays = dict(np.load(npz))
    key = next(k for k in arrays if "table" in k)
    arrays[key] = np.zeros((5, 2, 8))
    np.savez(npz, **arrays)
    with unchanged(model.parent):
        r = run_qhw(["inspect", model])
    assert_error(r, "'tab'", "1-D list of codes")


def test_per_channel_table_over_the_entry_limit(tmp_path):
    """A per-channel constant of 2,048 values on 16-bit codes would be 2**27 table entries: the
    table_entries limit stops it before onnxruntime runs (bounded memory)."""
    from onnx import TensorProto as TP
    from onnx import helper as h

    inits = [h.make_tensor("s", TP.FLOAT, [], [0.05]), h.make_tensor("z", TP.INT16, [], [0]),
             h.make_tensor("c", TP.FLOAT, [2048], list(np.linspace(0.5, 2.0, 2048)))]
    path = _onnx(tmp_path, _between("Mul", "c"), inits, [2048])
    with unchanged(path.parent):
        r = run_qhw(["inspect", path])
    assert_error(r, "'scale_it'", "QHW_MAX_TABLE_ENTRIES")
