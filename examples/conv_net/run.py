"""A small 1-D conv net, trained in numpy, quantized, compiled to Verilog and simulated.

Task (synthetic, seeded): 32-sample signals with noise, 4 classes by the shape hidden in them —
a rising step, a falling step, a short pulse, or nothing. Network: conv1d (5 taps, 8 filters,
"same") → relu → average pool over 32 (global) → dense 8 → 4.

Run: python examples/conv_net/run.py [--bits 10] [--vectors 300]
Prints float vs fixed-point accuracy (integer bits fitted to the training data), then simulates
the RTL under Verilator on random input codes with random stalls, and the HLS C++ under g++, and
checks every output against the golden model bit for bit (needs the [sim] extra and g++).
"""
from __future__ import annotations

import argparse

import numpy as np

from qhw import golden
from qhw.flow import GraphBuilder
from qhw.passes import fit_integer_bits

LENGTH, TAPS, FILTERS, CLASSES = 32, 5, 8, 4


def make_data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    t = np.arange(LENGTH)
    at = rng.integers(6, LENGTH - 6, n)[:, None]
    shapes = [t >= at, t < at, np.abs(t - at) <= 1, np.zeros((n, LENGTH), bool)]
    x = np.choose(y[:, None], [s.astype(float) for s in shapes])
    x = x * rng.uniform(0.6, 1.4, (n, 1)) + rng.normal(0, 0.25, (n, LENGTH))
    return x[..., None], y  # (N, L, 1): channels last


def windows(x: np.ndarray) -> np.ndarray:
    """(N, L, 1) → (N, L, TAPS) with "same" zero padding (im2col)."""
    pad = np.pad(x[..., 0], ((0, 0), (TAPS // 2, TAPS // 2)))
    return np.lib.stride_tricks.sliding_window_view(pad, TAPS, axis=1)


def train(x, y, epochs=30, lr=0.1, seed=0):
    rng = np.random.default_rng(seed)
    wc, bc = rng.standard_normal((TAPS, FILTERS)) * 0.5, np.zeros(FILTERS)
    wd, bd = rng.standard_normal((FILTERS, CLASSES)) * 0.5, np.zeros(CLASSES)
    onehot = np.eye(CLASSES)[y]
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            win = windows(x[idx])                      # (B, L, TAPS)
            z = win @ wc + bc                          # (B, L, F)
            h = np.maximum(z, 0)
            pooled = h.mean(axis=1)                    # (B, F)
            logits = pooled @ wd + bd
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            g = (p - onehot[idx]) / len(idx)
            gwd, gbd = pooled.T @ g, g.sum(0)
            gh = np.repeat((g @ wd.T)[:, None, :] / LENGTH, LENGTH, axis=1) * (z > 0)
            gwc, gbc = np.einsum("blt,blf->tf", win, gh), gh.sum((0, 1))
            wd -= lr * gwd
            bd -= lr * gbd
            wc -= lr * gwc
            bc -= lr * gbc
    return wc, bc, wd, bd


def build(wc, bc, wd, bd, bits: int):
    fmt = f"ap_fixed<{bits},3>"
    b = GraphBuilder("conv_net")
    t = b.input("x", (LENGTH, 1), fmt)
    t = b.conv1d("conv", t, wc[:, None, :], bc, padding="same")
    t = b.relu("relu", t)
    t = b.pool("avgpool1d", "pool", t, kernel_size=LENGTH)
    t = b.flatten("flat", t)
    t = b.dense("fc", t, wd, bd)
    b.output("y", t)
    return b.build(default=fmt)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=10, help="total width of every tensor (default 10)")
    ap.add_argument("--vectors", type=int, default=300, help="RTL simulation vectors (0: skip)")
    args = ap.parse_args(argv)
    x, y = make_data(6000, seed=1)
    xv, yv = make_data(1000, seed=2)
    graph = fit_integer_bits(build(*train(x, y), bits=args.bits), x[:2000], margin=1)
    acc_f = float((golden.run(graph, xv, float_mode=True).output().argmax(-1) == yv).mean())
    acc_q = float((golden.to_float(graph, golden.run(graph, xv))["y"].argmax(-1) == yv).mean())
    print(f"validation accuracy: float {acc_f:.3f}, {args.bits}-bit fixed point {acc_q:.3f}")
    result = {"float_accuracy": acc_f, "fixed_accuracy": acc_q}
    if args.vectors:
        from qhw.verify import verify

        sim = verify(graph, n=args.vectors)
        print(f"RTL simulation (Verilator): {sim.summary()}")
        csim = verify(graph, n=args.vectors, backend="hls")
        print(f"HLS C simulation (g++): {csim.summary()}")
        result["rtl_mismatches"], result["hls_mismatches"] = sim.mismatches, csim.mismatches
    return result


if __name__ == "__main__":
    main()
