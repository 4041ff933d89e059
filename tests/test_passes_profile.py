"""Profiling and integer-bit proposals."""
import numpy as np

from qhw import golden
from qhw.flow import GraphBuilder
from qhw.passes import fit_integer_bits, profile, propose_integer_bits
from qhw.passes.profile import integer_bits_for


def test_integer_bits_for_ranges():
    assert integer_bits_for(-4.0, 3.9, True) == 3  # [-4, 4) needs 3 signed integer bits
    assert integer_bits_for(-4.1, 1.0, True) == 4
    assert integer_bits_for(0.0, 7.5, False) == 3
    assert integer_bits_for(-0.3, 0.2, True) == 0


def test_profile_counts_and_fit_removes_overflow():
    rng = np.random.default_rng(0)
    b = GraphBuilder("p")
    x = b.input("x", (8,), "ap_fixed<12,4>")
    b.output("y", b.dense("fc", x, rng.standard_normal((8, 3)) * 3, formats={"result": "ap_fixed<10,3>"}))
    g = b.build()
    data = rng.standard_normal((500, 8)) * 2
    prof = profile(g, data)
    assert prof["fc"].wrapped > 0
    prop = propose_integer_bits(g, prof)
    assert prop["fc"]["result"].width == 10 and prop["fc"]["result"].integer_bits > 3
    fitted = fit_integer_bits(g, data)
    assert fitted.node("fc").formats["result"] == prop["fc"]["result"]
    assert profile(fitted, data)["fc"].wrapped == 0
    f = golden.run(fitted, data, float_mode=True).output()
    q = golden.to_float(fitted, golden.run(fitted, data))["y"]
    assert np.abs(q - f).max() < 2 * fitted.node("fc").formats["result"].lsb + 0.1


def test_fit_sees_through_an_upstream_overflow():
    """A wrapping dense makes the relu after it look small; the fit must still cover the true range."""
    rng = np.random.default_rng(3)
    b = GraphBuilder("chain")
    x = b.input("x", (8,), "ap_fixed<12,4>")
    h = b.dense("fc1", x, rng.standard_normal((8, 6)) * 3, formats={"result": "ap_fixed<10,2>"})
    h = b.relu("relu", h, {"result": "ap_ufixed<10,1>"})
    b.output("y", b.dense("fc2", h, rng.standard_normal((6, 2)), formats={"result": "ap_fixed<10,2>"}))
    g = b.build()
    data = rng.standard_normal((400, 8)) * 2
    fitted = fit_integer_bits(g, data)
    prof = profile(fitted, data)
    assert all(c.wrapped == 0 and c.saturated == 0 for c in prof.values()), prof
    true_max = golden.run(g, data, float_mode=True, keep_all=True).tensors["relu"].max()
    assert fitted.node("relu").formats["result"].max >= true_max
