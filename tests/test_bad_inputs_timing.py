"""Bad clock options: one ``qhw: error:`` line naming the option and the value, exit 2, nothing
written (the real CLI under tests/bad_input_harness.py)."""
from __future__ import annotations

import numpy as np
import pytest

from bad_input_harness import assert_error, run_qhw, unchanged
from qhw.flow import GraphBuilder
from qhw.io import save


def _model(folder):
    b = GraphBuilder("m")
    t = b.input("x", (3,), "ap_fixed<8,3>")
    b.output("y", b.dense("fc", t, np.full((3, 2), 0.375)))
    save(b.build(default="ap_fixed<8,3>"), folder / "m.yaml")


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "2000000"])
def test_bad_clock_period_option(tmp_path, bad):
    _model(tmp_path)
    with unchanged(tmp_path):
        res = run_qhw(["compile", "m.yaml", "-o", "out", "--clock-period", bad], cwd=tmp_path)
    assert_error(res, "--clock-period", bad)


def test_bad_target_option(tmp_path):
    _model(tmp_path)
    with unchanged(tmp_path):
        res = run_qhw(["compile", "m.yaml", "-o", "out", "--clock-period", "5", "--target", "virtex"],
                      cwd=tmp_path)
    assert_error(res, "--target", "virtex")


@pytest.mark.parametrize("bad", ["-2", "'5ns'", "true"])
def test_bad_config_clock_period(tmp_path, bad):
    _model(tmp_path)
    (tmp_path / "cfg.yaml").write_text(f"ClockPeriod: {bad}\n")
    with unchanged(tmp_path):
        res = run_qhw(["compile", "m.yaml", "-o", "out", "--config", "cfg.yaml"], cwd=tmp_path)
    assert_error(res, "ClockPeriod", bad.strip("'").lower().replace("true", "True"))


def test_target_without_a_clock_period(tmp_path):
    """--target only chooses the delays a clock period is pipelined with: alone it would be
    silently ignored, so it is refused (naming the option and the missing period)."""
    _model(tmp_path)
    with unchanged(tmp_path):
        res = run_qhw(["compile", "m.yaml", "-o", "out", "--target", "ecp5"], cwd=tmp_path)
    assert_error(res, "--target", "ecp5", "--clock-period")


@pytest.mark.parametrize("bad, needle", [("5,abc", "abc"), ("0", "0"), ("5,-1", "-1")])
def test_bad_sweep_clock_periods(tmp_path, bad, needle):
    _model(tmp_path)
    np.save(tmp_path / "x.npy", np.zeros((4, 3)))
    with unchanged(tmp_path):
        res = run_qhw(["sweep", "m.yaml", "--data", "x.npy", "--clock-period", bad, "-o", "out"],
                      cwd=tmp_path)
    assert_error(res, "--clock-period", needle)


def test_per_layer_clock_period_in_a_sweep_grid(tmp_path):
    _model(tmp_path)
    np.save(tmp_path / "x.npy", np.zeros((4, 3)))
    (tmp_path / "g.yaml").write_text("fc.clock_period: [5]\n")
    with unchanged(tmp_path):
        res = run_qhw(["sweep", "m.yaml", "--data", "x.npy", "--grid", "g.yaml", "-o", "out"], cwd=tmp_path)
    assert_error(res, "fc.clock_period", "global")
