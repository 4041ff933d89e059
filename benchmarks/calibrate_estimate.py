"""Fit the analytic estimator's coefficients against Yosys and report its error on held-out designs.

A FIXED set of small calibration designs (dense layers and MLPs, 4..8-bit, auto/csd multipliers,
with and without DSPs, folded by R) is synthesized with ``synth_<target> -flatten``; the LUT, FF
and carry-cell counts are fitted as non-negative linear combinations of the analytic features
(:mod:`qhw.estimate.analytic`), minimizing relative error. Designs NOT used for fitting (other
sizes, widths, seeds, models) then measure the model's error.

    /work/venv/bin/python benchmarks/calibrate_estimate.py            # fit, write, evaluate
    /work/venv/bin/python benchmarks/calibrate_estimate.py --check    # evaluate only
    /work/venv/bin/python benchmarks/calibrate_estimate.py --markdown # table for RESULTS.md
    /work/venv/bin/python benchmarks/calibrate_estimate.py --target ecp5   # or ice40 (no DSPs)

Yosys results are cached (``<qhw cache>/estimate``); a cold run takes a few minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from qhw.estimate import analytic, synthesize
from qhw.estimate.analytic import FEATURES, coefficients, features
from qhw.flow import GraphBuilder
from qhw.testing import models

COEF_FILE = Path(__file__).resolve().parents[1] / "qhw" / "estimate" / "coefficients.json"
TARGETS = ("xilinx", "ecp5", "ice40")
#: features each count may depend on (physically: FFs are registers; carry chains are adders)
ALLOWED = {"lut": FEATURES, "ff": ("reg_bits", "mux_bits"),
           "carry": ("sa_bits", "add_bits", "tree_bits", "dsp_tree_bits", "macc_bits", "mul_bits",
                     "cast_bits")}


def dense_net(n_in: int, n_out: int, bx: int, bw: int, seed: int = 0, relu: bool = True):
    """x (ap_fixed<bx,2>) -> dense (weights ap_fixed<bw,1>, bias) [-> relu] -> output."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"d{n_in}x{n_out}_{bx}_{bw}_{seed}")
    t = b.input("x", (n_in,), f"ap_fixed<{bx},2>")
    t = b.dense("fc", t, rng.standard_normal((n_in, n_out)) / np.sqrt(n_in),
                rng.standard_normal(n_out) * 0.1,
                formats={"weight": f"ap_fixed<{bw},1>", "bias": f"ap_fixed<{bw},1>",
                         "result": f"ap_fixed<{bx + 4},4>"})
    if relu:
        t = b.relu("relu", t, formats={"result": f"ap_fixed<{bx},3,RND,SAT>"})
    b.output("y", t)
    return b.build(default=f"ap_fixed<{bx},3>")


def small_conv(seed: int = 23):
    """x (8, 2) -> conv1d k=3 -> 3 channels -> relu -> flatten -> dense 2, ap_fixed<6,3>."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("small_conv")
    t = b.input("x", (8, 2), "ap_fixed<6,3>")
    t = b.conv1d("conv", t, rng.standard_normal((3, 2, 3)) / 2.5, rng.standard_normal(3) * 0.1,
                 formats={"weight": "ap_fixed<6,1>", "bias": "ap_fixed<6,1>"})
    t = b.relu("relu", t)
    t = b.flatten("flat", t)
    t = b.dense("fc", t, rng.standard_normal((18, 2)) / 4.0, formats={"weight": "ap_fixed<6,1>"})
    b.output("y", t)
    return b.build(default="ap_fixed<6,3>")


def table_net(fn: str, variant: str, table_size: int = 1024, x: str = "ap_fixed<16,6>",
              out: str = "ap_ufixed<10,0,AP_RND,AP_SAT>", n: int = 1, **attrs):
    """x (n,) -> sigmoid/tanh (ROM, half ROM, hls4ml table or PWL) -> output."""
    b = GraphBuilder(f"{fn}_{variant}_{table_size}_{n}")
    t = b.input("x", (n,), x)
    b.output("y", b.unary(fn, "t", t, {"result": out}, variant=variant, table_size=table_size, **attrs))
    return b.build()


def _case(name, make, options=None, nodsp=True, targets=TARGETS, kinds=("lut", "ff", "carry")):
    return dict(name=name, make=make, options=options or {}, nodsp=nodsp, targets=targets, kinds=kinds)


def _tables(specs) -> list[dict]:
    """Table-op cases, xilinx only (block RAM inference differs per family and is not modelled
    for ECP5 and iCE40); not used for the CARRY4 fit (a table has almost none, and its compare
    and cast bits would pull the adder coefficients of the MAC designs)."""
    out = []
    for fn, variant, size, kw in specs:
        tag = f"{fn} {variant}" + (f" {size}" if variant != "pwl" else "") + \
            "".join(f" {k}={v}" for k, v in kw.items())
        out.append(_case(tag, (lambda a=fn, b_=variant, c=size, k=kw: table_net(a, b_, c, **k)),
                         targets=("xilinx",), kinds=("lut", "ff")))
    return out


def calibration_set() -> list[dict]:
    out = []
    for n_in, n_out in [(4, 4), (8, 4), (6, 8), (8, 8)]:
        for bx, bw in [(4, 4), (6, 6), (8, 8)]:
            g = (lambda a=n_in, b_=n_out, c=bx, d=bw: dense_net(a, b_, c, d, seed=1))
            tag = f"dense{n_in}x{n_out} x{bx} w{bw}"
            out.append(_case(f"{tag} auto", g))
            out.append(_case(f"{tag} csd", g, {"multipliers": "csd"}))
    for n_in, n_out, bits in [(6, 6, 6), (8, 8, 8), (8, 4, 8)]:
        g = (lambda a=n_in, b_=n_out, c=bits: dense_net(a, b_, c, c, seed=2))
        out.append(_case(f"dense{n_in}x{n_out} {bits}b auto dsp", g, nodsp=False))
    for r in (2, 4):
        out.append(_case(f"dense8x8 6b R={r}", lambda: dense_net(8, 8, 6, 6, seed=3),
                         {"reuse_factor": r}))
    out.append(_case("dense8x4 6b csd stages=1", lambda: dense_net(8, 4, 6, 6, seed=4),
                     {"multipliers": "csd", "tree_stage_levels": 1}))
    mlp = (lambda: models.mlp(widths=(6, 8, 4), fmt="ap_fixed<6,2>", seed=5))
    out.append(_case("mlp 6-8-4 ap_fixed<6,2> auto", mlp))
    out.append(_case("mlp 6-8-4 ap_fixed<6,2> csd", mlp, {"multipliers": "csd"}))
    out.append(_case("mlp 6-8-4 ap_fixed<6,2> dsp", mlp, nodsp=False))
    out += _tables([("sigmoid", "rom", 256, {}), ("sigmoid", "rom", 512, {}),
                    ("sigmoid", "rom", 1024, {}), ("sigmoid", "half_rom", 1024, {}),
                    ("sigmoid", "hls4ml", 256, {}), ("sigmoid", "pwl", 0, {}),
                    ("sigmoid", "pwl", 0, {"pow2_slopes": True}), ("tanh", "rom", 512, {"out": "ap_fixed<10,1,AP_RND,AP_SAT>"}),
                    ("sigmoid", "rom", 256, {"n": 2}),
                    ("sigmoid", "rom", 1024, {"out": "ap_ufixed<6,0,AP_RND,AP_SAT>"}),
                    ("sigmoid", "rom", 256, {"x": "ap_fixed<12,4>"}),
                    ("tanh", "half_rom", 1024, {"x": "ap_fixed<12,4>", "out": "ap_fixed<8,1,AP_RND,AP_SAT>"}),
                    ("sigmoid", "rom", 512, {"x": "ap_fixed<10,4>", "out": "ap_ufixed<8,0,AP_RND,AP_SAT>"})])
    return out


def held_out_set() -> list[dict]:
    out = []
    for n_in, n_out, bx, bw, seed in [(5, 7, 5, 5, 11), (10, 6, 7, 6, 12), (12, 4, 6, 4, 13),
                                      (7, 9, 8, 5, 14)]:
        g = (lambda a=n_in, b_=n_out, c=bx, d=bw, s=seed: dense_net(a, b_, c, d, seed=s))
        tag = f"dense{n_in}x{n_out} x{bx} w{bw}"
        out.append(_case(f"{tag} auto", g))
        out.append(_case(f"{tag} csd", g, {"multipliers": "csd"}))
    mlp = (lambda: models.mlp(widths=(8, 8, 4), fmt="ap_fixed<8,3>", seed=21))
    out.append(_case("mlp 8-8-4 ap_fixed<8,3> auto", mlp))
    out.append(_case("mlp 8-8-4 ap_fixed<8,3> csd", mlp, {"multipliers": "csd"}))
    out.append(_case("mlp 8-8-4 ap_fixed<8,3> dsp", mlp, nodsp=False))
    out.append(_case("dense10x6 x7 w6 dsp", lambda: dense_net(10, 6, 7, 6, seed=12), nodsp=False))
    out.append(_case("dense10x6 7b R=3", lambda: dense_net(10, 6, 7, 7, seed=22),
                     {"reuse_factor": 3}))
    out.append(_case("conv1d L=8 C=2 ap_fixed<6,3> csd", small_conv, {"multipliers": "csd"}))
    out += _tables([("sigmoid", "rom", 2048, {}), ("sigmoid", "half_rom", 2048, {}),
                    ("sigmoid", "hls4ml", 1024, {}),
                    ("sigmoid", "half_rom", 2048, {"out": "ap_ufixed<7,0,AP_RND,AP_SAT>"}),
                    ("sigmoid", "rom", 512, {"out": "ap_ufixed<8,0,AP_RND,AP_SAT>", "x": "ap_fixed<12,4>"}),
                    ("sigmoid", "pwl", 0, {"x": "ap_fixed<12,4>"}),
                    ("tanh", "pwl", 0, {"out": "ap_fixed<10,1,AP_RND,AP_SAT>"}),
                    ("tanh", "half_rom", 1024, {"out": "ap_fixed<10,1,AP_RND,AP_SAT>"})])
    return out


def measure(cases: list[dict], target: str, workers: int = 2) -> list[dict]:
    """Features (analytic) and Yosys counts of every case (Yosys cached, run in parallel).
    ECP5 and iCE40 are calibrated without DSPs (their DSP mapping is not modelled)."""
    cases = [c for c in cases if target in c["targets"]]
    if target != "xilinx":
        cases = [c for c in cases if c["nodsp"]]

    def one(case):
        g = case["make"]()
        t0 = time.perf_counter()
        feats, dsp, bram = features(g, case["options"], case["nodsp"])
        t_an = time.perf_counter() - t0
        r = synthesize(g, target=target, nodsp=case["nodsp"], options=case["options"])
        return dict(case, graph=g, target=target, feats=feats, dsp=dsp, yosys=r, analytic_s=t_an)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, cases))


def nnls(a: np.ndarray, b: np.ndarray, iters: int = 20000) -> np.ndarray:
    """Non-negative least squares by projected gradient (small problems only)."""
    x = np.clip(np.linalg.lstsq(a, b, rcond=None)[0], 0, None)
    step = 1.0 / (np.linalg.norm(a, 2) ** 2)
    for _ in range(iters):
        x = np.clip(x - step * (a.T @ (a @ x - b)), 0, None)
    return x


def fit(rows: list[dict]) -> dict:
    """Coefficients {lut, ff, carry} minimizing relative squared error, non-negative."""
    coef = {}
    everything = rows
    for kind in ("lut", "ff", "carry"):
        rows = [r for r in everything if kind in r["kinds"]]
        y = np.array([getattr(r["yosys"], kind) for r in rows], float)
        used = [k for k in ALLOWED[kind] if any(r["feats"][k] for r in rows)]
        x = np.array([[r["feats"][k] for k in used] + [1.0] for r in rows], float)
        w = 1.0 / np.maximum(y, 10.0)  # relative error, floored for tiny counts
        sol = nnls(x * w[:, None], y * w)
        coef[kind] = {k: round(float(v), 4) for k, v in zip(used + ["const"], sol)}
    return coef


def errors(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        est = analytic(r["graph"], target=r["target"], options=r["options"], nodsp=r["nodsp"])
        y = r["yosys"]
        out.append(dict(name=r["name"], nodsp=r["nodsp"], y_lut=y.lut, a_lut=est.lut, y_ff=y.ff,
                        a_ff=est.ff, y_dsp=y.dsp, a_dsp=est.dsp, y_carry=y.carry, a_carry=est.carry,
                        e_lut=(est.lut - y.lut) / max(y.lut, 1), e_ff=(est.ff - y.ff) / max(y.ff, 1),
                        ms=1000 * r["analytic_s"]))
    return out


def report(title: str, errs: list[dict], markdown: bool) -> None:
    med_lut = float(np.median([abs(e["e_lut"]) for e in errs]))
    med_ff = float(np.median([abs(e["e_ff"]) for e in errs]))
    if markdown:
        print(f"\n**{title}** (median |error|: LUT {100 * med_lut:.1f}%, FF {100 * med_ff:.1f}%)\n")
        print("| design | Yosys LUT | analytic LUT | err | Yosys FF | analytic FF | err | DSP Y/A | analytic ms |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for e in errs:
            print(f"| {e['name']}{'' if e['nodsp'] else ' (DSP on)'} | {e['y_lut']} | {e['a_lut']} | "
                  f"{100 * e['e_lut']:+.0f}% | {e['y_ff']} | {e['a_ff']} | {100 * e['e_ff']:+.0f}% | "
                  f"{e['y_dsp']}/{e['a_dsp']} | {e['ms']:.1f} |")
        return
    print(f"\n{title}: median |error| LUT {100 * med_lut:.1f}%  FF {100 * med_ff:.1f}%")
    print(f"{'design':42} {'LUT y':>7} {'LUT a':>7} {'err':>6} {'FF y':>6} {'FF a':>6} {'err':>6} "
          f"{'DSP y/a':>8} {'ms':>6}")
    for e in errs:
        print(f"{e['name'] + ('' if e['nodsp'] else ' +dsp'):42} {e['y_lut']:7d} {e['a_lut']:7d} "
              f"{100 * e['e_lut']:+5.0f}% {e['y_ff']:6d} {e['a_ff']:6d} {100 * e['e_ff']:+5.0f}% "
              f"{e['y_dsp']:>4}/{e['a_dsp']:<3} {e['ms']:6.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="evaluate the stored coefficients only")
    ap.add_argument("--markdown", action="store_true", help="print markdown tables")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--target", choices=TARGETS, default="xilinx")
    args = ap.parse_args(argv)
    t0 = time.time()
    cal = measure(calibration_set(), args.target, args.workers)
    held = measure(held_out_set(), args.target, args.workers)
    if not args.check:
        coef = json.loads(COEF_FILE.read_text()) if COEF_FILE.is_file() else {}
        coef[args.target] = fit(cal)
        COEF_FILE.write_text(json.dumps(coef, indent=1, sort_keys=True) + "\n")
        coefficients.cache_clear()
        print(f"wrote {COEF_FILE} [{args.target}]: {json.dumps(coef[args.target])}")
    report(f"{args.target}: calibration set ({len(cal)} designs, fitted)", errors(cal), args.markdown)
    report(f"{args.target}: held-out set ({len(held)} designs, not used for fitting)", errors(held),
           args.markdown)
    print(f"\n({time.time() - t0:.0f} s incl. Yosys; synth_{args.target} -flatten)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
