"""Per-row quantized embedding tables (8-bit rows with one float scale each).

scale_r = max|row_r| / (b - 1); q = floor(x / scale_r + b + 0.5) stored as uint8 with b = 128;
dequantized as (q - b) * scale_r. Rows can be gathered before dequantizing (embedding lookup).
"""
from __future__ import annotations

import numpy as np

from qhw.quant.affine import round_values

BIAS = 128


def quantize_rows(table) -> tuple[np.ndarray, np.ndarray]:
    """(codes uint8 (rows, dim), scales float64 (rows,))."""
    t = np.asarray(table, dtype=np.float64)
    if t.ndim != 2:
        raise ValueError(f"an embedding table is 2-D (rows, dim), got shape {t.shape}")
    m = np.abs(t).max(axis=1)
    scales = np.where(m > 0, m / (BIAS - 1), 1.0)
    q = round_values(t / scales[:, None], "half_up") + BIAS  # exact: no float + 0.5
    return np.clip(q, 0, 255).astype(np.uint8), scales


def dequantize_rows(codes, scales, rows=None) -> np.ndarray:
    """Float values of all rows, or of the gathered ``rows`` (indices) only."""
    codes, scales = np.asarray(codes), np.asarray(scales, dtype=np.float64)
    if rows is not None:
        idx = np.asarray(rows, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= codes.shape[0]):
            raise ValueError(f"row index out of range 0..{codes.shape[0] - 1}")
        codes, scales = codes[idx], scales[idx]
    return (codes.astype(np.float64) - BIAS) * scales[..., None]
