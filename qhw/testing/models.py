"""Small reference models built with GraphBuilder (seeded: same seed, same graph).

Weights are random here (scaled like trained ones); the examples train real ones.
"""
from __future__ import annotations

import numpy as np

from qhw.fixed import FixedFormat, OVERFLOW_MODES, ROUNDING_MODES
from qhw.flow import GraphBuilder
from qhw.golden.vectors import random_inputs  # noqa: F401 - tests and benchmarks use it from here
from qhw.graph import Graph


def _w(rng, *shape, fan_in=None):
    fan_in = fan_in or shape[0]
    return rng.standard_normal(shape) / np.sqrt(fan_in)


def mlp(widths=(16, 64, 32, 32, 5), fmt="ap_fixed<16,6>", seed=0, config=None,
        name="mlp") -> Graph:
    """Dense + ReLU layers (no activation on the last), e.g. the jet-tagging 16-64-32-32-5."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(name)
    t = b.input("x", (widths[0],), fmt)
    for i, (k, m) in enumerate(zip(widths[:-1], widths[1:])):
        t = b.dense(f"fc{i + 1}", t, _w(rng, k, m), rng.standard_normal(m) * 0.1)
        if i < len(widths) - 2:
            t = b.relu(f"relu{i + 1}", t)
    b.output("y", t)
    # a config's Model precision, when it has one, is the default
    return b.build(config=config, default=None if getattr(config, "default", None) else fmt)


def conv1d_net(length=32, channels=3, fmt="ap_fixed<12,4>", seed=1) -> Graph:
    rng = np.random.default_rng(seed)
    b = GraphBuilder("conv1d_net")
    t = b.input("x", (length, channels), fmt)
    t = b.conv1d("conv1", t, _w(rng, 3, channels, 8, fan_in=3 * channels), rng.standard_normal(8) * 0.1,
                 padding="same")
    t = b.relu("relu1", t)
    t = b.pool("maxpool1d", "pool1", t, kernel_size=2)
    t = b.conv1d("conv2", t, _w(rng, 3, 8, 4, fan_in=24), stride=2)
    t = b.relu("relu2", t)
    t = b.flatten("flat", t)
    t = b.dense("fc", t, _w(rng, 28, 5), rng.standard_normal(5) * 0.1)
    b.output("y", t)
    return b.build(default=fmt)


def conv2d_net(size=8, channels=1, fmt="ap_fixed<12,4>", seed=2) -> Graph:
    rng = np.random.default_rng(seed)
    b = GraphBuilder("conv2d_net")
    t = b.input("x", (size, size, channels), fmt)
    t = b.conv2d("conv1", t, _w(rng, 3, 3, channels, 4, fan_in=9 * channels), rng.standard_normal(4) * 0.1,
                 padding=1)
    t = b.relu("relu1", t)
    t = b.pool("maxpool2d", "pool1", t, kernel_size=2)
    t = b.conv2d("conv2", t, _w(rng, 2, 2, 4, 4, fan_in=16))
    t = b.relu("relu2", t)
    t = b.pool("avgpool2d", "pool2", t, kernel_size=3)
    t = b.flatten("flat", t)
    t = b.dense("fc", t, _w(rng, 4, 3))
    b.output("y", t)
    return b.build(default=fmt)


def _random_format(rng, narrow=True) -> FixedFormat:
    w = int(rng.integers(4, 13))
    return FixedFormat(w, int(rng.integers(1, 6)), bool(rng.integers(0, 4) > 0),
                       str(rng.choice(ROUNDING_MODES)), str(rng.choice(OVERFLOW_MODES)))


def random_graph(seed: int, max_layers: int = 5) -> Graph:
    """A random chain (with residual adds and concats) of dense, conv-free elementwise and
    activation layers with random result formats and modes: for cross-checking backends."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"random{seed}")
    width = int(rng.integers(2, 9))
    t = b.input("x", (width,), FixedFormat(int(rng.integers(4, 11)), int(rng.integers(1, 5))))
    for i in range(int(rng.integers(2, max_layers + 1))):
        kind = rng.choice(["dense", "dense", "relu", "clip", "shift", "add", "concat", "relu6"])
        fmts = {"result": _random_format(rng)} if rng.random() < 0.6 else None
        name = f"l{i}_{kind}"
        if kind == "dense":
            m = int(rng.integers(2, 9))
            dfm = {"weight": FixedFormat(int(rng.integers(3, 9)), int(rng.integers(0, 3)))}
            if fmts:
                dfm.update(fmts)
            if rng.random() < 0.3:
                dfm["accum"] = _random_format(rng)
            t = b.dense(name, t, rng.standard_normal((width, m)), rng.standard_normal(m) * 0.5,
                        formats=dfm, product_cast=bool(rng.random() < 0.3))
            width = m
        elif kind == "relu":
            t = b.relu(name, t, fmts)
        elif kind == "relu6":
            t = b.relu6(name, t, fmts)
        elif kind == "clip":
            t = b.clip(name, t, float(-rng.random() * 2), float(rng.random() * 2), fmts)
        elif kind == "shift":
            t = b.shift(name, t, int(rng.integers(-3, 4)), fmts)
        elif kind == "add":
            t = b.add(name, t, b.relu(name + "_skip", t), fmts)
        else:
            t = b.concat(name, [t, b.relu(name + "_r", t)], formats=fmts)
            width *= 2
    b.output("y", t)
    return b.build(default=FixedFormat(12, 4))


def embedding_net(rows=40, dim=6, length=4, code_bits=8, seed=5) -> Graph:
    """indices (length,) -> per-row quantized embedding (rows x dim; row norms spread over two
    decades, where per-row scales matter) -> flatten -> dense 3."""
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((rows, dim)) * np.geomspace(0.05, 5.0, rows)[:, None]
    b = GraphBuilder("embedding_net")
    x = b.input("idx", (length,), f"ap_uint<{max(1, int(np.ceil(np.log2(rows))))}>")
    e = b.node("emb", "embedding", [x], params={"table": table},
               formats={"table": f"ap_int<{code_bits}>", "result": "ap_fixed<14,4,AP_RND,AP_SAT>"})
    t = b.flatten("flat", e)
    b.output("y", b.dense("fc", t, _w(rng, length * dim, 3), rng.standard_normal(3) * 0.1))
    return b.build(default="ap_fixed<16,6>")


def softmax_net(variant="stable", classes=5, fmt="ap_fixed<12,5>", seed=6) -> Graph:
    """dense 8 -> classes, then softmax (stable: probabilities; argmax: the class index)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"softmax_{variant}")
    t = b.input("x", (8,), fmt)
    t = b.dense("fc", t, _w(rng, 8, classes) * 2, rng.standard_normal(classes) * 0.1)
    b.output("y", b.unary("softmax", "sm", t, variant=variant))
    return b.build(default="ap_fixed<16,6>")


def cnn(size=32, channels=3, widths=(16, 32, 32), classes=10, fmt="ap_fixed<8,3>",
        weight="ap_fixed<4,1>", seed=4, name="cnn") -> Graph:
    """The CNN of issue 18: image -> per width a 3x3 conv ('same' padding) + ReLU + 2x2 max
    pool -> flatten -> dense; 4-bit weights, ``fmt`` activations (results of every layer)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(name)
    t = b.input("x", (size, size, channels), fmt)
    cin = channels
    for i, c in enumerate(widths):
        t = b.conv2d(f"conv{i + 1}", t, _w(rng, 3, 3, cin, c, fan_in=9 * cin),
                     rng.standard_normal(c) * 0.1, formats={"weight": weight, "result": fmt},
                     padding="same")
        t = b.relu(f"relu{i + 1}", t)
        t = b.pool("maxpool2d", f"pool{i + 1}", t, kernel_size=2)
        cin = c
    t = b.flatten("flat", t)
    t = b.dense("fc", t, _w(rng, (size >> len(widths)) ** 2 * cin, classes),
                rng.standard_normal(classes) * 0.1, formats={"weight": weight, "result": fmt})
    b.output("y", t)
    return b.build(default=fmt)


def timing_net() -> Graph:
    """dense -> sigmoid (a ROM) -> dense folded by R = 2 -> requantize (an integer multiplier):
    one of each block a clock period pipelines differently (tests/test_timing.py,
    benchmarks/calibrate_timing.py)."""
    rng = np.random.default_rng(11)
    b = GraphBuilder("tnet")
    t = b.input("x", (6,), "ap_fixed<8,3>")
    t = b.dense("fc1", t, rng.standard_normal((6, 8)) / 2.5, rng.standard_normal(8) * 0.1)
    t = b.unary("sigmoid", "sig", t, formats={"result": "ap_ufixed<8,0>"})
    t = b.dense("fc2", t, rng.standard_normal((8, 4)) / 3, rng.standard_normal(4) * 0.1,
                reuse_factor=2)
    t = b.requantize("rq", t, 5, 2, formats={"result": "ap_fixed<10,6>"})
    b.output("y", t)
    return b.build(default="ap_fixed<8,3>")
