"""Check the delay model of ``--clock-period`` against nextpnr: predicted vs measured Fmax on ECP5.

A few small designs are compiled without a period (one combinational stage per layer), at 10 ns
and at 5 ns (``target="ecp5"``), synthesized by Yosys ``synth_ecp5 -nodsp`` and placed and routed
by nextpnr-ecp5 (yowasp, LFE5U-85F out of context, seed 1). Printed per point: registers added
(pipeline register stages), latency (cycles and ns), the model's critical path (ns, Fmax) and
nextpnr's Fmax, and the LUT/FF cost of the pipelining against the unpipelined design.

The fit (``--fit``) is one scale factor: measured / predicted critical-path delay over the
calibration designs (least squares on the ratio); the ECP5 coefficients in
``qhw.backends.verilog.timing.MODELS`` are the previous ones times it. ``held-out`` designs are
not used for the fit.

    /work/venv/bin/python benchmarks/calibrate_timing.py              # table (markdown)
    /work/venv/bin/python benchmarks/calibrate_timing.py --fit        # and the scale factor

Results are cached by RTL content (``<qhw cache>/estimate``); a cold run is slow (Yosys and
nextpnr in WebAssembly: minutes per design on a loaded 2-core machine).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qhw.backends.verilog import write_verilog
from qhw.errors import QhwError
from qhw.estimate import synthesize
from qhw.flow import GraphBuilder
from qhw.testing import models


def mlp_a8w6():
    """The issue's example: an MLP 16-16-8, 8-bit activations, 6-bit weights."""
    rng = np.random.default_rng(19)
    b = GraphBuilder("m16168")
    t = b.input("x", (16,), "ap_fixed<8,3>")
    w6 = {"weight": "ap_fixed<6,1>", "bias": "ap_fixed<6,1>"}
    t = b.relu("relu1", b.dense("fc1", t, rng.standard_normal((16, 16)) / 4, rng.standard_normal(16) * 0.1,
                                formats=w6))
    b.output("y", b.dense("fc2", t, rng.standard_normal((16, 8)) / 4, rng.standard_normal(8) * 0.1,
                          formats=w6))
    return b.build(default="ap_fixed<8,3>")


def conv_pool():
    """conv1d (8 x 2 -> 8 x 4, k = 3) -> relu -> max pool 2 -> dense 16 -> 4 -> requantize:
    comparators, a window and a requantizer's multiply beside the products."""
    rng = np.random.default_rng(20)
    b = GraphBuilder("cpool")
    t = b.input("x", (8, 2), "ap_fixed<8,3>")
    t = b.conv1d("conv", t, rng.standard_normal((3, 2, 4)) / 2.5, rng.standard_normal(4) * 0.1,
                 padding="same")
    t = b.pool("maxpool1d", "pool", b.relu("relu", t), kernel_size=2)
    t = b.dense("fc", b.flatten("flat", t), rng.standard_normal((16, 4)) / 4, rng.standard_normal(4) * 0.1)
    b.output("y", b.requantize("rq", t, 5, 2, formats={"result": "ap_fixed<10,6>"}))
    return b.build(default="ap_fixed<8,3>")


#: (name, graph factory, role): the ECP5 scale was fitted on the "fit" designs only
DESIGNS = [
    ("mlp 8-8-4 8b", lambda: models.mlp(widths=(8, 8, 4), fmt="ap_fixed<8,3>", name="m884"), "fit"),
    ("dense-sigmoid-folded-requant", models.timing_net, "fit"),
    ("mlp 12-8-4 6b", lambda: models.mlp(widths=(12, 8, 4), fmt="ap_fixed<6,2>", seed=3,
                                         name="m1284"), "held-out"),
    ("mlp 16-16-8 a8w6", mlp_a8w6, "held-out"),
    ("conv1d-relu-maxpool-dense-requant", conv_pool, "held-out"),
]


def measure(name, make, period, target="ecp5", cached=False):
    g = make()
    opts = {"target": target} if period is None else {"clock_period": period, "target": target}
    with tempfile.TemporaryDirectory() as tmp:
        d = write_verilog(g, Path(tmp) / "rtl", options=dict(opts, clock_period=period or 1e6))
        pred = d.timing
        d = write_verilog(g, Path(tmp) / "rtl", options=opts)
        t0 = time.time()
        try:
            res = synthesize(Path(tmp) / "rtl", target=target, pnr=True, nodsp=True, cache_only=cached)
        except QhwError as exc:  # e.g. the design does not fit the device
            print(f"# {name} @ {period} ({target}): {exc}", file=sys.stderr, flush=True)
            res = None
        secs = time.time() - t0
    return dict(design=name, target=target, period=period, latency=d.latency, added=pred["registers_added"],
                pred_ns=pred["critical_path"]["ns"], pred_mhz=pred["fmax_mhz_estimate"],
                where=f"{pred['critical_path']['layer']} {pred['critical_path']['block']}",
                fmax=res and res.fmax_mhz, lut=res and res.lut, ff=res and res.ff, secs=secs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="print the scale factor measured/predicted")
    ap.add_argument("--only", default="", help="substring of the design names to run")
    ap.add_argument("--periods", default="none,10,5", help="comma-separated ns (none: unpipelined)")
    ap.add_argument("--held-out-periods", default="10", help="periods of the held-out designs")
    ap.add_argument("--target", default="ecp5", choices=("ecp5", "ice40"),
                    help="nextpnr-ecp5 (LFE5U-85F) or nextpnr-ice40 (HX8K)")
    ap.add_argument("--role", default="", help="only the designs of this role (fit, held-out)")
    ap.add_argument("--cached", action="store_true",
                    help="only the points already measured (cached); the others are left blank")
    args = ap.parse_args(argv)
    parse = lambda t: [None if p == "none" else float(p) for p in t.split(",")]  # noqa: E731
    rows = []
    for name, make, role in DESIGNS:
        if args.only not in name or args.role not in role:
            continue
        base = None
        for p in parse(args.periods if role == "fit" else args.held_out_periods):
            r = measure(name, make, p, args.target, args.cached)
            r["role"] = role
            base = base or r
            known = base["period"] is None and base["lut"] is not None and r["lut"] is not None
            r["dlut"] = r["lut"] - base["lut"] if known else None
            r["dff"] = r["ff"] - base["ff"] if known else None
            rows.append(r)
            print(f"# {name} @ {p} ({args.target}): {r['fmax']} MHz measured, {r['pred_mhz']} predicted "
                  f"({r['secs']:.0f} s)", file=sys.stderr, flush=True)
    print(f"target: {args.target}")
    print("| design | role | target ns | registers added | latency (cycles / ns) | predicted path "
          "(ns, where) | predicted Fmax MHz | nextpnr Fmax MHz | met | LUT / FF | pipelining LUT / FF |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p = r["period"]
        lat = f"{r['latency']} / {r['latency'] * p:g}" if p else f"{r['latency']} / -"
        met = "-" if not p or not r["fmax"] else ("yes" if r["fmax"] >= 1000 / p else "no")
        print(f"| {r['design']} | {r['role']} | {p or 'none'} | {r['added']} | {lat} | "
              f"{r['pred_ns']} ({r['where']}) | {r['pred_mhz']} | {r['fmax']} | {met} | "
              + (f"{r['lut']} / {r['ff']} | " if r["lut"] is not None else "not measured | ")
              + ("-" if r["dlut"] is None or r["period"] is None else f"{r['dlut']:+d} / {r['dff']:+d}") + " |")
    if args.fit:
        fit = [r for r in rows if r["role"] == "fit" and r["fmax"]]
        ratio = np.array([(1000 / r["fmax"]) / r["pred_ns"] for r in fit])
        held = [r for r in rows if r["role"] == "held-out" and r["fmax"]]
        print(f"\nscale (measured/predicted path delay), calibration designs: mean {ratio.mean():.3f}, "
              f"min {ratio.min():.3f}, max {ratio.max():.3f} over {len(fit)} points")
        for r in held:
            print(f"held-out {r['design']} @ {r['period']}: measured/predicted "
                  f"{(1000 / r['fmax']) / r['pred_ns']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
