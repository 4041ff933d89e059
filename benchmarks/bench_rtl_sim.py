"""Verilator build time and simulated samples/s: cocotb testbench vs C++ stream harness, MLP.

    /work/venv/bin/python benchmarks/bench_rtl_sim.py [--samples 200000] [--cocotb 500]
Uses a fresh cache folder so build times are cold builds. The harness runs both RTL flavours:
the simulation one (what qhw simulates) and the synthesis one (shared multiplier and adder-tree
modules, what Yosys reads). Besides wall time it prints the harness' CPU seconds, which a busy
machine inflates less. ``--cocotb 0`` skips the cocotb build.
"""
from __future__ import annotations

import argparse
import os
import resource
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
    if args.cocotb > 0:
        ins_s, exp_s = golden_vectors(g, args.cocotb, seed=0)
        write_vectors(root / "small", ins_s, exp_s)
    print(f"golden + vector files: {time.perf_counter() - t:.1f} s")
    for flavour in ("sim", "synth"):
        h = run_harness(root / "rtl", root / "big", flavour=flavour)  # the build, then a warm run
        cpu0 = _children_cpu()
        h2 = run_harness(root / "rtl", root / "big", flavour=flavour)
        cpu = _children_cpu() - cpu0
        print(f"harness ({flavour} flavour): build {h.build_seconds:.1f} s, {h.samples} samples in "
              f"{h.run_seconds:.2f} s = {h.samples_per_second:,.0f} samples/s; again "
              f"{h2.run_seconds:.2f} s = {h2.samples_per_second:,.0f} samples/s, {cpu:.2f} s CPU "
              f"= {h2.samples / cpu:,.0f} samples per CPU second; {h.cycles} cycles, ok={h.ok and h2.ok}")
    if args.cocotb <= 0:
        return
    c = run_cocotb_stream(root / "rtl", root / "small", gap=0.0, stall=0.0, waves=False)
    print(f"cocotb: build {c.build_seconds:.1f} s, {c.samples} samples in {c.run_seconds:.2f} s "
          f"= {c.samples_per_second:,.0f} samples/s, ok={c.ok}")


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


if __name__ == "__main__":
    main()
