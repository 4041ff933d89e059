"""conv and pooling in the golden model against direct loops written from the definitions."""
import numpy as np

from qhw import golden
from qhw.fixed import FixedFormat
from qhw.flow import GraphBuilder


def test_conv2d_float_and_fixed_against_direct_loops():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 2, 2, 3))
    bias = rng.standard_normal(3)
    b = GraphBuilder("c")
    x = b.input("x", (5, 6, 2), "ap_fixed<10,4>")
    b.output("y", b.conv2d("c", x, w, bias, stride=[2, 1], padding=[1, 0, 1, 1],
                           formats={"weight": "ap_fixed<10,3>", "bias": "ap_fixed<10,3>",
                                    "result": "ap_fixed<24,10>"}))
    g = b.build()
    xs = rng.standard_normal((2, 5, 6, 2))
    xq = FixedFormat(10, 4).to_float(FixedFormat(10, 4).quantize(xs))
    wq = FixedFormat(10, 3).to_float(FixedFormat(10, 3).quantize(w))
    bq = FixedFormat(10, 3).to_float(FixedFormat(10, 3).quantize(bias))
    pad = np.pad(xq, [(0, 0), (1, 1), (0, 1), (0, 0)])
    oh, ow = g.node("c").shape[:2]
    want = np.zeros((2, oh, ow, 3))
    for n in range(2):
        for i in range(oh):
            for j in range(ow):
                for co in range(3):
                    acc = bq[co]
                    for a in range(3):
                        for c in range(2):
                            for ci in range(2):
                                acc += pad[n, i * 2 + a, j + c, ci] * wq[a, c, ci, co]
                    want[n, i, j, co] = acc
    got = golden.to_float(g, golden.run(g, xs))["y"]
    np.testing.assert_array_equal(got, want)  # lossless accumulator, 24-bit result: exact


def test_pools_against_direct_loops():
    rng = np.random.default_rng(1)
    b = GraphBuilder("p")
    x = b.input("x", (6, 6, 2), "ap_fixed<8,3>")
    mp = b.pool("maxpool2d", "mp", x, kernel_size=2)
    ap = b.pool("avgpool2d", "ap", x, kernel_size=3, formats={"result": "ap_fixed<20,4>"})
    b.output("y1", mp)
    b.output("y2", ap)
    g = b.build()
    xs = rng.standard_normal((3, 6, 6, 2))
    xq = FixedFormat(8, 3).to_float(FixedFormat(8, 3).quantize(xs))
    r = golden.to_float(g, golden.run(g, xs))
    want_max = xq.reshape(3, 3, 2, 3, 2, 2).max(axis=(2, 4))
    np.testing.assert_array_equal(r["y1"], want_max)
    avg = xq.reshape(3, 2, 3, 2, 3, 2).sum(axis=(2, 4)) / 9
    assert np.abs(r["y2"] - avg).max() <= 2.0 ** -16 * 4  # 1/9 is not a power of two
