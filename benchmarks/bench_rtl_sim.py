"""Verilator build time and simulated samples/s: cocotb testbench vs C++ stream harness, jet MLP.

    /work/venv/bin/python benchmarks/bench_rtl_sim.py [--samples 200000] [--cocotb 500]
        [--model examples/jet_mlp/model.yaml] [--repeat 3]
Uses a fresh cache folder so build times are cold builds. The model is the jet-tagging MLP of
``examples/jet_mlp`` (16-64-32-32-5, fully parallel, II = 1); ``--model random`` uses the random
MLP of the same shape (``qhw.testing.models.mlp``). The harness runs both RTL flavours: the
simulation one (what qhw simulates) and the synthesis one (shared multiplier and adder-tree
modules, what Yosys reads). Each flavour is built, then run ``--repeat`` more times on the warm
build; every run prints its wall rate and its CPU rate (``getrusage`` of the harness child) side
by side, with the load average, since a busy machine inflates wall time and hardly CPU time. The
best of the warm runs is the figure. ``--cocotb 0`` skips the cocotb build.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument("--cocotb", type=int, default=500)
    ap.add_argument("--model", default=str(REPO / "examples" / "jet_mlp" / "model.yaml"),
                    help="a model file qhw loads, or 'random' for qhw.testing.models.mlp()")
    ap.add_argument("--repeat", type=int, default=3, help="warm harness runs per flavour")
    args = ap.parse_args()
    os.environ["QHW_CACHE_DIR"] = tempfile.mkdtemp(prefix="qhw_bench_cache_")
    from qhw.backends.verilog import write_verilog
    from qhw.tools.exitinfo import ChildUsage
    from qhw.verify.stream import run_cocotb_stream, run_harness
    from qhw.verify.vectors import golden_vectors, write_vectors

    if args.model == "random":
        from qhw.testing import models

        g = models.mlp()
    else:
        from qhw.io import load_model

        g = load_model(args.model)
    print(f"model: {args.model} ({g.name}); load average at start {_load()}")
    root = Path(tempfile.mkdtemp(prefix="qhw_bench_"))
    write_verilog(g, root / "rtl")
    t = time.perf_counter()
    ins, exp = golden_vectors(g, args.samples, seed=0)
    write_vectors(root / "big", ins, exp)
    if args.cocotb > 0:
        ins_s, exp_s = golden_vectors(g, args.cocotb, seed=0)
        write_vectors(root / "small", ins_s, exp_s)
    print(f"golden + vector files: {time.perf_counter() - t:.1f} s")
    for flavour in ("sim", "synth"):
        h = run_harness(root / "rtl", root / "big", flavour=flavour)  # the build, then a run
        print(f"harness ({flavour} flavour): Verilator build {h.build_seconds:.1f} s (cold), "
              f"{h.cycles} cycles, ok={h.ok}")
        best_wall = best_cpu = 0.0
        for i in range(args.repeat):
            usage = ChildUsage.start()
            r = run_harness(root / "rtl", root / "big", flavour=flavour)
            usage.stop()
            wall_rate = r.samples / r.run_seconds
            cpu_rate = r.samples / usage.cpu_seconds if usage.cpu_seconds > 0 else float("inf")
            best_wall, best_cpu = max(best_wall, wall_rate), max(best_cpu, cpu_rate)
            print(f"  run {i + 1}: {r.samples} samples, wall {r.run_seconds:.3f} s = "
                  f"{wall_rate:,.0f} samples/s | CPU {usage.cpu_seconds:.3f} s = "
                  f"{cpu_rate:,.0f} samples per CPU second | load {_load()} | ok={r.ok}")
        print(f"  best ({flavour}): {best_wall:,.0f} samples/s wall, {best_cpu:,.0f} samples per "
              f"CPU second")
    if args.cocotb <= 0:
        return
    c = run_cocotb_stream(root / "rtl", root / "small", gap=0.0, stall=0.0, waves=False)
    print(f"cocotb: build {c.build_seconds:.1f} s, {c.samples} samples in {c.run_seconds:.2f} s "
          f"= {c.samples_per_second:,.0f} samples/s, ok={c.ok}")


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - no load average on this platform
        return "n/a"


if __name__ == "__main__":
    main()
