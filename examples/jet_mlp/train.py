"""Train the jet-tagging-style MLP 16-64-32-32-5 in numpy on synthetic data and save it.

The real jet dataset is not available offline; this one mimics its shape: 16 features, 5 classes,
class-dependent means and correlated noise. Everything is seeded: rerunning rewrites identical
files. Run: python examples/jet_mlp/train.py
Writes model.yaml + model.npz (qhw native format, ap_fixed<16,6> by default) and x_val.npy,
y_val.npy beside this script.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qhw.flow import GraphBuilder
from qhw.io import save

HERE = Path(__file__).resolve().parent
WIDTHS = (16, 64, 32, 32, 5)


def make_data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(42).standard_normal((5, 16)) * 1.2
    mix = np.random.default_rng(43).standard_normal((16, 16)) * 0.35
    y = rng.integers(0, 5, n)
    x = centers[y] + rng.standard_normal((n, 16)) @ (np.eye(16) + mix)
    return x, y


def train(x, y, epochs=40, lr=0.05, seed=0):
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal((k, m)) * np.sqrt(2 / k) for k, m in zip(WIDTHS[:-1], WIDTHS[1:])]
    bs = [np.zeros(m) for m in WIDTHS[1:]]
    onehot = np.eye(5)[y]
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            acts = [x[idx]]
            for j, (w, b) in enumerate(zip(ws, bs)):
                z = acts[-1] @ w + b
                acts.append(np.maximum(z, 0) if j < len(ws) - 1 else z)
            p = np.exp(acts[-1] - acts[-1].max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            g = (p - onehot[idx]) / len(idx)
            for j in reversed(range(len(ws))):
                gw, gb = acts[j].T @ g, g.sum(axis=0)
                if j:
                    g = (g @ ws[j].T) * (acts[j] > 0)
                ws[j] -= lr * gw
                bs[j] -= lr * gb
    return ws, bs


def build(ws, bs, fmt="ap_fixed<16,6>"):
    b = GraphBuilder("jet_mlp")
    t = b.input("x", (WIDTHS[0],), fmt)
    for j, (w, bias) in enumerate(zip(ws, bs)):
        t = b.dense(f"fc{j + 1}", t, w, bias)
        if j < len(ws) - 1:
            t = b.relu(f"relu{j + 1}", t)
    b.output("y", t)
    return b.build(default=fmt)


def main():
    x, y = make_data(20000, seed=1)
    xv, yv = make_data(2000, seed=2)
    ws, bs = train(x, y)
    # integer bits of every result fitted to the training data's ranges (one profiling run)
    from qhw.passes import fit_integer_bits

    graph = fit_integer_bits(build(ws, bs), x[:5000], margin=1)
    save(graph, HERE / "model.yaml")
    np.save(HERE / "x_val.npy", xv.astype(np.float32))
    np.save(HERE / "y_val.npy", yv)
    from qhw import golden

    acc_f = (golden.run(graph, xv, float_mode=True).output().argmax(1) == yv).mean()
    acc_q = (golden.to_float(graph, golden.run(graph, xv))["y"].argmax(1) == yv).mean()
    print(f"validation accuracy: float {acc_f:.3f}, ap_fixed<16,6> {acc_q:.3f}")


if __name__ == "__main__":
    main()
