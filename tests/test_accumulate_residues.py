"""The residue path of qf.matmul (wrapping accumulator, each product rounded onto it: hls4ml's
accum_t convention) against the per-product rational reference and against the general path.

The fast path rewrites sum(floor((p + h) / 2**k)) as (sum(p) + K*h - sum((p + h) mod 2**k)) / 2**k
and forms the residues in 16/32-bit lanes; these tests pin it to the literal loop on random
formats (WRAP and saturating accumulators, TRN/RND and the non-separable modes, negative
fractions, unsigned operands, residue groups split when K*2**k overflows the lane).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fixed_reference as ref
import qhw.fixed as qf
from qhw.fixed import accumulate
from qhw.fixed.format import FixedFormat

ROUNDINGS = ["TRN", "RND", "RND_CONV", "TRN_ZERO", "RND_MIN_INF"]


def _reference(a, fa, b, fb, acc, init, pf):
    return np.array([[ref.dot([int(v) for v in a[i]], fa, [int(v) for v in b[:, j]], fb, acc,
                              int(init[j]), pf) for j in range(b.shape[1])]
                     for i in range(a.shape[0])], np.int64)


def _operands(rng, fa, fb, acc, n, k, m):
    # extremes of both ranges are always among the operands
    a = rng.integers(fa.raw_min, fa.raw_max + 1, size=(n, k))
    b = rng.integers(fb.raw_min, fb.raw_max + 1, size=(k, m))
    a[0, :] = fa.raw_min
    a[-1, :] = fa.raw_max
    b[:, 0] = fb.raw_min if fb.signed else fb.raw_max
    init = rng.integers(acc.raw_min, acc.raw_max + 1, size=m)
    return a, b, init


@st.composite
def _case(draw):
    def fmt(max_w):
        w = draw(st.integers(1, max_w))
        return FixedFormat(w, draw(st.integers(-w, 2 * w)), draw(st.booleans()))

    fa, fb = fmt(20), fmt(16)
    w = draw(st.integers(2, 40))
    acc = FixedFormat(w, draw(st.integers(-w, 2 * w)), True if w < 2 else draw(st.booleans()),
                      draw(st.sampled_from(ROUNDINGS)),
                      draw(st.sampled_from(["WRAP", "WRAP", "WRAP", "SAT", "SAT_SYM"])))
    pw = draw(st.integers(2, 40))
    other = FixedFormat(pw, draw(st.integers(-pw, 2 * pw)), draw(st.booleans()),
                        draw(st.sampled_from(["TRN", "RND", "RND_CONV"])),
                        draw(st.sampled_from(["WRAP", "SAT"])))
    pf = draw(st.sampled_from([None, acc, acc, other]))
    k = draw(st.integers(1, 90))
    return fa, fb, acc, pf, k, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=150, deadline=None)
@given(_case())
def test_matmul_equals_per_product_reference(case):
    fa, fb, acc, pf, k, seed = case
    assume(fa.width + fb.width <= 64)
    rng = np.random.default_rng(seed)
    a, b, init = _operands(rng, fa, fb, acc, 3, k, 3)
    try:
        got = qf.matmul(a, fa, b, fb, acc, init=init, product_format=pf)
    except ValueError as e:  # a sum wider than 64 bits: refused by design (qhw.fixed.arith)
        assume("64 qhw supports" not in str(e))
        raise
    np.testing.assert_array_equal(got, _reference(a, fa, b, fb, acc, init, pf),
                                  err_msg=f"{fa} {fb} acc={acc} pf={pf}")


@pytest.mark.parametrize("wa,ia,sa,wacc,iacc,rnd,k", [
    (16, 6, True, 16, 6, "TRN", 64),  # hls4ml's ap_fixed<16,6> everywhere: one uint16 group
    (16, 6, True, 16, 6, "RND", 90),  # k=10, K > 64: residue groups split
    (12, 2, False, 18, 4, "TRN", 40),  # k=12: groups of 16
    (14, 1, True, 20, 3, "RND", 20),  # k=13 (groups of 8), unsigned weights below
    (20, 4, True, 24, 6, "TRN", 30),  # k=18: uint32 lanes
    (10, -3, True, 12, -6, "TRN", 25),  # negative integer bits everywhere
    (8, 12, True, 16, 20, "TRN", 33),  # negative fraction bits: products coarser than acc (k<0)
])
def test_residue_path_taken_and_exact(wa, ia, sa, wacc, iacc, rnd, k):
    rng = np.random.default_rng(wa * 100 + k)
    fa = FixedFormat(wa, ia, sa)
    fb = FixedFormat(wa, ia - 1, not sa or k % 2 == 0)
    acc = FixedFormat(wacc, iacc, True, rnd, "WRAP")
    a, b, init = _operands(rng, fa, fb, acc, 5, k, 4)
    n_init = np.broadcast_to(init, (5, 4)).copy()
    fast = accumulate._wrap_residues(a, fa, b, fb, acc, n_init, acc)
    assert fast is not None, "the formats should take the residue path"
    np.testing.assert_array_equal(fast, _reference(a, fa, b, fb, acc, init, acc))
    np.testing.assert_array_equal(qf.matmul(a, fa, b, fb, acc, init=init, product_format=acc), fast)


def test_residue_path_equals_general_path_on_blocks(monkeypatch):
    """Many samples (several residue blocks, a partial last one) vs the int32 block path."""
    rng = np.random.default_rng(3)
    f = FixedFormat(16, 6)
    x = f.quantize(rng.standard_normal((3000, 64)) * 4)
    w = f.quantize(rng.standard_normal((64, 32)))
    x[:7] = f.raw_min
    w[:, :3] = f.raw_max
    bias = f.quantize(rng.standard_normal(32))
    for acc in (f, FixedFormat(16, 6, True, "RND"), FixedFormat(18, 5, False, "TRN", "WRAP")):
        fast = qf.matmul(x, f, w, f, acc, init=acc.cast(bias, f), product_format=acc)
        monkeypatch.setattr(accumulate, "_wrap_residues", lambda *a: None)
        slow = qf.matmul(x, f, w, f, acc, init=acc.cast(bias, f), product_format=acc)
        monkeypatch.undo()
        np.testing.assert_array_equal(fast, slow)


def test_saturating_accumulator_far_below_the_products_grid():
    """A product shifted left by >= 64 bits onto a saturating accumulator's grid saturates it (it
    was taken as 0: ap_ufixed<33,-33,AP_SAT> += 0.25 stayed at 5 LSBs)."""
    fu = FixedFormat(1, 0, False)
    for acc in (FixedFormat(33, -33, False, "TRN", "SAT"), FixedFormat(33, -33, True, "TRN", "SAT"),
                FixedFormat(20, -50, True, "RND", "SAT_SYM")):
        a, b = np.array([[1, 0, 1]]), np.array([[1], [1], [1]])
        init = np.array([5])
        got = qf.matmul(a, fu, b, fu, acc, init=init)
        np.testing.assert_array_equal(got, _reference(a, fu, b, fu, acc, init, None), err_msg=str(acc))
        assert got[0, 0] == acc.raw_max
