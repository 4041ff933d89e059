"""LUT/FF of one constant-weight 16x16 int8 dense layer (exact 20-bit outputs) through the same
Yosys flow (``synth_xilinx -flatten -nodsp``), four ways:

* ``naive``: one Verilog module, ``y[j] = sum_i x[i] * W[i][j]`` (Yosys builds the products);
* ``qhw auto``: qhw's layer module with ``multipliers="auto"`` (``x * c``; shifts for 2^k);
* ``qhw csd``: qhw's layer module with ``multipliers="csd"`` (shift-add network);
* ``da4ml``: the same matrix solved by ``da4ml.cmvm.solve`` and written by its Verilog codegen
  (skipped with a note when da4ml is not installed).

qhw's layer module registers its outputs (320 FFs); naive and da4ml are combinational. The
analytic estimate of each qhw variant is printed beside it.

    /work/venv/bin/python benchmarks/bench_estimate.py [--size 16] [--bits 8] [--seed 0]
        [--weights uniform|normal]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qhw.backends.verilog import write_verilog
from qhw.estimate import analytic, synthesize
from qhw.flow import GraphBuilder


def layer_graph(w: np.ndarray, bits: int):
    """x (ap_int<bits>) -> dense with integer weights ``w`` -> exact integer result."""
    n_in, n_out = w.shape
    acc_bits = 2 * bits + int(np.ceil(np.log2(n_in)))
    b = GraphBuilder(f"dense{n_in}x{n_out}")
    t = b.input("x", (n_in,), f"ap_int<{bits}>")
    t = b.dense("fc", t, w.astype(float), formats={"weight": f"ap_int<{bits}>",
                                                   "accum": f"ap_int<{acc_bits}>",
                                                   "result": f"ap_int<{acc_bits}>"})
    b.output("y", t)
    return b.build(), acc_bits


def naive_verilog(w: np.ndarray, bits: int, acc_bits: int) -> str:
    n_in, n_out = w.shape
    lines = [f"// naive constant-weight dense {n_in}x{n_out}: y[j] = sum_i x[i] * W[i][j]",
             f"module naive(input wire [{n_in * bits - 1}:0] x, output wire [{n_out * acc_bits - 1}:0] y);"]
    for i in range(n_in):
        lines.append(f"  wire signed [{bits - 1}:0] x{i} = x[{(i + 1) * bits - 1}:{i * bits}];")
    for j in range(n_out):
        terms = " + ".join(f"x{i} * $signed({bits}'d{int(w[i, j]) & ((1 << bits) - 1)})"
                           for i in range(n_in))
        lines.append(f"  wire signed [{acc_bits - 1}:0] y{j} = {terms};")
        lines.append(f"  assign y[{(j + 1) * acc_bits - 1}:{j * acc_bits}] = y{j};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def _manifest(folder: Path, top: str, files: list[str]) -> Path:
    (folder / "design.json").write_text(json.dumps({"top": top, "files": files}))
    return folder


def da4ml_design(w: np.ndarray, bits: int, folder: Path) -> Path | str:
    """da4ml's combinational RTL for x @ w (x signed ``bits``-bit integers), or why not."""
    try:
        from da4ml.cmvm import solve
        from da4ml.codegen.rtl.rtl_model import VerilogModel
    except ImportError as exc:
        return f"da4ml not installed ({exc})"
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    sol = solve(w.astype(np.float32), qintervals=[(float(lo), float(hi), 1.0)] * w.shape[0])
    VerilogModel(sol, "da4ml_dense", folder, print_latency=False).write()
    src = folder / "src"
    files = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.v")
                   if not p.name.endswith(("_wrapper.v", "lookup_table.v")))
    return _manifest(src, "da4ml_dense", files)


def qhw_layer(graph, folder: Path, multipliers: str) -> Path:
    d = write_verilog(graph, folder, options={"multipliers": multipliers})
    return _manifest(folder, f"{d.top}_fc", d.files)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--bits", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", choices=["uniform", "normal"], default="uniform",
                    help="uniform over all codes, or rounded N(0, (2^(bits-1)/4)^2) like trained ones")
    ap.add_argument("--only", nargs="*", default=None, help="subset of: naive auto csd da4ml")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    lo, hi = -(1 << (args.bits - 1)), (1 << (args.bits - 1))
    if args.weights == "uniform":
        w = rng.integers(lo, hi, size=(args.size, args.size))
    else:
        w = np.clip(np.round(rng.normal(0, hi / 4, size=(args.size, args.size))), lo, hi - 1)
        w = w.astype(np.int64)
    graph, acc_bits = layer_graph(w, args.bits)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        todo = {"naive": None, "qhw auto": "auto", "qhw csd": "csd", "da4ml": None}
        for name in todo:
            key = name.split()[-1]
            if args.only and key not in args.only:
                continue
            folder = tmp / key
            folder.mkdir()
            est = None
            if name == "naive":
                (folder / "naive.v").write_text(naive_verilog(w, args.bits, acc_bits))
                design = _manifest(folder, "naive", ["naive.v"])
            elif name == "da4ml":
                design = da4ml_design(w, args.bits, folder)
                if isinstance(design, str):
                    rows.append((name, design))
                    continue
            else:
                design = qhw_layer(graph, folder, todo[name])
                est = analytic(graph, options={"multipliers": todo[name]}, nodsp=True)
            t0 = time.time()
            r = synthesize(design, target="xilinx", nodsp=True)
            rows.append((name, r, est, time.time() - t0))
    print(f"constant-weight {args.size}x{args.size} int{args.bits} dense, {args.weights} weights, "
          f"seed {args.seed}, "
          f"yosys synth_xilinx -flatten -nodsp")
    print(f"{'design':10} {'LUT':>7} {'FF':>6} {'CARRY4':>7} {'analytic LUT':>13} {'time s':>7}")
    for row in rows:
        if isinstance(row[1], str):
            print(f"{row[0]:10} {row[1]}")
            continue
        name, r, est, dt = row
        print(f"{name:10} {r.lut:7d} {r.ff:6d} {r.carry:7d} "
              f"{(str(est.lut) if est else '-'):>13} {dt:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
