"""fold_batchnorm and fold_constants: outputs unchanged (float: to rounding; fixed: bit for bit).

Oracle for batch norm: the textbook formula (x - mean) / sqrt(var + eps) * gamma + beta written
here in numpy over the unfolded layer's float output.
"""
import numpy as np
import pytest

from qhw import golden
from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.flow import GraphBuilder
from qhw.passes.fold import fold_batchnorm, fold_constants, unfolded_batchnorms

RNG = np.random.default_rng(11)


def _bn_params(c, rng=RNG):
    return {"gamma": rng.uniform(0.5, 2, c), "beta": rng.normal(size=c),
            "mean": rng.normal(size=c), "var": rng.uniform(0.2, 3, c)}


def _textbook(y, p, eps=1e-5):
    return (y - p["mean"]) / np.sqrt(p["var"] + eps) * p["gamma"] + p["beta"]


@pytest.mark.parametrize("layer", ["dense", "conv1d", "conv2d"])
@pytest.mark.parametrize("bias", [True, False])
def test_batchnorm_after_layer_folds_into_it(layer, bias):
    shape, w = {"dense": ((12,), RNG.normal(size=(12, 6))),
                "conv1d": ((10, 3), RNG.normal(size=(3, 3, 6))),
                "conv2d": ((6, 6, 3), RNG.normal(size=(3, 3, 3, 6)))}[layer]
    p = _bn_params(6)
    b = GraphBuilder()
    x = b.input("x", shape, "ap_fixed<16,6>")
    attrs = {} if layer == "dense" else {"padding": 1}
    t = getattr(b, layer)("layer", x, w, RNG.normal(size=6) if bias else None, **attrs)
    t = b.node("bn", "batchnorm", [t], {"epsilon": 1e-3}, p)
    b.output("y", b.relu("act", t))
    g = b.build()
    data = RNG.normal(size=(20,) + shape)
    pre_bn = golden.run(g, data, float_mode=True, keep_all=True).tensors["layer"]
    want = np.maximum(_textbook(pre_bn, p, 1e-3), 0)

    folded = fold_batchnorm(g)
    assert unfolded_batchnorms(folded) == [] and "bn" not in folded
    assert folded.node("act").inputs == ["layer"]
    np.testing.assert_allclose(golden.run(folded, data, float_mode=True).output(), want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(golden.run(g, data, float_mode=True).output(), want, rtol=0, atol=1e-12)
    assert "bn" in g, "the input graph is left alone"
    golden.run(folded, data)  # prepared again: runs in fixed point


@pytest.mark.parametrize("layer", ["dense", "conv2d"])
def test_batchnorm_before_unpadded_layers_folds_into_each(layer):
    shape, w1, w2 = {"dense": ((8,), RNG.normal(size=(8, 4)), RNG.normal(size=(8, 3))),
                     "conv2d": ((5, 5, 8), RNG.normal(size=(2, 2, 8, 4)), RNG.normal(size=(3, 3, 8, 3)))}[layer]
    p = _bn_params(8)
    b = GraphBuilder()
    x = b.input("x", shape, "ap_fixed<16,6>")
    t = b.node("bn", "batchnorm", [x], {}, p)
    b.output("y1", getattr(b, layer)("a", t, w1, RNG.normal(size=4)))
    b.output("y2", getattr(b, layer)("b", t, w2))
    g = b.build()
    data = RNG.normal(size=(10,) + shape)
    normed = _textbook(data, p)
    b2 = GraphBuilder()  # the same layers without the batch norm, fed normalised data
    x2 = b2.input("x", shape, "ap_fixed<16,6>")
    b2.output("y1", getattr(b2, layer)("a", x2, w1, g.node("a").params["bias"]))
    b2.output("y2", getattr(b2, layer)("b", x2, w2))
    want = golden.run(b2.build(), normed, float_mode=True).outputs
    folded = fold_batchnorm(g)
    assert unfolded_batchnorms(folded) == []
    got = golden.run(folded, data, float_mode=True).outputs
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-11)


def test_unfoldable_batchnorm_stays_and_fixed_point_refuses_it():
    b = GraphBuilder()
    x = b.input("x", (6, 6, 2), "ap_fixed<16,6>")
    t = b.node("bn", "batchnorm", [x], {}, _bn_params(2))
    t = b.conv2d("conv", t, RNG.normal(size=(3, 3, 2, 2)), padding=1)  # padded: zeros would shift
    b.output("y", t)
    g = fold_batchnorm(b.build())
    assert unfolded_batchnorms(g) == ["bn"]
    data = RNG.normal(size=(3, 6, 6, 2))
    golden.run(g, data, float_mode=True)
    with pytest.raises(ModelError, match="batchnorm 'bn'.*fold"):
        golden.run(g, data)


def test_batchnorm_user_result_format_moves_to_the_layer():
    b = GraphBuilder()
    x = b.input("x", (4,), "ap_fixed<16,6>")
    t = b.dense("fc", x, RNG.normal(size=(4, 3)), formats={"result": "ap_fixed<10,4>"})
    t = b.node("bn", "batchnorm", [t], {}, _bn_params(3), formats={"result": "ap_fixed<12,5>"})
    b.output("y", t)
    g = fold_batchnorm(b.build())
    assert g.node("fc").formats["result"] == FixedFormat(12, 5)


def test_batchnorm_checks_its_constants():
    b = GraphBuilder()
    x = b.input("x", (4,), "ap_fixed<16,6>")
    p = _bn_params(4)
    p["var"] = -np.ones(4)
    b.output("y", b.node("bn", "batchnorm", [x], {}, p))
    with pytest.raises(ModelError, match="var"):
        b.build()
    b = GraphBuilder()
    x = b.input("x", (5,), "ap_fixed<16,6>")
    b.output("y", b.node("bn", "batchnorm", [x], {}, _bn_params(4)))
    with pytest.raises(ModelError, match="4 channels"):
        b.build()


# ------------------------------------------------------------------ constant folding
def _same_bits(g1, g2, data):
    r1, r2 = golden.run(g1, data).outputs, golden.run(g2, data).outputs
    assert r1.keys() == r2.keys()
    for k in r1:
        np.testing.assert_array_equal(r1[k], r2[k])


def test_fold_constants_removes_identities_and_merges_chains():
    b = GraphBuilder()
    x = b.input("x", (4, 3), "ap_fixed<10,4>")
    t = b.reshape("same", x, (4, 3))          # identity reshape
    t = b.shift("s1", t, 2)
    t = b.shift("s2", t, -3)                  # merges with s1: shift -1
    t = b.flatten("f", t)
    t = b.reshape("r", t, (3, 4))             # reads x-side tensor directly
    t = b.relu("r1", t)
    t = b.relu("r2", t)                       # relu of an unsigned tensor: identity
    t = b.shift("zero", t, 0)                 # identity
    b.output("y", t)
    g = b.build()
    folded = fold_constants(g)
    ops = [n.op for n in folded.nodes()]
    assert ops == ["input", "shift", "reshape", "relu", "output"], ops
    assert folded.node("s2").attrs["shift"] == -1
    _same_bits(g, folded, RNG.normal(size=(50, 4, 3)) * 8)
    assert len(g) == 10, "the input graph is left alone"


def test_fold_constants_keeps_lossy_assignments():
    b = GraphBuilder()
    x = b.input("x", (5,), "ap_fixed<12,4>")
    t = b.shift("s1", x, 3, formats={"result": "ap_fixed<6,5>"})   # rounds and saturates
    t = b.shift("s2", t, -3)
    t = b.reshape("same", t, (5,))
    t = b.relu("r", b.node("narrow", "relu6", [t], formats={"result": "ap_ufixed<4,3>"}))
    b.output("y", t)
    g = b.build()
    folded = fold_constants(g)
    assert {"s1", "s2", "narrow"} <= set(folded.nx.nodes)
    assert "same" not in folded and "r" not in folded  # relu of an unsigned tensor goes
    _same_bits(g, folded, RNG.normal(size=(100, 5)) * 6)


def test_fold_constants_on_unprepared_graph():
    b = GraphBuilder()
    x = b.input("x", (2, 3), "ap_fixed<8,3>")
    b.output("y", b.flatten("f", b.flatten("f0", x)))
    folded = fold_constants(b.graph)  # not prepared: shapes only
    assert [n.name for n in folded.nodes()] == ["x", "f", "y"]
    assert folded.node("f").inputs == ["x"]
