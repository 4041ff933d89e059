"""bench_golden.py's comparison in CPU seconds, for a machine shared with other jobs.

Run: python benchmarks/bench_golden_cpu.py
Wall-clock ratios on a loaded machine depend on what else runs while each side is timed; this
script times both sides single-threaded (golden with threads=1 and BLAS limited to one thread,
hls4ml's predict is single-threaded C++) by process CPU time, and also the golden model with the
residue path of qhw/fixed/accumulate.py switched off (the int32 block path it replaced).
"""
from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

import bench_golden
from qhw import golden
from qhw.config import load_config
from qhw.fixed import accumulate
from qhw.testing import models


def cpu_best(f, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        f()
        best = min(best, time.process_time() - t)
    return best


def main(n=100_000):
    x = np.random.default_rng(0).standard_normal((n, 16)).astype(np.float32).astype(np.float64)
    flat = models.mlp(config=load_config({"Model": {"Precision": {"default": "ap_fixed<16,6>"},
                                                    "ReuseFactor": 1, "Strategy": "Latency"}}))
    lossless = models.mlp(fmt="ap_fixed<16,6>")
    for g in (lossless, flat):
        for node in g.nodes():
            node.params = {k: v.astype(np.float32).astype(np.float64) for k, v in node.params.items()}
    t = {}
    with threadpool_limits(1, user_api="blas"):
        for name, g in (("lossless", lossless), ("hls4ml-style", flat)):
            t[name] = cpu_best(lambda: golden.run(g, x, count_overflow=False, threads=1), 5)
        residues = accumulate._wrap_residues
        accumulate._wrap_residues = lambda *a: None
        try:
            t["int32 path"] = cpu_best(lambda: golden.run(flat, x, count_overflow=False, threads=1), 3)
        finally:
            accumulate._wrap_residues = residues
    for name, g in (("lossless", lossless), ("hls4ml-style", flat)):
        predict = bench_golden._hls4ml_model(g)
        t["hls4ml " + name] = cpu_best(lambda: predict(x), 1)
    print(f"{n:,} samples, MLP 16-64-32-32-5, CPU seconds, one thread each")
    for name in ("lossless", "hls4ml-style"):
        print(f"golden, {name:38s}{t[name]:8.3f} s   hls4ml predict {t['hls4ml ' + name]:7.3f} s"
              f"   {t['hls4ml ' + name] / t[name]:6.1f}x")
    print(f"golden, hls4ml-style, int32 path (before)  {t['int32 path']:8.3f} s   "
          f"{t['hls4ml hls4ml-style'] / t['int32 path']:6.1f}x")


if __name__ == "__main__":
    main()
