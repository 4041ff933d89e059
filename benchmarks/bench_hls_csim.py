"""HLS C simulation vs the golden model on the MLP 16-64-32-32-5 (ap_fixed<16,6>), one run.

Reports: write_hls time; g++ build time cold (a fresh cache key) and warm (cache hit: hashing
only); C-sim throughput in samples/s (the testbench alone, and end to end from Python including
writing and parsing the vector files); golden-model throughput on the same vectors; and checks
that both give the same raw codes.

    python benchmarks/bench_hls_csim.py [--samples 100000]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from qhw.backends.hls import run_raw, write_hls
from qhw.backends.hls import sim
from qhw.golden import run_raw as golden_raw
from qhw.testing import models


def best_of(n: int, fn):
    times, result = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100_000)
    args = ap.parse_args()
    n = args.samples
    graph = models.mlp()
    raw = models.random_inputs(graph, n, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        hls = Path(tmp) / "hls"
        t_write, _ = best_of(3, lambda: write_hls(graph, hls))
        nonce = f"-DQHW_BENCH_NONCE={time.time_ns()}_{os.getpid()}"
        cold = sim.build(hls, (nonce,))
        warm = sim.build(hls, (nonce,))
        assert not cold.cached and warm.cached
        sim.build(hls)  # the default-flag build used by run_file/run_raw below
        inp = Path(tmp) / "input.txt"
        sim.write_codes(inp, raw["x"])
        t_tb, (outs, _, tb_seconds) = best_of(1, lambda: sim.run_file(hls, inp))
        t_e2e, got = best_of(1, lambda: run_raw(hls, raw))
        t_gold, want = best_of(3, lambda: golden_raw(graph, raw).outputs)
    assert np.array_equal(got["y"], want["y"]) and np.array_equal(outs["y"], want["y"])
    lines = [
        f"MLP 16-64-32-32-5, ap_fixed<16,6>, {n:,} samples, 2-core machine",
        f"write_hls                          {t_write * 1e3:8.1f} ms",
        f"g++ build, cold (-O2, 2 TUs)       {cold.seconds:8.2f} s",
        f"g++ build, cached (hash only)      {warm.seconds * 1e3:8.1f} ms",
        f"C-sim testbench run                {tb_seconds:8.2f} s   {n / tb_seconds:12,.0f} samples/s",
        f"C-sim end to end from Python       {t_e2e:8.2f} s   {n / t_e2e:12,.0f} samples/s",
        f"golden model (numpy, best of 3)    {t_gold:8.2f} s   {n / t_gold:12,.0f} samples/s",
        f"golden / C-sim speed ratio         {t_e2e / t_gold:8.1f}x",
        "outputs identical: yes",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
