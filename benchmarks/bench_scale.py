"""Real sizes (issue 18): a FINN-TFC-size MLP and a CIFAR-size CNN, from an empty cache.

    /work/venv/bin/python benchmarks/bench_scale.py [--models mlp,cnn] [--samples 200]
        [--io stream] [--no-rtl-sim] [--no-hls]

Models:
  mlp  784-64-64-64-10, ap_fixed<4,2> weights and activations (4 bits)
  cnn  3x32x32 -> three 3x3 convs ('same', 16/32/32 channels, ReLU, 2x2 max pool after each)
       -> dense 10; 4-bit weights, 8-bit activations (qhw.testing.models.cnn)

Per model, in one run: time of compile (RTL + HLS + golden vectors, as ``qhw compile``),
Verilator build of the stream harness and its simulation rate (RTL == golden checked), g++
build of the C simulation and its rate (== golden checked), RTL/HLS file sizes, and the peak
memory of this process and of its children (Verilator, g++). ``--io`` is the convolutions'
lowering (``qhw compile --io``; default auto, which streams the CNN's).
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path


def folder_bytes(path: Path, suffixes: tuple[str, ...]) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.suffix in suffixes)


def peak_mib() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def bench(name: str, graph, root: Path, args) -> None:
    from qhw.backends.hls import sim as hls_sim
    from qhw.verify.compile import compile_graph
    from qhw.verify.stream import run_harness

    out = root / name
    backends = ("rtl",) if args.no_hls else ("rtl", "hls")
    rtl = {"io": args.io} if args.io else {}
    t = time.perf_counter()
    report = compile_graph(graph, out, backends, {"rtl": rtl}, n_vectors=args.samples)
    compile_s = time.perf_counter() - t
    streamed = [la["node"] for la in report["layers"] if la.get("io") == "stream"]
    print(f"{name}: compile {compile_s:.1f} s; Verilog {folder_bytes(out / 'rtl', ('.v',)) / 1e6:.2f} MB"
          + (f", HLS {folder_bytes(out / 'hls', ('.h', '.cpp')) / 1e6:.2f} MB" if not args.no_hls else "")
          + f"; II {report['ii']} cycles, latency <= {report['latency']} cycles; streamed: "
          + (", ".join(streamed) or "none"))
    total = compile_s
    if not args.no_rtl_sim:
        r = run_harness(out / "rtl", out / "vectors", seed=1, gap=0.0, stall=0.0)
        total += r.build_seconds + r.run_seconds
        print(f"{name}: Verilator build {r.build_seconds:.1f} s; RTL sim {r.samples} samples in "
              f"{r.run_seconds:.2f} s = {r.samples / max(r.run_seconds, 1e-9):,.0f} samples/s; "
              f"{r.mismatches} mismatches ({'ok' if r.ok else 'FAIL'})")
    if not args.no_hls:
        res = hls_sim.csim(out)  # builds (g++, cold cache) and runs
        total += res.build_seconds + res.run_seconds
        print(f"{name}: g++ build {res.build_seconds:.1f} s; C-sim {res.samples} samples in "
              f"{res.run_seconds:.2f} s = {res.samples / max(res.run_seconds, 1e-9):,.0f} samples/s; "
              f"{res.mismatches} mismatches ({'ok' if res.mismatches == 0 else 'FAIL'})")
    own, kids = peak_mib()
    print(f"{name}: total {total:.1f} s; peak memory {own:.0f} MiB (python), {kids:.0f} MiB (largest child)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mlp,cnn")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--io", choices=["auto", "parallel", "stream"], default=None)
    ap.add_argument("--no-rtl-sim", action="store_true")
    ap.add_argument("--no-hls", action="store_true")
    args = ap.parse_args()
    os.environ["QHW_CACHE_DIR"] = tempfile.mkdtemp(prefix="qhw_bench_scale_cache_")
    from qhw.testing import models

    root = Path(tempfile.mkdtemp(prefix="qhw_bench_scale_"))
    makers = {
        "mlp": lambda: models.mlp(widths=(784, 64, 64, 64, 10), fmt="ap_fixed<4,2>", name="tfc"),
        "cnn": lambda: models.cnn(size=32),
    }
    for name in args.models.split(","):
        t = time.perf_counter()
        g = makers[name]()
        print(f"{name}: graph built in {time.perf_counter() - t:.1f} s")
        bench(name, g, root, args)


if __name__ == "__main__":
    main()
