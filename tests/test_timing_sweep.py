"""The clock-period axis of ``qhw sweep`` (``--clock-period 5,10``, ``clock_period`` in a grid
file): latency in cycles and ns per point, the timing columns of results.csv, and a Pareto
front over error, LUTs and latency."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from qhw.backends.verilog import write_verilog
from qhw.cli import cli
from qhw.errors import ConfigError
from qhw.io import save
from qhw.passes import prepare
from qhw.sweep import grid, load_grid
from qhw.sweep.pareto import pareto_front
from qhw.sweep.space import configure, parse_periods, Ranges
from qhw.testing import models


def test_three_way_front_is_the_set_of_undominated_points():
    """Hand-made records: the front keeps every point no other one matches or beats on all of
    error, LUTs and latency."""
    recs = [dict(id=i, status="ok", lut=l, mean_abs_error=e, latency_ns=t)
            for i, (l, e, t) in enumerate([(100, 0.1, 80), (100, 0.1, 60), (120, 0.05, 90),
                                           (90, 0.2, 100), (130, 0.2, 50), (140, 0.3, 70)])]
    recs.append(dict(id=9, status="error", lut=1, mean_abs_error=0.0, latency_ns=1))
    front = {r["id"] for r in pareto_front(recs, latency="latency_ns")}
    # 0 is beaten by 1 (same LUTs and error, less latency); 5 by 4 on all three
    assert front == {1, 2, 3, 4}
    assert {r["id"] for r in pareto_front(recs)} == {0, 2, 3}  # error x LUT only: of the tie 0/1, the first id


def test_clock_period_axis_parsing_and_errors(tmp_path):
    assert parse_periods("5,10, 2.5,5") == [5, 10, 2.5]
    for bad in ("0", "5,x", "-1", "1e7", ""):
        with pytest.raises(ConfigError, match="clock-period"):
            parse_periods(bad)
    assert grid({"clock_period": [5, 10], "weights": [4]}) == [
        {"clock_period": 5, "weights": 4}, {"clock_period": 10, "weights": 4}]
    with pytest.raises(ConfigError, match="'fc1.clock_period'.*global"):
        grid({"fc1.clock_period": [5]})
    for bad in (0, "5", True, -2.0):
        with pytest.raises(ConfigError, match="clock period"):
            grid({"clock_period": [bad]})
    (tmp_path / "g.yaml").write_text("clock_period: 5,10\nweights: [6]\n")
    assert load_grid(tmp_path / "g.yaml") == {"clock_period": [5, 10], "weights": [6]}


def test_sweep_cli_gives_latency_per_clock_period(tmp_path):
    g = models.mlp(widths=(6, 5, 3), fmt="ap_fixed<8,3>", seed=2, name="m653")
    save(g, tmp_path / "m.yaml")
    x = np.random.default_rng(0).standard_normal((40, 6))
    np.save(tmp_path / "x.npy", x)
    r = CliRunner().invoke(cli, ["sweep", str(tmp_path / "m.yaml"), "--data", str(tmp_path / "x.npy"),
                                 "--weights", "4:6:2", "--clock-period", "1000,4", "--target", "ecp5",
                                 "--workers", "1", "-o", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    summary = json.loads(r.stdout)
    assert summary["pareto"] and all("latency_ns" in p for p in summary["pareto"])
    by = {(int(r["weights"]), float(r["clock_period"])): r for r in rows}
    ranges = Ranges.measure(g, x)
    for w in (4, 6):
        slow, fast = by[(w, 1000.0)], by[(w, 4.0)]
        # the point's graph written as plain RTL: 1000 ns adds no cycle
        pg, cfg = configure(g, {"weights": w}, ranges)
        plain = write_verilog(prepare(pg, config=cfg), tmp_path / f"plain{w}" / "rtl")
        assert int(slow["latency_cycles"]) == plain.latency
        assert float(slow["latency_ns"]) == 1000 * plain.latency and slow["timing_met"] == "1"
        assert int(fast["latency_cycles"]) > plain.latency
        assert float(fast["latency_ns"]) == 4 * int(fast["latency_cycles"])
        # the same error at both periods (pipelining changes no value); more FFs at 4 ns
        assert slow["mean_abs_error"] == fast["mean_abs_error"]
        assert int(fast["ff"]) > int(slow["ff"])
