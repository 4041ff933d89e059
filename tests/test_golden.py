"""The golden model against the independent scalar reference, float agreement, and shapes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qhw import golden
from qhw.fixed import FixedFormat
from qhw.testing import models

import golden_reference


def _check_against_reference(graph, n=12, seed=0):
    x = models.random_inputs(graph, n, seed=seed)
    res = golden.run_raw(graph, x, keep_all=True)
    for s in range(n):
        sample = {k: v[s].ravel() for k, v in x.items()}
        ref = golden_reference.run_sample(graph, sample)
        for name, want in ref.items():
            got = res.tensors[name][s].ravel().tolist()
            assert got == want, f"{graph.name}: node {name} sample {s}: golden {got} reference {want}"


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_random_graphs_equal_scalar_reference(seed):
    _check_against_reference(models.random_graph(seed), n=6, seed=seed)


def test_mlp_equals_scalar_reference():
    _check_against_reference(models.mlp(widths=(16, 12, 5)), n=8)


@pytest.mark.parametrize("acc", ["ap_fixed<16,6>", "ap_fixed<14,5,AP_RND,AP_SAT>",
                                 "ap_fixed<18,7,AP_RND_CONV,AP_SAT_SYM>"])
@pytest.mark.parametrize("product_cast", [False, True])
def test_narrow_accumulators_equal_scalar_reference(acc, product_cast):
    rng = np.random.default_rng(3)
    from qhw.flow import GraphBuilder
    b = GraphBuilder("narrow")
    x = b.input("x", (10,), "ap_fixed<10,4>")
    d = b.dense("fc", x, rng.standard_normal((10, 4)) * 2, rng.standard_normal(4),
                formats={"accum": acc, "weight": "ap_fixed<8,3>", "result": "ap_fixed<8,3,AP_RND,AP_SAT>"},
                product_cast=product_cast)
    b.output("y", d)
    _check_against_reference(b.build(), n=20)


@pytest.mark.parametrize("bits", [6, 8, 12, 16])
def test_error_vs_float_shrinks_with_bits(bits, request):
    errs = {}
    for b in (bits, bits + 4):
        g = models.mlp(fmt=f"ap_fixed<{b},6>", seed=4)
        x = np.random.default_rng(0).standard_normal((400, 16))
        q = golden.to_float(g, golden.run(g, x))["y"]
        f = golden.run(g, x, float_mode=True).outputs["y"]
        errs[b] = float(np.abs(q - f).mean())
    assert errs[bits + 4] < errs[bits]


def _sigmoid_tanh_net(fmt: str):
    from qhw.flow import GraphBuilder

    rng = np.random.default_rng(9)
    width = FixedFormat.parse(fmt).width
    b = GraphBuilder("sigmoid_tanh")
    t = b.input("x", (8,), fmt)
    t = b.dense("fc1", t, rng.standard_normal((8, 12)) * 0.5, rng.standard_normal(12) * 0.1)
    t = b.unary("sigmoid", "sig", t, {"result": f"ap_ufixed<{width},0>"}, variant="rom",
                table_size=2 ** min(width, 14))
    t = b.dense("fc2", t, rng.standard_normal((12, 4)), rng.standard_normal(4) * 0.1)
    t = b.unary("tanh", "tanh", t, {"result": f"ap_fixed<{width},1>"}, variant="half_rom",
                table_size=2 ** min(width, 14))
    b.output("y", t)
    return b.build(default=fmt)


NETS = {
    "conv1d": lambda fmt: models.conv1d_net(fmt=fmt),
    "conv2d": lambda fmt: models.conv2d_net(fmt=fmt),
    "sigmoid_tanh": _sigmoid_tanh_net,
}


@pytest.mark.parametrize("net", sorted(NETS))
def test_error_vs_float_shrinks_with_bits_on_every_test_net(net):
    """Integer bits fitted on the data at each width; the mean error then falls as width grows."""
    from qhw.passes import fit_integer_bits

    errs = []
    for bits in (6, 8, 10, 12, 16):
        g = NETS[net](f"ap_fixed<{bits},4>")
        x = models.random_inputs(g, 300, seed=1, edges=False)
        xf = {k: g.node(k).formats["result"].to_float(v) for k, v in x.items()}
        g = fit_integer_bits(g, xf, margin=1)
        q = golden.to_float(g, golden.run(g, xf))["y"]
        f = golden.run(g, xf, float_mode=True).outputs["y"]
        errs.append(float(np.abs(q - f).mean()))
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < errs[0] / 20, errs


def test_overflow_counts_and_keep_all():
    from qhw.flow import GraphBuilder
    b = GraphBuilder("ovf")
    x = b.input("x", (4,), "ap_fixed<8,4>")
    b.output("y", b.shift("s", x, 2, formats={"result": "ap_fixed<8,4,AP_TRN,AP_SAT>"}))
    g = b.build()
    r = golden.run(g, np.array([[1.0, 2.5, -3.0, 7.0]]), keep_all=True)
    assert r.overflow["s"].saturated == 3 and r.overflow["s"].total == 4
    assert r.output().tolist() == [[64, 127, -128, 127]]
    assert set(r.tensors) == {"x", "s", "y"}


@pytest.mark.parametrize("n", [1, 300, 1000])
def test_blocks_and_threads_do_not_change_the_result(n):
    """Blocked, threaded runs (a short first block, then a pool) equal one whole-batch pass: every
    tensor, and the overflow counts, which must be summed over blocks."""
    g = models.mlp(widths=(16, 12, 5), fmt="ap_fixed<8,3>")
    x = np.random.default_rng(1).standard_normal((n, 16)) * 4
    whole = golden.run(g, x, keep_all=True, block_rows=10**6, threads=1)
    assert sum(c.total for c in whole.overflow.values()) and any(c.saturated + c.wrapped for c in whole.overflow.values())
    for rows, threads in ((64, 1), (64, 2), (97, 3)):
        r = golden.run(g, x, keep_all=True, block_rows=rows, threads=threads)
        assert r.tensors.keys() == whole.tensors.keys()
        for k in whole.tensors:
            np.testing.assert_array_equal(r.tensors[k], whole.tensors[k], err_msg=k)
        assert {k: vars(c) for k, c in r.overflow.items()} == {k: vars(c) for k, c in whole.overflow.items()}
