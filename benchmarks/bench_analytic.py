"""How long the analytic estimate takes on the 16-64-32-32-5 jet MLP (4,000+ weights): the speed
a sweep relies on ("milliseconds per graph", qhw.estimate.analytic). A benchmark, not a test:
the time depends on the machine and its load (tests are never timed).

    PYTHONPATH=$PWD /work/venv/bin/python benchmarks/bench_analytic.py [--repeat 5]

Prints the first (cold: lowering registry and op imports) and the median of the following calls,
per target and DSP setting, with the load average.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from qhw.estimate import analytic
from qhw.testing import models


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    g = models.mlp()
    print(f"jet MLP 16-64-32-32-5; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'target':8} {'DSP':5} {'first ms':>9} {'median ms':>10} {'LUT':>7} {'FF':>6} {'DSP':>5}")
    for target in ("xilinx", "ecp5", "ice40"):
        for nodsp in (True, False):
            times = []
            for _ in range(args.repeat + 1):
                t0 = time.perf_counter()
                r = analytic(g, target=target, nodsp=nodsp)
                times.append(1000 * (time.perf_counter() - t0))
            print(f"{target:8} {'off' if nodsp else 'on':5} {times[0]:9.1f} "
                  f"{statistics.median(times[1:]):10.1f} {r.lut:7d} {r.ff:6d} {r.dsp:5d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
