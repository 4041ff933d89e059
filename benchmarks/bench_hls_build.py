"""g++ build time of the HLS C simulation of a TFC-size MLP (784-64-64-64-10, 4-bit weights and
activations), from a cold cache key, and its C-sim == golden check.

Reports: write_hls time, size of the generated C++, g++ build time (cold: a fresh cache key), C-sim
run time and the number of samples whose outputs differ from the golden model's (must be 0).

    python benchmarks/bench_hls_build.py [--samples 1000] [--fmt 'ap_fixed<4,2>']
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from qhw.backends.hls import sim, write_hls
from qhw.golden import run_raw as golden_raw
from qhw.testing import models

WIDTHS = (784, 64, 64, 64, 10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--fmt", default="ap_fixed<4,2>",
                    help="default format: inputs, activations; weights/biases get its width")
    args = ap.parse_args()
    graph = models.mlp(WIDTHS, fmt=args.fmt)
    raw = models.random_inputs(graph, args.samples, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        hls = Path(tmp) / "hls"
        t0 = time.perf_counter()
        write_hls(graph, hls)
        t_write = time.perf_counter() - t0
        cpp_bytes = sum(p.stat().st_size for p in hls.rglob("*") if p.suffix in (".h", ".cpp"))
        nonce = f"-DQHW_BENCH_NONCE={time.time_ns()}_{os.getpid()}"
        cold = sim.build(hls, (nonce,))
        assert not cold.cached
        sim.build(hls)  # the default-flag build run_file uses
        inp = Path(tmp) / "input.txt"
        sim.write_codes(inp, raw["x"])
        outs, _, run_seconds = sim.run_file(hls, inp)
        want = golden_raw(graph, raw).outputs
    bad = int((outs["y"].reshape(len(outs["y"]), -1) != want["y"].reshape(len(want["y"]), -1))
              .any(axis=1).sum())
    formats = ", ".join(f"{n.name}.weight {n.formats['weight']}" for n in graph.nodes()
                        if "weight" in n.formats)
    print(f"MLP {'-'.join(map(str, WIDTHS))}, default {args.fmt} ({formats})")
    print(f"write_hls                          {t_write:8.2f} s")
    print(f"generated C++ (.h + .cpp)          {cpp_bytes / 1e6:8.2f} MB")
    print(f"g++ build, cold ({' '.join(sim.CSIM_FLAGS)})  {cold.seconds:8.1f} s")
    print(f"C-sim run, {args.samples} samples          {run_seconds:8.2f} s")
    print(f"samples differing from golden      {bad:8d}")
    if bad:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
