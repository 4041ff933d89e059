"""Bit-width sweeps: the 40-point analytic sweep with its Pareto plot, a Yosys sweep, kill and
resume, failing points, a real Dask cluster, and the error-budget search."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qhw import golden
from qhw.cli import cli
from qhw.errors import ConfigError
from qhw.io import load_model, save
from qhw.passes import prepare
from qhw.sweep import Problem, configure, grid, parse_range, plot, point_id, read_results, run_sweep, search
from qhw.testing import models

EXAMPLE = Path(__file__).parents[1] / "examples" / "jet_mlp"
MODEL, DATA, LABELS = EXAMPLE / "model.yaml", EXAMPLE / "x_val.npy", EXAMPLE / "y_val.npy"
GRID = ["--weights", "3:10", "--activations", "6:14:2"]  # 8 x 5 = 40 points


def _rows(out: Path) -> list[dict]:
    with (out / "results.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_parse_range():
    assert parse_range("6:16:2") == [6, 8, 10, 12, 14, 16]
    assert parse_range("4:8") == [4, 5, 6, 7, 8] and parse_range("5") == [5]
    for bad in ("8:4", "a:b", "4:8:0", "0:3"):
        with pytest.raises(ConfigError, match=bad):
            parse_range(bad)


def test_analytic_sweep_of_40_points_with_pareto_plot(tmp_path):
    out = tmp_path / "sweep"
    r = CliRunner().invoke(cli, ["sweep", str(MODEL), "--data", str(DATA), "--labels", str(LABELS),
                                 *GRID, "--workers", "2", "-o", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    rows = _rows(out)
    assert len(rows) == 40 and len({r["id"] for r in rows}) == 40
    assert all(r["status"] == "ok" for r in rows)
    assert (out / "pareto.png").stat().st_size > 10_000 and (out / "pareto.svg").is_file()
    recs = read_results(out / "results.csv")
    by = {(r["weights"], r["activations"]): r for r in recs}
    # more bits never cost fewer LUTs, and the widest point is accurate
    for (w, a), rec in by.items():
        if (w + 1, a) in by:
            assert by[(w + 1, a)]["lut"] >= rec["lut"]
        if (w, a + 2) in by:
            assert by[(w, a + 2)]["lut"] >= rec["lut"]
    assert by[(10, 14)]["mean_abs_error"] < by[(3, 6)]["mean_abs_error"] / 20
    assert by[(10, 14)]["accuracy"] >= 0.98
    # the recorded error is what the golden model gives for that point's formats
    g = load_model(MODEL)
    x = np.load(DATA)
    pb = Problem.build(g, x)
    gg, cfg = configure(g, {"activations": 8, "weights": 5}, pb.ranges)
    gg = prepare(gg, config=cfg)
    assert all(gg.node(n).formats["weight"].width == 5 for n in ("fc1", "fc2", "fc3", "fc4"))
    assert gg.node("relu2").formats["result"].width == 8
    y = golden.to_float(gg, golden.run(gg, x))["y"]
    ref = golden.run(g, x, float_mode=True).output()
    assert by[(5, 8)]["mean_abs_error"] == pytest.approx(float(np.abs(y - ref).mean()), rel=1e-12)
    # the plot is byte-stable for the same records
    again = tmp_path / "again"
    again.mkdir()
    plot(recs, again, title=f"{g.name}: 40 points")
    assert (again / "pareto.svg").read_bytes() == (out / "pareto.svg").read_bytes()


def test_yosys_sweep_of_6_points(tmp_path):
    path = save(models.mlp(widths=(8, 8, 4), fmt="ap_fixed<8,3>", seed=3), tmp_path / "m.yaml")
    x = np.random.default_rng(0).standard_normal((200, 8))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "sweep"
    r = CliRunner().invoke(cli, ["sweep", str(path), "--data", str(tmp_path / "x.npy"), "--weights", "4:6",
                                 "--activations", "6:8:2", "--synth", "--nodsp", "--workers", "2",
                                 "-o", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    recs = read_results(out / "results.csv")
    assert len(recs) == 6 and all(r["status"] == "ok" for r in recs)
    for rec in recs:
        assert rec["yosys_lut"] > 0 and rec["yosys_ff"] > 0
        assert 0.5 <= rec["lut"] / rec["yosys_lut"] <= 2.0, rec  # analytic tracks synthesis
    assert (out / "pareto.png").is_file()


def _sweep_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "qhw", "sweep", str(MODEL), "--data", str(DATA), *GRID,
            "--workers", "1", "-o", str(out)]


def test_killed_sweep_resumes_without_redoing_or_losing_points(tmp_path):
    out = tmp_path / "sweep"
    env = dict(os.environ, QHW_SWEEP_STOP_AFTER="7", QHW_SWEEP_LOG=str(tmp_path / "run1.log"))
    first = subprocess.run(_sweep_cmd(out), env=env, capture_output=True, text=True)
    assert first.returncode == 75, first.stderr  # killed right after the 7th point was written
    done_first = {r["id"] for r in _rows(out)}
    assert len(done_first) == 7
    env = dict(os.environ, QHW_SWEEP_LOG=str(tmp_path / "run2.log"))
    env.pop("QHW_SWEEP_STOP_AFTER", None)
    second = subprocess.run(_sweep_cmd(out), env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    rows = _rows(out)
    assert len(rows) == 40 and len({r["id"] for r in rows}) == 40  # nothing lost, nothing twice
    redone = (tmp_path / "run2.log").read_text().split()
    assert len(redone) == 33 and not set(redone) & done_first  # nothing redone


def test_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    g = load_model(MODEL)
    pb = Problem.build(g, np.load(DATA)[:200])
    points = grid({"weights": [6], "fc2.weights": [8, 70]})  # 70 bits: no such fixed-point type
    recs = run_sweep(pb, points, tmp_path, progress=False)
    bad = [r for r in recs if r["status"] == "error"]
    assert len(bad) == 1 and bad[0]["fc2.weights"] == 70 and "70" in bad[0]["error"]
    assert [r["status"] for r in recs].count("ok") == 1
    assert len(read_results(tmp_path / "results.csv")) == 2


def test_dask_cluster_gives_the_local_results(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    g = load_model(MODEL)
    pb = Problem.build(g, np.load(DATA)[:300])
    points = grid({"weights": [4, 6, 8], "activations": [8, 12]})
    local = run_sweep(pb, points, tmp_path / "local", progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        remote = run_sweep(pb, points, tmp_path / "dask", scheduler=client, progress=False)
    keys = ("id", "max_abs_error", "mean_abs_error", "agreement", "lut", "ff", "dsp", "status")
    assert [{k: r[k] for k in keys} for r in remote] == [{k: r[k] for k in keys} for r in local]


def test_search_meets_the_budget_and_is_verified(tmp_path):
    g = load_model(MODEL)
    x = np.load(DATA)[:500]
    pb = Problem.build(g, x)
    budget = 0.5
    found = search(pb, budget, widths={"weights": list(range(4, 11)), "activations": list(range(6, 15))})
    point = found["point"]
    assert found["steps"], "the widest configuration should be narrowed"
    gg, cfg = configure(g, point, pb.ranges)
    gg = prepare(gg, config=cfg)
    err = float(np.abs(golden.to_float(gg, golden.run(gg, x))["y"] - golden.run(g, x, float_mode=True).output()).mean())
    assert err <= budget and err == pytest.approx(found["record"]["mean_abs_error"], rel=1e-12)
    widest = {k: 10 if k.endswith("weights") else 14 for k in point}
    from qhw.sweep import evaluate

    assert found["record"]["lut"] < evaluate(pb, widest)["lut"]
    assert point_id(point) == found["record"]["id"]


def test_cli_errors_are_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["sweep", str(MODEL), "--data", str(DATA), "--weights", "9:3",
                                 "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--weights" in r.stderr and "9:3" in r.stderr
    r = CliRunner().invoke(cli, ["sweep", str(MODEL), "--data", str(tmp_path / "none.npy"),
                                 "--weights", "4:6", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "none.npy" in r.stderr
    assert not (tmp_path / "o").exists()
