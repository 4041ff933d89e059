"""Sigmoid in hardware: full ROM, half ROM (sigmoid(-x) = 1 - sigmoid(x)), piecewise-linear,
piecewise-linear with power-of-two slopes (shift-add only), and hls4ml's table — error and area.

Run: python examples/sigmoid_demo/run.py [--input 'ap_fixed<16,6>'] [--output 'ap_ufixed<10,0>']
     [--synth]

Error: max and mean absolute error against float64 sigmoid over EVERY input code of the input
format (not a sample). Area: qhw's analytic estimate (milliseconds; ROMs by size and transitions,
block RAM when Yosys would choose it, PWL by its comparators, multiplies and adders) and, with
--synth, Yosys synth_xilinx -nodsp on the emitted Verilog of a one-node design (needs the
[synth] extra); BRAM in 18 Kb blocks.
"""
from __future__ import annotations

import argparse

from qhw.fixed import FixedFormat
from qhw.flow import GraphBuilder
from qhw.tables import error_report

VARIANTS = {  # name -> node attributes
    "rom 1024": {"variant": "rom", "table_size": 1024},
    "half rom 512": {"variant": "half_rom", "table_size": 1024},
    "pwl": {"variant": "pwl"},
    "pwl pow2": {"variant": "pwl", "pow2_slopes": True},
    "hls4ml 1024": {"variant": "hls4ml", "table_size": 1024},
}


def one_node(in_fmt: str, out_fmt: str, attrs: dict):
    b = GraphBuilder("sigmoid_" + attrs["variant"])
    x = b.input("x", (1,), in_fmt)
    b.output("y", b.unary("sigmoid", "sig", x, {"result": out_fmt}, **attrs))
    return b.build()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", default="ap_fixed<16,6>", help="input format")
    ap.add_argument("--output", default="ap_ufixed<10,0,AP_RND,AP_SAT>", help="result format")
    ap.add_argument("--synth", action="store_true", help="also synthesize each variant with Yosys")
    args = ap.parse_args(argv)
    from qhw.estimate import analytic

    rows = {}
    for name, attrs in VARIANTS.items():
        g = one_node(args.input, args.output, attrs)
        node = g.node("sig")
        rep = error_report(get_table(node, FixedFormat.parse(args.input)))
        est = analytic(g, nodsp=True)
        rep["analytic_luts"], rep["analytic_bram"] = est.lut, est.bram
        if args.synth:
            from qhw.estimate import synthesize

            syn = synthesize(g, nodsp=True)
            rep["yosys_luts"], rep["yosys_bram"] = syn.lut, syn.bram
        rows[name] = rep
    print(f"sigmoid, input {args.input}, output {args.output}; errors over all "
          f"{2 ** FixedFormat.parse(args.input).width} input codes")
    head = f"{'variant':14s}{'max |err|':>11s}{'mean |err|':>12s}{'table bits':>12s}{'analytic LUT/BRAM':>19s}"
    print(head + (f"{'Yosys LUT/BRAM':>16s}" if args.synth else ""))
    for name, r in rows.items():
        line = (f"{name:14s}{r['max_abs_error']:11.2e}{r['mean_abs_error']:12.2e}{r['bits']:12d}"
                f"{r['analytic_luts']:>13d} / {r['analytic_bram']:<3d}")
        print(line + (f"{r['yosys_luts']:>10d} / {r['yosys_bram']:<3d}" if args.synth else ""))
    return rows


def get_table(node, in_fmt):
    from qhw.ops import get

    return get(node.op, node.name).table(node, in_fmt)


if __name__ == "__main__":
    main()
