"""Train a logistic classifier with LSQ-quantized weights and inputs, in numpy only.

Run: python examples/lsq_logistic.py
Prints the learned step sizes and the test accuracy at 8, 4 and 3 bits (and in float).
"""
from __future__ import annotations

import numpy as np

import qhw.quant as q


def make_data(n=4000, d=20, seed=0):
    rng = np.random.default_rng(seed)
    w_true = rng.standard_normal(d)
    x = rng.standard_normal((n, d))
    y = (x @ w_true + 0.5 * rng.standard_normal(n) > 0).astype(np.float64)
    return x[: n // 2], y[: n // 2], x[n // 2:], y[n // 2:]


def train(x, y, bits: int | None, epochs=60, lr=0.1, seed=1):
    """Logistic regression; with bits, weights (signed) and inputs (signed) pass through LSQ."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(x.shape[1]) * 0.01
    b = 0.0
    if bits:
        qn, qp = 2 ** (bits - 1), 2 ** (bits - 1) - 1
        s_w, s_x = q.lsq_init_step(np.full_like(w, 0.3), qp), q.lsq_init_step(x, qp)
    for _ in range(epochs):
        for i in range(0, len(x), 100):
            xb, yb = x[i:i + 100], y[i:i + 100]
            xq = q.lsq_forward(xb, s_x, qn, qp) if bits else xb
            wq = q.lsq_forward(w, s_w, qn, qp) if bits else w
            p = 1 / (1 + np.exp(-(xq @ wq + b)))
            g = (p - yb) / len(xb)  # d loss / d logit
            g_wq, g_xq = xq.T @ g, np.outer(g, wq)
            b -= lr * g.sum()
            if bits:
                g_w, g_sw = q.lsq_backward(w, s_w, qn, qp, g_wq)
                _, g_sx = q.lsq_backward(xb, s_x, qn, qp, g_xq)
                w -= lr * g_w
                s_w = max(s_w - lr * g_sw, 1e-4)
                s_x = max(s_x - lr * g_sx, 1e-4)
            else:
                w -= lr * g_wq
    return w, b, (s_w, s_x) if bits else None


def accuracy(x, y, w, b, steps, bits):
    if bits:
        qn, qp = 2 ** (bits - 1), 2 ** (bits - 1) - 1
        x, w = q.lsq_forward(x, steps[1], qn, qp), q.lsq_forward(w, steps[0], qn, qp)
    return float(((x @ w + b > 0) == (y > 0.5)).mean())


def main() -> dict:
    xtr, ytr, xte, yte = make_data()
    results = {}
    for bits in (None, 8, 4, 3):
        w, b, steps = train(xtr, ytr, bits)
        acc = accuracy(xte, yte, w, b, steps, bits)
        results[bits or "float"] = acc
        step_txt = f"  step sizes: weights {steps[0]:.4f}, inputs {steps[1]:.4f}" if steps else ""
        print(f"{str(bits or 'float'):>5} bits: accuracy {acc:.3f}{step_txt}")
    return results


if __name__ == "__main__":
    main()
