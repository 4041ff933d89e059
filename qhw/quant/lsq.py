"""Learned step size quantization (LSQ, Esser et al. 2020) and LSQ+ (Bhalgat et al. 2020) in numpy.

Forward: x^ = s * round(clamp(x / s, -Qn, Qp)) (LSQ+: x^ = s * round(clamp((x - b) / s, -Qn, Qp)) + b).
Backward with the straight-through estimator for round: d x^/d x = 1 inside the range, 0 outside;
d x^/d s = round(v) - v inside, -Qn or Qp outside (v = x/s), scaled by g = 1/sqrt(N * Qp).
"""
from __future__ import annotations

import numpy as np


def lsq_init_step(x, qp: int) -> float:
    """s0 = 2 mean|x| / sqrt(Qp)."""
    return float(2.0 * np.mean(np.abs(x)) / np.sqrt(qp))


def lsq_grad_scale(n: int, qp: int) -> float:
    """g = 1 / sqrt(N * Qp)."""
    return float(1.0 / np.sqrt(n * qp))


def _check(s, qn, qp):
    if not np.all(np.asarray(s) > 0):
        raise ValueError(f"step size s must be > 0, got {s}")
    if qn < 0 or qp <= 0:
        raise ValueError(f"need qn >= 0 and qp > 0, got qn={qn}, qp={qp}")


def lsq_forward(x, s, qn: int, qp: int) -> np.ndarray:
    _check(s, qn, qp)
    v = np.clip(np.asarray(x) / s, -qn, qp)
    return np.rint(v) * s


def lsq_backward(x, s, qn: int, qp: int, grad_out, g: float | None = None):
    """(grad_x, grad_s); grad_s is a scalar for a scalar s (summed over the tensor)."""
    _check(s, qn, qp)
    x = np.asarray(x)
    v = x / s
    lo, hi = v <= -qn, v >= qp
    inside = ~(lo | hi)
    grad_x = grad_out * inside
    ds = np.where(inside, np.rint(v) - v, np.where(lo, -qn, qp))
    if g is None:
        g = lsq_grad_scale(x.size, qp)
    grad_s = grad_out * ds * g
    if np.ndim(s) == 0:
        grad_s = grad_s.sum()
    return grad_x, grad_s


def lsq_plus_forward(x, s, beta, qn: int, qp: int) -> np.ndarray:
    return lsq_forward(np.asarray(x) - beta, s, qn, qp) + beta


def lsq_plus_backward(x, s, beta, qn: int, qp: int, grad_out, g: float | None = None):
    """(grad_x, grad_s, grad_beta) for LSQ+ (learnable offset beta, scaled by g like s)."""
    x = np.asarray(x)
    grad_x, grad_s = lsq_backward(x - beta, s, qn, qp, grad_out, g)
    if g is None:
        g = lsq_grad_scale(x.size, qp)
    v = (x - beta) / s
    outside = (v <= -qn) | (v >= qp)
    grad_beta = grad_out * outside * g
    if np.ndim(beta) == 0:
        grad_beta = grad_beta.sum()
    return grad_x, grad_s, grad_beta
