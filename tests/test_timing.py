"""Pipelining to a clock period (``clock_period`` / ``target`` options, qhw.backends.verilog.timing):
RTL == golden model under input gaps and output stalls at every period (Verilator runs the RTL;
the golden numpy model is the oracle), lint clean, and latency grows only where the delay model
asks for registers: a 1000 ns period writes the same Verilog as no period at all."""
from __future__ import annotations

import json

import numpy as np
import pytest

from qhw.backends.verilog import timing, write_verilog
from qhw.backends.verilog.timing import Block, plan
from qhw.errors import ConfigError
from qhw.flow import GraphBuilder
from qhw.testing import models
from qhw.verify.stream import run_harness
from qhw.verify.vectors import golden_vectors, write_vectors
from rtl_checks import assert_lint_clean

N = 120




def mlp_net():
    """dense -> relu -> dense, every layer parallel (R = 1): the adder trees to cut."""
    rng = np.random.default_rng(12)
    b = GraphBuilder("pnet")
    t = b.input("x", (12,), "ap_fixed<8,3>")
    t = b.dense("fc1", t, rng.standard_normal((12, 10)) / 3.5, rng.standard_normal(10) * 0.1)
    t = b.relu("relu1", t)
    t = b.dense("fc2", t, rng.standard_normal((10, 5)) / 3, rng.standard_normal(5) * 0.1)
    b.output("y", t)
    return b.build(default="ap_fixed<8,3>")


def _write(g, folder, **opts):
    return write_verilog(g, folder / "rtl", options=opts or None)


def _verilog(d) -> dict:
    return {f: (d.rtl_dir / f).read_text() for f in d.files}


def _simulate(g, d, folder, seed):
    ins, exp = golden_vectors(g, N, seed=seed)
    write_vectors(folder / "vectors", ins, exp)
    for gap, stall in ((0.3, 0.3), (0.0, 0.7)):
        res = run_harness(folder / "rtl", folder / "vectors", seed=seed, gap=gap, stall=stall)
        assert res.ok and res.samples == N, res.summary()


def test_plan_cuts_a_chain_as_late_as_possible():
    m = timing.model("xilinx")
    blocks = [Block("a", 2.0, cut=0), Block("b", 2.0, cut=1), Block("c", 2.0), Block("d", 1.0)]
    # 7 ns of logic and the register overhead fit 10 ns: no register ...
    assert plan(blocks, 10.0, "xilinx").cuts == frozenset()
    # ... at 5 ns (4.1 ns of logic per stage) one, after b: a + b = 4, c + d = 3
    p = plan(blocks, 5.0, "xilinx")
    assert p.cuts == frozenset({1}) and p.path_ns == pytest.approx(4.0 + m.reg)
    # no register is possible between c and d: they stay together even when too long
    p = plan(blocks, 3.5, "xilinx")
    assert p.cuts == frozenset({0, 1}) and p.path_ns == pytest.approx(3.0 + m.reg)
    assert p.block == "d"


def test_bad_clock_options_name_the_value(tmp_path):
    g = mlp_net()
    for bad in (0, -5, "fast", float("nan")):
        with pytest.raises(ConfigError, match="clock_period"):
            _write(g, tmp_path, clock_period=bad)
    with pytest.raises(ConfigError, match="target.*'virtex'"):
        _write(g, tmp_path, clock_period=5, target="virtex")


@pytest.mark.parametrize("target", ["xilinx", "ecp5"])
def test_a_slow_clock_adds_no_register_and_writes_the_same_verilog(tmp_path, target):
    g = models.timing_net()
    plain = _write(g, tmp_path / "plain")
    slow = _write(g, tmp_path / "slow", clock_period=1000, target=target)
    assert _verilog(slow) == _verilog(plain) and slow.latency == plain.latency
    assert slow.timing["registers_added"] == 0 and slow.timing["met"]
    assert "timing" not in json.loads((plain.rtl_dir / "design.json").read_text())
    man = json.loads((slow.rtl_dir / "design.json").read_text())
    assert man["timing"]["latency_ns"] == pytest.approx(1000 * plain.latency)


def test_tighter_clocks_add_registers_only_in_the_layers_that_need_them(tmp_path):
    g = mlp_net()
    lat = {}
    for p in (1000, 12, 6, 3):
        d = _write(g, tmp_path / str(p), clock_period=p, target="ecp5")
        lat[p] = d.latency
        by = {l["node"]: l for l in d.layers}
        # the relu (a comparison, then the cast) is cut only when the two do not fit together
        assert (by["relu1"]["latency"] == 1) == (p >= 12)
        for name in ("fc1", "relu1", "fc2", "y"):
            t = by[name]["timing"]
            assert by[name]["latency"] == 1 + t["registers_added"]
            # every stage fits unless one block alone is longer than the period
            if t["path_ns"] > p:
                assert len(t["stages"][[s["ns"] for s in t["stages"]].index(t["path_ns"])]["blocks"]) == 1
    assert lat[1000] < lat[12] <= lat[6] <= lat[3]


@pytest.mark.parametrize("period, mult", [(3, "auto"), (6, "csd")])
def test_pipelined_mlp_equals_golden_under_backpressure(tmp_path, period, mult):
    """Registers after the products and between tree levels (auto), between the levels of the
    shift-add networks (csd)."""
    g = mlp_net()
    d = _write(g, tmp_path, clock_period=period, target="ecp5", multipliers=mult)
    assert d.timing["registers_added"] > 0
    assert_lint_clean(d)
    _simulate(g, d, tmp_path, seed=period)


@pytest.mark.parametrize("fifo", [False, True])
def test_pipelined_table_folded_requantize_equals_golden(tmp_path, fifo):
    """Registers on the sigmoid's ROM address and after its read, one between the
    requantizer's multiply and its cast; the parallel dense layer gets registers, the folded one
    a register after its products (its accumulator one cycle behind) and one on its final sum;
    with the output FIFO its depth follows the new latency."""
    g = models.timing_net()
    plain = _write(g, tmp_path / "plain", output_fifo=fifo)
    d = _write(g, tmp_path, clock_period=4, target="ecp5", output_fifo=fifo)
    assert d.latency > plain.latency and d.ii == plain.ii == 2
    by = {l["node"]: l for l in d.layers}
    assert by["fc1"]["timing"]["registers_added"] > 0
    # fc2: products and the final sum registered (R + 1 + 2 cycles)
    assert by["fc2"]["timing"]["registers_added"] == 2 and by["fc2"]["latency"] == 2 + 1 + 2
    # sig: the address and the ROM read registered; rq: its multiply
    assert by["sig"]["timing"]["registers_added"] == 2 and by["sig"]["latency"] == 3
    assert by["rq"]["timing"]["registers_added"] == 1 and by["rq"]["latency"] == 2
    assert_lint_clean(d)
    _simulate(g, d, tmp_path, seed=5)


def test_cli_clock_period_and_config_clock_period(tmp_path):
    from click.testing import CliRunner

    from qhw.cli import cli
    from qhw.io import save

    save(mlp_net(), tmp_path / "m.yaml")
    run = CliRunner()
    r = run.invoke(cli, ["compile", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "a"), "--backend",
                         "rtl", "--vectors", "10", "--clock-period", "4", "--target", "ecp5"])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    t = rep["timing"]
    assert t["target"] == "ecp5" and t["clock_period_ns"] == 4 and t["registers_added"] > 0
    assert t["latency_cycles"] == rep["latency"] and t["latency_ns"] == 4 * rep["latency"]
    assert f"{t['latency_ns']:g} ns" in r.output and t["critical_path"]["layer"] in r.output
    # hls4ml's ClockPeriod in a config is the default; no period: no timing, latency unchanged
    (tmp_path / "cfg.yaml").write_text("ClockPeriod: 4\nModel:\n  Precision: ap_fixed<8,3>\n")
    r = run.invoke(cli, ["compile", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "b"), "--backend",
                         "rtl", "--vectors", "10", "--config", str(tmp_path / "cfg.yaml")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "b" / "report.json").read_text())["timing"]["clock_period_ns"] == 4
    r = run.invoke(cli, ["compile", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "c"), "--backend",
                         "rtl", "--vectors", "10"])
    plain = json.loads((tmp_path / "c" / "report.json").read_text())
    assert "timing" not in plain and plain["latency"] < rep["latency"]



def test_analytic_estimate_counts_the_pipeline_registers():
    """The estimator sums the lowerings' cost(), which place the same registers for the period;
    nextpnr's Yosys counted +1,648 FFs on mlp 8-8-4 at 10 ns (benchmarks/RESULTS.md)."""
    from qhw.estimate import analytic

    g = mlp_net()
    ff = {p: analytic(g, target="ecp5", nodsp=True,
                      options=None if p is None else {"clock_period": p, "target": "ecp5"}).ff
          for p in (None, 1000, 12, 3)}
    assert ff[1000] == ff[None] < ff[12] < ff[3]
