"""Graph structure, validation errors naming the culprit, shape and format inference."""
import numpy as np
import pytest

from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.flow import GraphBuilder
from qhw.graph import Graph, Node
from qhw.testing import models


def _mlp_builder():
    b = GraphBuilder("m")
    x = b.input("x", (4,), "ap_fixed<8,3>")
    return b, x


def test_cycle_is_named():
    g = Graph("cyc")
    g.add(Node("x", "input", [], {"shape": [2]}, formats={"result": FixedFormat(8, 3)}))
    g.add(Node("a", "relu", ["b"]))
    g.add(Node("b", "relu", ["a"]))
    g.add(Node("y", "output", ["b"]))
    with pytest.raises(ModelError, match="cycle.*(a -> b|b -> a)"):
        g.validate()


def test_dangling_input_is_named():
    b, x = _mlp_builder()
    b.output("y", b.relu("r", "nope"))
    with pytest.raises(ModelError, match="'r' reads 'nope'"):
        b.build()


def test_unknown_op_lists_supported():
    b, x = _mlp_builder()
    b.output("y", b.node("s", "swish", [x]))
    with pytest.raises(ModelError, match="node 's': unknown op 'swish'; supported: .*dense"):
        b.build()


def test_shape_mismatch_is_named():
    b, x = _mlp_builder()
    b.output("y", b.dense("fc", x, np.ones((5, 2))))
    with pytest.raises(ModelError, match="dense 'fc': input shape \\(4,\\) does not end in the weight's 5"):
        b.build()
    b, x = _mlp_builder()
    b.output("y", b.add("sum", x, b.dense("fc", x, np.ones((4, 3)))))
    with pytest.raises(ModelError, match="add 'sum': input shapes"):
        b.build()


def test_missing_input_format_is_named():
    b = GraphBuilder("m")
    b.node("x", "input", [], {"shape": [3]})
    b.output("y", "x")
    with pytest.raises(ModelError, match="input 'x' has no format"):
        b.build()


def test_unknown_attribute_and_duplicate_name():
    b, x = _mlp_builder()
    b.output("y", b.node("r", "relu", [x], {"alpha": 0.1}))
    with pytest.raises(ModelError, match="'r' \\(relu\\): unknown attribute"):
        b.build()
    b, x = _mlp_builder()
    with pytest.raises(ModelError, match="duplicate node name 'x'"):
        b.relu("x", x)


def test_lossless_accumulator_bit_growth():
    # a dot of N terms of Wx- and Ww-bit operands needs Wx + Ww + ceil(log2 N) bits (+1 with a bias)
    b, x = _mlp_builder()
    b.output("y", b.dense("fc", x, np.ones((4, 2)) * 0.5, formats={"weight": "ap_fixed<6,2>"}))
    g = b.build()
    acc = g.node("fc").formats["accum"]
    assert acc == FixedFormat(8 + 6 + 2, 3 + 2 + 2)
    b, x = _mlp_builder()
    b.output("y", b.dense("fc", x, np.ones((4, 2)) * 0.5, np.ones(2),
                          formats={"weight": "ap_fixed<6,2>", "bias": "ap_fixed<4,2>"}))
    assert b.build().node("fc").formats["accum"] == FixedFormat(8 + 6 + 2 + 1, 3 + 2 + 2 + 1)


def test_narrowing_is_reported_and_user_format_wins():
    g = models.mlp(widths=(4, 3, 2), fmt="ap_fixed<10,4>")
    assert any("fc1.result" in n and "narrower than lossless" in n for n in g.notes)
    g2 = models.mlp(widths=(4, 3, 2), fmt="ap_fixed<10,4>", config={"fc1": {"accum": "ap_fixed<12,5>"}})
    assert g2.node("fc1").formats["accum"] == FixedFormat(12, 5)
    assert any("fc1.accum" in n for n in g2.notes)


def test_conv_shapes_and_topological_order():
    g = models.conv2d_net()
    assert [n.name for n in g.nodes()][:3] == ["x", "conv1", "relu1"]
    assert g.node("conv1").shape == (8, 8, 4)
    assert g.node("pool1").shape == (4, 4, 4)
    assert g.node("conv2").shape == (3, 3, 4)
    assert g.node("pool2").shape == (1, 1, 4)
    g1 = models.conv1d_net()
    assert g1.node("conv1").attrs["padding"] == [1, 1]
    assert g1.node("conv2").shape == (7, 4)
