"""Sweep throughput: points per minute with 1 and 2 local workers, in one run.

Run: python benchmarks/bench_sweep.py   (the example MLP 16-64-32-32-5, 160 points: weights
3..10 x activations 6..15 x fc1 weights 6 or 8; analytic resources; every point evaluated from
scratch in a fresh folder; each point's BLAS limited to one thread). Two data sizes: the 2,000
validation samples and 20,000 samples (the validation set tiled). Then 6 Yosys-bound points
(an 8-8-4 MLP, synth_xilinx -nodsp, cold synthesis cache).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from qhw.io import load_model
from qhw.sweep import Problem, grid, run_sweep

EXAMPLE = Path(__file__).parents[1] / "examples" / "jet_mlp"


def main() -> None:
    import os

    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    g = load_model(EXAMPLE / "model.yaml")
    x, y = np.load(EXAMPLE / "x_val.npy"), np.load(EXAMPLE / "y_val.npy")
    points = grid({"weights": list(range(3, 11)), "activations": list(range(6, 16)), "fc1.weights": [6, 8]})
    for reps in (1, 10):
        problem = Problem.build(g, np.tile(x, (reps, 1)), np.tile(y, reps))
        print(f"{len(points)} points, {len(problem.data)} samples each, analytic resources")
        _time(problem, points)
    # Yosys-bound points: an 8-8-4 MLP, 6 points, synth_xilinx -nodsp, cold synthesis cache
    from qhw.testing import models

    small = models.mlp(widths=(8, 8, 4), fmt="ap_fixed<8,3>", seed=3)
    xs = np.random.default_rng(0).standard_normal((200, 8))
    pts = grid({"weights": [4, 5, 6], "activations": [6, 8]})
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["QHW_CACHE_DIR"] = cache  # every synthesis runs for real
            problem = Problem.build(small, xs, synth=True, nodsp=True)
            if workers == 1:
                print(f"{len(pts)} points, 8-8-4 MLP, Yosys synth_xilinx -nodsp (cold cache)")
            _time(problem, pts, (workers,))


_BASE: dict = {}


def _time(problem, points, worker_counts=(1, 2)) -> None:
    key = (len(points), len(problem.data), problem.synth)
    for workers in worker_counts:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            run_sweep(problem, points, d, workers=workers, progress=False)
            dt = time.perf_counter() - t0
        rate = len(points) / dt * 60
        base = _BASE.setdefault(key, rate)
        print(f"{workers} worker{'s' if workers > 1 else ' '}: {dt:6.2f} s  {rate:7.0f} points/min  "
              f"({rate / base:.2f}x)")


if __name__ == "__main__":
    main()
