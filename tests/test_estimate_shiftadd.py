"""Shift-add networks with shared subexpressions (``multipliers="csd"``).

Oracles: the integer matrix product ``x @ W`` (numpy) for the network itself, and the golden
model against Verilator running the emitted RTL for whole graphs.
"""
from __future__ import annotations

import numpy as np
import pytest

from qhw.backends.verilog import write_verilog
from qhw.backends.verilog.shiftadd import Pass, csd_digits, plan_shift_add
from qhw.flow import GraphBuilder
from qhw.testing import models
from qhw.verify.stream import run_harness
from qhw.verify.vectors import golden_vectors, write_vectors
from rtl_checks import check_design


def _evaluate(net, x: list[int]) -> list[int]:
    """Scalar walk of the network; checks every value against its declared interval."""
    val = {v: int(x[i]) for v, i in enumerate(net.inputs)}
    for st in net.steps:
        if isinstance(st, Pass):
            val[st.out] = val[st.src]
            continue
        val[st.out] = val[st.left] + st.sign * (val[st.right] << st.shift)
        assert st.lo <= val[st.out] <= st.hi, st
    return [0 if r is None else r[2] * (val[r[0]] << r[1]) for r in net.roots]


def test_csd_digits_sum_to_value_and_are_non_adjacent():
    for c in list(range(-300, 301)) + [2**20 - 1, -(2**31) + 5]:
        digits = csd_digits(c)
        assert sum(s << k for s, k in digits) == c
        shifts = [k for _, k in digits]
        assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:])), c
        # the non-adjacent form's weight has a closed form: popcount(|c| XOR 3|c|)
        assert len(digits) == bin(abs(c) ^ (3 * abs(c))).count("1")


@pytest.mark.parametrize("n,bits,lo,hi,every", [(16, 8, -128, 127, 0), (12, 6, 0, 255, 2),
                                                 (7, 10, -512, 511, 1), (5, 3, -4, 3, 0)])
def test_network_equals_matrix_product(n, bits, lo, hi, every):
    rng = np.random.default_rng(n)
    w = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(n, n + 3))
    w[:, 0] = 0  # an output without terms
    cols = [[(i, int(w[i, j])) for i in range(n) if w[i, j]] for j in range(w.shape[1])]
    shared = plan_shift_add(cols, lo, hi, every=every)
    plain = plan_shift_add(cols, lo, hi, share=False, every=every)
    for _ in range(30):
        x = rng.integers(lo, hi + 1, n)
        ref = [int(v) for v in x @ w]
        assert _evaluate(shared, list(x)) == ref
        assert _evaluate(plain, list(x)) == ref
    # extremes hit the interval bounds hardest
    for x in (np.full(n, lo), np.full(n, hi), np.where(w[:, 1] > 0, hi, lo)):
        assert _evaluate(shared, list(x)) == [int(v) for v in x @ w]
    # sharing never costs more adders than the plain CSD trees
    assert len(shared.adders) <= len(plain.adders)
    if n >= 12:
        assert shared.shared > 0 and shared.cost_bits() < plain.cost_bits()


def _int_layer(seed: int, bias: bool):
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"sa{seed}")
    t = b.input("x", (6,), "ap_fixed<8,3>")
    w = rng.integers(-100, 100, size=(6, 5)) / 64.0
    t = b.dense("fc1", t, w, rng.standard_normal(5) if bias else None,
                formats={"weight": "ap_fixed<8,2>", "accum": "ap_fixed<20,8>"})
    t = b.relu("relu", t)
    t = b.dense("fc2", t, rng.integers(-60, 60, size=(5, 3)) / 32.0,
                formats={"weight": "ap_fixed<7,2>"})
    b.output("y", t)
    return b.build(default="ap_fixed<12,5>")


def _conv():
    """6 positions x 3 channels (10 x 4 before: 40 x 3 dense weights, twice the products and
    the Yosys time of this one)."""
    rng = np.random.default_rng(4)
    b = GraphBuilder("sa_conv")
    t = b.input("x", (6, 2), "ap_fixed<8,3>")
    t = b.conv1d("conv", t, rng.standard_normal((3, 2, 3)) / 2.5, rng.standard_normal(3) * 0.1,
                 padding="same", formats={"weight": "ap_fixed<7,1>"})
    t = b.relu("relu", t)
    t = b.flatten("flat", t)
    t = b.dense("fc", t, rng.standard_normal((18, 3)) / 6.0, formats={"weight": "ap_fixed<6,1>"})
    b.output("y", t)
    return b.build(default="ap_fixed<10,4>")


CASES = {
    # 9 leaves per first-layer output: trees of 4 levels, registers after levels 2 and 4
    "mlp_stages": (lambda: models.mlp(widths=(8, 6, 4, 3)), {"tree_stage_levels": 2}),
    "conv1d": (lambda: _conv(), {}),
    "int_bias": (lambda: _int_layer(1, True), {"tree_stage_levels": 1}),
}


# mlp_stages is slow: lint, Yosys synth of a flat shift-add netlist and simulation (16-12-8-5:
# 588 s at load 8-12, 677 s cold at load 20; now 8-6-4-3, a quarter of the products).
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "mlp_stages" else n
                                  for n in CASES])
def test_csd_rtl_equals_golden(tmp_path, name):
    make, extra = CASES[name]
    g = make()
    d = write_verilog(g, tmp_path / "rtl", options={"multipliers": "csd", **extra})
    check_design(d)
    ins, exp = golden_vectors(g, 120, seed=5)
    write_vectors(tmp_path / "vectors", ins, exp)
    res = run_harness(tmp_path / "rtl", tmp_path / "vectors", seed=2, gap=0.2, stall=0.2)
    assert res.ok, res.summary()
    if extra.get("tree_stage_levels"):
        assert d.latency > len(g) - 2  # pipeline registers in the trees add cycles


def test_repeated_inputs_and_zero_weights():
    cols = [[(0, 3), (1, 0), (0, 5)], [(2, -7), (2, 7)], []]
    net = plan_shift_add(cols, -8, 7)
    for x in ([1, 2, 3], [-8, 7, -8], [7, -8, 7]):
        assert _evaluate(net, x) == [8 * x[0], 0, 0]
