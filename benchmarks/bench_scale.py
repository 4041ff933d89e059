"""Real sizes (issue 18): a FINN-TFC-size MLP and a CIFAR-size CNN, from an empty cache.

    /work/venv/bin/python benchmarks/bench_scale.py [--models mlp,cnn] [--samples 200]
        [--io stream] [--no-rtl-sim] [--no-hls]

Models:
  mlp  784-64-64-64-10, ap_fixed<4,2> weights and activations (4 bits)
  cnn  3x32x32 -> three 3x3 convs ('same', 16/32/32 channels, ReLU, 2x2 max pool after each)
       -> dense 10; 4-bit weights, 8-bit activations (qhw.testing.models.cnn)

Per model, in one run: time of compile (RTL + HLS + golden vectors, as ``qhw compile``),
Verilator build of the stream harness and its simulation rate (RTL == golden checked), g++
build of the C simulation and its rate (== golden checked), RTL/HLS file sizes (the
hierarchical Verilog apart from its simulation twins), the analytic estimate (xilinx), the
CPU seconds of the builds (wall seconds mislead on a loaded machine) and the peak memory of
this process and of its children (Verilator, g++); at the end a side-by-side table and the
load average. ``--io`` is the convolutions' lowering (``qhw compile --io``; default auto,
which streams the CNN's).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path


def rtl_bytes(rtl: Path) -> tuple[int, int]:
    """Bytes of the hierarchical Verilog (``files``: lint, Yosys) and of the simulation twins
    (``sim/``: what Verilator builds in their place)."""
    man = json.loads((rtl / "design.json").read_text())
    synth = sum((rtl / f).stat().st_size for f in man["files"])
    sim = sum((rtl / f).stat().st_size for f in man.get("sim_files", []) if f.startswith("sim/"))
    return synth, sim


def folder_bytes(path: Path, suffixes: tuple[str, ...]) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.suffix in suffixes)


def peak_mib() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def bench(name: str, graph, root: Path, args) -> dict:
    from qhw.backends.hls import sim as hls_sim
    from qhw.estimate.analytic import analytic
    from qhw.verify.compile import compile_graph
    from qhw.verify.stream import run_harness

    row: dict = {}
    out = root / name
    backends = ("rtl",) if args.no_hls else ("rtl", "hls")
    rtl = {"io": args.io} if args.io else {}
    t = time.perf_counter()
    report = compile_graph(graph, out, backends, {"rtl": rtl}, n_vectors=args.samples)
    row["compile s"] = time.perf_counter() - t
    streamed = [la["node"] for la in report["layers"] if la.get("io") == "stream"]
    synth_b, sim_b = rtl_bytes(out / "rtl")
    row["Verilog MB"] = synth_b / 1e6
    row["sim twins MB"] = sim_b / 1e6
    if not args.no_hls:
        row["HLS MB"] = folder_bytes(out / "hls", (".h", ".cpp")) / 1e6
    row["II cycles"], row["latency cycles"] = report["ii"], report["latency"]
    t = time.perf_counter()
    res = analytic(graph, target="xilinx", options=rtl)
    row["estimate s"] = time.perf_counter() - t
    row["LUT"], row["FF"], row["DSP"], row["BRAM18"] = res.lut, res.ff, res.dsp, res.bram
    print(f"{name}: compile {row['compile s']:.1f} s; Verilog {row['Verilog MB']:.2f} MB "
          f"(+ {row['sim twins MB']:.2f} MB simulation twins)"
          + (f", HLS {row['HLS MB']:.2f} MB" if not args.no_hls else "")
          + f"; II {report['ii']} cycles, latency <= {report['latency']} cycles; streamed: "
          + (", ".join(streamed) or "none"))
    for la in report["layers"]:
        if la.get("io") == "stream":
            print(f"  {la['node']:8s} stream: II {la['ii']} cycles per image, kernel latency "
                  f"{la['latency']} cycle(s), {la['outputs']} output pixels")
    print(f"{name}: analytic (xilinx) {res.lut:,} LUT, {res.ff:,} FF, {res.dsp} DSP, "
          f"{res.bram} BRAM18 in {row['estimate s']:.2f} s")
    total = row["compile s"]
    if not args.no_rtl_sim:
        c0 = child_cpu()
        r = run_harness(out / "rtl", out / "vectors", seed=1, gap=0.0, stall=0.0)
        total += r.build_seconds + r.run_seconds
        row["Verilator build s"] = r.build_seconds
        row["Verilator build+run CPU s"] = child_cpu() - c0
        row["RTL samples/s"] = r.samples / max(r.run_seconds, 1e-9)
        row["RTL mismatches"] = r.mismatches if r.ok else f"FAIL {r.mismatches}"
        print(f"{name}: Verilator build {r.build_seconds:.1f} s; RTL sim {r.samples} samples in "
              f"{r.run_seconds:.2f} s = {r.samples / max(r.run_seconds, 1e-9):,.0f} samples/s; "
              f"{r.mismatches} mismatches ({'ok' if r.ok else 'FAIL'})")
    if not args.no_hls:
        c0 = child_cpu()
        res = hls_sim.csim(out)  # builds (g++, cold cache) and runs
        total += res.build_seconds + res.run_seconds
        row["g++ build s"] = res.build_seconds
        row["g++ build+run CPU s"] = child_cpu() - c0
        row["C-sim samples/s"] = res.samples / max(res.run_seconds, 1e-9)
        row["C-sim mismatches"] = res.mismatches
        print(f"{name}: g++ build {res.build_seconds:.1f} s; C-sim {res.samples} samples in "
              f"{res.run_seconds:.2f} s = {res.samples / max(res.run_seconds, 1e-9):,.0f} samples/s; "
              f"{res.mismatches} mismatches ({'ok' if res.mismatches == 0 else 'FAIL'})")
    own, kids = peak_mib()
    row["total s"] = total
    row["peak MiB (python / child)"] = f"{own:.0f} / {kids:.0f}"
    print(f"{name}: total {total:.1f} s; peak memory {own:.0f} MiB (python), {kids:.0f} MiB (largest child)")
    return row


def table(rows: dict[str, dict]) -> str:
    """The measurements side by side, one column per model (markdown)."""
    names = list(rows)
    keys = [k for k in dict.fromkeys(k for r in rows.values() for k in r)]

    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:,.2f}" if v < 100 else f"{v:,.0f}"
        return f"{v:,}" if isinstance(v, int) else str(v)

    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {k} | " + " | ".join(cell(rows[n].get(k, "")) for n in names) + " |" for k in keys]
    return "\n".join(lines)


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
    rows: dict[str, dict] = {}
    for name in args.models.split(","):
        t = time.perf_counter()
        g = makers[name]()
        print(f"{name}: graph built in {time.perf_counter() - t:.1f} s")
        rows[name] = bench(name, g, root, args)
    print(f"\nload average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(table(rows))


if __name__ == "__main__":
    main()
