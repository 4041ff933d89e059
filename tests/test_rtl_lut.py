"""Table ops in RTL == golden model: sigmoid/tanh ROM (full, half, hls4ml's convention), PWL
(plain and power-of-two slopes) and hard_sigmoid over EVERY input code, through one Verilated
design per input format; plus small networks through the streaming top under backpressure.

Oracle: qhw.golden (itself checked against hls4ml's C++ tables and float references in
tests/test_tables.py); hardware: Verilator running the emitted RTL.
"""
from __future__ import annotations

import numpy as np
import pytest

import report
from qhw.backends.verilog import write_verilog
from qhw.fixed import FixedFormat
from qhw.golden import run_raw
from qhw.flow import GraphBuilder
from qhw.verify.stream import run_harness
from qhw.verify.vectors import golden_vectors, write_vectors
from rtl_checks import check_design
from test_hls_csim import LUT_CASES


def _all_tables(in_fmt: str):
    b = GraphBuilder("tables")
    x = b.input("x", (1,), in_fmt)
    for k, (fn, variant, out, extra) in enumerate(LUT_CASES):
        b.output(f"y{k}", b.unary(fn, f"{fn}_{variant}_{k}", x, {"result": out}, variant=variant, **extra))
    b.output("y_hard", b.unary("hard_sigmoid", "hard", x, {"result": "ap_ufixed<8,1,AP_RND,AP_SAT>"}))
    return b.build()


@pytest.mark.parametrize("in_fmt", ["ap_fixed<16,5>", "ap_ufixed<11,4>"])
def test_every_table_variant_over_every_input_code(in_fmt, tmp_path, request):
    g = _all_tables(in_fmt)
    d = write_verilog(g, tmp_path / "rtl")
    check_design(d)
    fmt = FixedFormat.parse(in_fmt)
    raw = np.arange(fmt.raw_min, fmt.raw_max + 1).reshape(-1, 1)
    want = run_raw(g, raw).outputs
    write_vectors(tmp_path / "vectors", [raw], [want[n] for n in g.output_names])
    sim = run_harness(tmp_path / "rtl", tmp_path / "vectors", gap=0.05, stall=0.05)
    assert sim.ok, sim.summary() + str(sim.details[:5])
    assert sim.samples == len(raw)
    # the outputs really differ between variants (the test would notice a mixed-up table)
    assert len({want[n].tobytes() for n in g.output_names}) == len(g.output_names)
    report.add(f"RTL == golden: sigmoid/tanh ROM, half ROM, hls4ml table, PWL, PWL pow2, "
               f"hard_sigmoid over all {len(raw)} codes of {in_fmt}", request)


def _net(variant: str, r: int, widths: tuple[int, int] = (5, 3)):
    """6 -> widths[0] sigmoids -> widths[1] tanh (tests/generated_snapshot.py writes the
    default)."""
    h, o = widths
    rng = np.random.default_rng(5)
    b = GraphBuilder(f"sig_{variant}")
    t = b.input("x", (6,), "ap_fixed<10,3>")
    t = b.dense("fc1", t, rng.standard_normal((6, h)), rng.standard_normal(h) * 0.1,
                formats={"result": "ap_fixed<12,4>"}, reuse_factor=r)
    t = b.unary("sigmoid", "sig", t, {"result": "ap_ufixed<9,0,AP_RND,AP_SAT>"}, variant=variant,
                table_size=256)
    t = b.dense("fc2", t, rng.standard_normal((h, o)), formats={"result": "ap_fixed<12,3>"})
    t = b.unary("tanh", "th", t, {"result": "ap_fixed<10,1,AP_RND,AP_SAT>"},
                variant="half_rom" if variant != "pwl" else "pwl", table_size=512)
    b.output("y", t)
    return b.build(default="ap_fixed<16,6>")


# slow: lint, Yosys synth and simulation of a net with two tables. 3 sigmoids and 2 tanh, not
# 5 and 3 (every element has its own table or PWL multiplier, most of the Yosys time): the three
# cold at load 2, 88 s -> 54 s CPU (pwl-2 44 s -> 24 s wall)
@pytest.mark.slow
@pytest.mark.parametrize("variant,r", [("rom", 1), ("pwl", 2), ("hls4ml", 1)])
def test_sigmoid_tanh_net_through_the_stream_top(variant, r, tmp_path):
    g = _net(variant, r, widths=(3, 2))
    d = write_verilog(g, tmp_path / "rtl")
    check_design(d)
    ins, exp = golden_vectors(g, 300, seed=2)
    write_vectors(tmp_path / "vectors", ins, exp)
    sim = run_harness(tmp_path / "rtl", tmp_path / "vectors", seed=4, gap=0.3, stall=0.3)
    assert sim.ok, sim.summary()
    assert d.ii == r
