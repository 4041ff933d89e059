"""Verilator build time and simulated samples/s: cocotb testbench vs C++ stream harness, MLP.

    /work/venv/bin/python benchmarks/bench_rtl_sim.py [--samples 200000] [--cocotb 500]
Uses a fresh cache folder so build times are cold builds.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument("--cocotb", type=int, default=500)
    args = ap.parse_args()
    os.environ["QHW_CACHE_DIR"] = tempfile.mkdtemp(prefix="qhw_bench_cache_")
    from qhw.backends.verilog import write_verilog
    from qhw.testing import models
    from qhw.verify.stream import run_cocotb_stream, run_harness
    from qhw.verify.vectors import golden_vectors, write_vectors

    root = Path(tempfile.mkdtemp(prefix="qhw_bench_"))
    g = models.mlp()
    write_verilog(g, root / "rtl")
    t = time.perf_counter()
    ins, exp = golden_vectors(g, args.samples, seed=0)
    write_vectors(root / "big", ins, exp)
    ins_s, exp_s = golden_vectors(g, args.cocotb, seed=0)
    write_vectors(root / "small", ins_s, exp_s)
    print(f"golden + vector files: {time.perf_counter() - t:.1f} s")
    h = run_harness(root / "rtl", root / "big")
    print(f"harness: build {h.build_seconds:.1f} s, {h.samples} samples in {h.run_seconds:.2f} s "
          f"= {h.samples_per_second:,.0f} samples/s, {h.cycles} cycles, ok={h.ok}")
    c = run_cocotb_stream(root / "rtl", root / "small", gap=0.0, stall=0.0, waves=False)
    print(f"cocotb: build {c.build_seconds:.1f} s, {c.samples} samples in {c.run_seconds:.2f} s "
          f"= {c.samples_per_second:,.0f} samples/s, ok={c.ok}")


if __name__ == "__main__":
    main()
