"""Per-channel quantize of a 4096x4096 float32 matrix: qhw vs torch.quantize_per_channel.

Run: python benchmarks/bench_quant.py   (target, issue 3: qhw no slower than 2x torch)
"""
from __future__ import annotations

import warnings

import numpy as np

import qhw.quant as q
from timing import best_of


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4096, 4096)).astype(np.float32)
    scales = (np.abs(x).max(axis=1) / 127).astype(np.float64)
    zps = np.zeros(4096, np.int64)
    t_q = best_of(lambda: q.quantize(x, scales, zps, -128, 127, axis=0), repeat=5)
    print(f"qhw.quant.quantize per-channel 4096x4096 float32: {t_q * 1e3:8.1f} ms")
    try:
        import torch
    except ImportError:
        print("torch not installed: no comparison")
        return
    warnings.filterwarnings("ignore")
    xt, st, zt = torch.from_numpy(x), torch.from_numpy(scales), torch.from_numpy(zps)
    t_t = best_of(lambda: torch.quantize_per_channel(xt, st, zt, 0, torch.qint8), repeat=5)
    print(f"torch.quantize_per_channel ({torch.__version__}, {torch.get_num_threads()} threads): {t_t * 1e3:8.1f} ms")
    print(f"ratio qhw / torch: {t_q / t_t:.2f}")


if __name__ == "__main__":
    main()
