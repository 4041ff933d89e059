"""Bit-width sweeps: the 40-point analytic sweep with its Pareto plot, a Yosys sweep, kill and
resume, failing points, a real Dask cluster, and the error-budget search."""
from __future__ import annotations

import csv
import json
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
from qhw.estimate import synthesize
from qhw.fixed import FixedFormat
from qhw.flow import GraphBuilder
from qhw.io import load_model, save
from qhw.passes import prepare
from qhw.sweep import (Problem, configure, evaluate, grid, load_grid, parse_range, plot, point_id,
                       read_results, run_sweep, search)
from qhw.testing import models

EXAMPLE = Path(__file__).parents[1] / "examples" / "jet_mlp"
MODEL, DATA, LABELS = EXAMPLE / "model.yaml", EXAMPLE / "x_val.npy", EXAMPLE / "y_val.npy"
GRID = ["--weights", "3:10", "--activations", "6:14:2"]  # 8 x 5 = 40 points
N_VAL = 500  # validation samples per point: a slice of x_val keeps CI fast


@pytest.fixture(scope="module")
def val(tmp_path_factory) -> tuple[Path, Path]:
    """The first N_VAL rows of the example's x_val / y_val, as .npy files."""
    d = tmp_path_factory.mktemp("val")
    np.save(d / "x.npy", np.load(DATA)[:N_VAL])
    np.save(d / "y.npy", np.load(LABELS)[:N_VAL])
    return d / "x.npy", d / "y.npy"


def _sigmoid_model() -> "object":
    """dense 8 -> 4 then a sigmoid table: the table-size and variant axes act on it."""
    rng = np.random.default_rng(1)
    b = GraphBuilder("sig")
    t = b.input("x", (8,), "ap_fixed<10,3>")
    t = b.dense("fc1", t, rng.standard_normal((8, 4)) * 0.5, rng.standard_normal(4) * 0.1)
    b.output("y", b.unary("sigmoid", "sig", t))
    return b.build(default="ap_fixed<12,4>")


def _rows(out: Path) -> list[dict]:
    with (out / "results.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_parse_range():
    assert parse_range("6:16:2") == [6, 8, 10, 12, 14, 16]
    assert parse_range("4:8") == [4, 5, 6, 7, 8] and parse_range("5") == [5]
    assert parse_range("4:6,2") == ["4,2", "5,2", "6,2"] and parse_range("7,-1") == ["7,-1"]
    for bad in ("8:4", "a:b", "4:8:0", "0:3", "4:8,", "4-8"):
        with pytest.raises(ConfigError, match=bad):
            parse_range(bad)
    for axes in ({"weight": [4]}, {"weights": [70]}, {"fc1.activations": ["ap_fixed<8>"]},
                 {"table_size": [1.5]}, {"weights": []}):
        with pytest.raises(ConfigError, match=next(iter(axes))):
            grid(axes)


def test_per_layer_axes_must_name_a_layer_they_change(tmp_path):
    pb = Problem.build(load_model(MODEL), np.load(DATA)[:100])
    with pytest.raises(ConfigError, match="no layer 'fc9'.*fc1"):
        run_sweep(pb, grid({"fc9.weights": [4]}), tmp_path, progress=False)
    with pytest.raises(ConfigError, match="'relu1'.*fc1, fc2, fc3, fc4"):
        run_sweep(pb, grid({"relu1.weights": [4]}), tmp_path, progress=False)
    assert not (tmp_path / "results.csv").exists()


def test_point_ids_are_stable_and_distinct():
    points = grid({"weights": [4, "4,2"], "activations": [6, 8], "fc1.weights": [5]})
    assert len(points) == 4 and len({point_id(p) for p in points}) == 4
    assert point_id({"b": 1, "a": 2}) == point_id({"a": 2, "b": 1})


def test_integer_bits_fitted_unless_given():
    g = load_model(MODEL)
    x = np.load(DATA)[:N_VAL]
    pb = Problem.build(g, x)
    point = {"weights": 5, "fc1.weights": "6,2", "activations": 9, "relu2.activations": "ap_ufixed<7,4,RND,SAT>"}
    gg, cfg = configure(g, point, pb.ranges)
    gg = prepare(gg, config=cfg)
    assert gg.node("fc1").formats["weight"] == FixedFormat(6, 2, True, "RND_CONV", "SAT")
    assert gg.node("relu2").formats["result"] == FixedFormat.parse("ap_ufixed<7,4,RND,SAT>")
    # fitted: the fewest integer bits (sign included) that hold the float range, checked from the spec
    w = g.node("fc3").params["weight"]
    m = np.abs(w).max()
    f = gg.node("fc3").formats["weight"]
    assert f.width == 5 and 2.0 ** (f.integer_bits - 2) <= m <= 2.0 ** (f.integer_bits - 1)
    # an accumulator wide enough to hold the final sums loses only fraction bits
    errs = [evaluate(pb, {"weights": 8, "activations": 12, "accum": c}) for c in (12, 18, 26)]
    assert all(e["status"] == "ok" for e in errs)
    assert errs[0]["mean_abs_error"] > errs[1]["mean_abs_error"] >= errs[2]["mean_abs_error"]
    acc = gg.node("fc1").formats["accum"]
    gg2, cfg2 = configure(g, {"accum": 18}, pb.ranges)
    f = prepare(gg2, config=cfg2).node("fc1").formats["accum"]
    assert f.width == 18 and f.overflow == "WRAP" and acc != f
    t = golden.run(g, x, float_mode=True, keep_all=True).tensors["fc2"]
    f = gg.node("fc2").formats["result"]
    assert f.width == 9 and 2.0 ** (f.integer_bits - 2) <= np.abs(t).max() <= 2.0 ** (f.integer_bits - 1)


def test_analytic_sweep_of_40_points_with_pareto_plot(tmp_path, val):
    out = tmp_path / "sweep"
    r = CliRunner().invoke(cli, ["sweep", str(MODEL), "--data", str(val[0]), "--labels", str(val[1]),
                                 *GRID, "--workers", "2", "-o", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    rows = _rows(out)
    assert len(rows) == 40 and len({r["id"] for r in rows}) == 40
    assert all(r["status"] == "ok" for r in rows)
    assert (out / "pareto.png").stat().st_size > 10_000 and (out / "pareto.svg").is_file()
    recs = read_results(out / "results.csv")
    by = {(r["weights"], r["activations"]): r for r in recs}
    # more bits never cost fewer DSPs, nor fewer LUTs unless products moved into DSP blocks
    # (xilinx packs a product of >= 9 bits into a DSP48: a wider weight can take LUTs away);
    # and the widest point is accurate
    for (w, a), rec in by.items():
        for wider in ((w + 1, a), (w, a + 2)):
            if wider in by:
                assert by[wider]["dsp"] >= rec["dsp"], (wider, (w, a))
                assert by[wider]["lut"] >= rec["lut"] or by[wider]["dsp"] > rec["dsp"], (wider, (w, a))
    assert by[(10, 14)]["mean_abs_error"] < by[(3, 6)]["mean_abs_error"] / 20
    # accuracy against the labels and agreement with float, recomputed here from the float model
    g = load_model(MODEL)
    x, labels = np.load(val[0]), np.load(val[1])
    ref = golden.run(g, x, float_mode=True).output()
    assert by[(10, 14)]["accuracy"] >= (ref.argmax(1) == labels).mean() - 0.02
    assert by[(10, 14)]["agreement"] >= 0.98
    # the recorded error is what the golden model gives for that point's formats
    pb = Problem.build(g, x)
    gg, cfg = configure(g, {"activations": 8, "weights": 5}, pb.ranges)
    gg = prepare(gg, config=cfg)
    assert all(gg.node(n).formats["weight"].width == 5 for n in ("fc1", "fc2", "fc3", "fc4"))
    assert gg.node("relu2").formats["result"].width == 8
    y = golden.to_float(gg, golden.run(gg, x))["y"]
    assert by[(5, 8)]["accuracy"] == pytest.approx((y.argmax(1) == labels).mean())
    assert by[(5, 8)]["mean_abs_error"] == pytest.approx(float(np.abs(y - ref).mean()), rel=1e-12)
    # the plot is byte-stable for the same records
    again = tmp_path / "again"
    again.mkdir()
    plot(recs, again, title=f"{g.name}: 40 points")
    assert (again / "pareto.svg").read_bytes() == (out / "pareto.svg").read_bytes()


@pytest.mark.slow  # two Yosys runs at once and a check run (32 s cold at load 6)
def test_yosys_sweep_of_2_points(tmp_path):
    """Two points (not six: each is a Yosys run) of a 6-4-3 MLP (not 8-8-4: 82 s cold at load
    6) are enough for what is checked."""
    path = save(models.mlp(widths=(6, 4, 3), fmt="ap_fixed<8,3>", seed=3), tmp_path / "m.yaml")
    x = np.random.default_rng(0).standard_normal((200, 6))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "sweep"
    args = ["sweep", str(path), "--data", str(tmp_path / "x.npy"), "--weights", "4:5",
            "--activations", "8", "--nodsp", "--workers", "2", "-o", str(out)]
    r = CliRunner().invoke(cli, args)  # analytic first: --synth then redoes these points only
    assert r.exit_code == 0 and "yosys_lut" not in _rows(out)[0], r.output + r.stderr
    r = CliRunner().invoke(cli, [*args, "--synth"])
    assert r.exit_code == 0 and "Yosys LUT" in r.output, r.output + r.stderr
    recs = read_results(out / "results.csv")
    assert len(recs) == 2 and len({r["id"] for r in recs}) == 2 and all(r["status"] == "ok" for r in recs)
    for rec in recs:
        assert rec["yosys_lut"] > 0 and rec["yosys_ff"] > 0
        assert 0.5 <= rec["lut"] / rec["yosys_lut"] <= 2.0, rec  # analytic tracks synthesis
    # the recorded figures are Yosys's for that point's graph (cached: no second synthesis)
    g = load_model(path)
    gg, cfg = configure(g, {"weights": 5, "activations": 8}, Problem.build(g, x).ranges)
    syn = synthesize(prepare(gg, config=cfg), nodsp=True)
    rec = next(r for r in recs if (r["weights"], r["activations"]) == (5, 8))
    assert (rec["yosys_lut"], rec["yosys_ff"]) == (syn.lut, syn.ff)
    assert (out / "pareto.png").is_file() and b"LUTs (Yosys)" in (out / "pareto.svg").read_bytes()


def _sweep_cmd(out: Path, data: Path) -> list[str]:
    return [sys.executable, "-m", "qhw", "sweep", str(MODEL), "--data", str(data), *GRID,
            "--workers", "1", "-o", str(out)]


def test_killed_sweep_resumes_without_redoing_or_losing_points(tmp_path, val):
    out = tmp_path / "sweep"
    env = dict(os.environ, QHW_SWEEP_STOP_AFTER="7", QHW_SWEEP_LOG=str(tmp_path / "run1.log"))
    first = subprocess.run(_sweep_cmd(out, val[0]), env=env, capture_output=True, text=True)
    assert first.returncode == 75, first.stderr  # killed right after the 7th point was written
    done_first = {r["id"] for r in _rows(out)}
    assert len(done_first) == 7
    env = dict(os.environ, QHW_SWEEP_LOG=str(tmp_path / "run2.log"))
    env.pop("QHW_SWEEP_STOP_AFTER", None)
    second = subprocess.run(_sweep_cmd(out, val[0]), env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    rows = _rows(out)
    assert len(rows) == 40 and len({r["id"] for r in rows}) == 40  # nothing lost, nothing twice
    assert {r["id"] for r in rows} == {point_id(p) for p in grid({"weights": parse_range("3:10"),
                                                                   "activations": parse_range("6:14:2")})}
    redone = (tmp_path / "run2.log").read_text().split()
    assert len(redone) == 33 and not set(redone) & done_first  # nothing redone
    third = subprocess.run(_sweep_cmd(out, val[0]), env=env, capture_output=True, text=True)
    assert third.returncode == 0 and len((tmp_path / "run2.log").read_text().split()) == 33


def test_a_row_cut_by_a_kill_is_evaluated_again(tmp_path):
    g = load_model(MODEL)
    pb = Problem.build(g, np.load(DATA)[:200])
    points = grid({"weights": [4, 6, 8]})
    first = run_sweep(pb, points, tmp_path, progress=False)
    path = tmp_path / "results.csv"
    text = path.read_text()
    path.write_text(text[:text.rindex(",ok,")])  # the last row cut before its status
    assert len(read_results(path)) == 2
    again = run_sweep(pb, points, tmp_path, progress=False)
    assert [r["id"] for r in again] == [r["id"] for r in first]
    assert [r["mean_abs_error"] for r in again] == [r["mean_abs_error"] for r in first]
    assert len(_rows(tmp_path)) == 3 and all(r["status"] == "ok" for r in _rows(tmp_path))


def test_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path):
    pb = Problem.build(_sigmoid_model(), np.random.default_rng(0).standard_normal((300, 8)))
    points = grid({"variant": ["rom", "no_such_variant", "pwl"], "activations": [10]})
    recs = run_sweep(pb, points, tmp_path, progress=False)
    bad = [r for r in recs if r["status"] == "error"]
    assert len(bad) == 1 and bad[0]["variant"] == "no_such_variant"
    assert "no_such_variant" in bad[0]["error"] and "sig" in bad[0]["error"]
    assert [r["status"] for r in recs].count("ok") == 2
    assert [r["status"] for r in read_results(tmp_path / "results.csv")].count("error") == 1


def test_grid_file_with_per_layer_and_table_axes(tmp_path):
    path = save(_sigmoid_model(), tmp_path / "sig.yaml")
    x = np.random.default_rng(0).standard_normal((400, 8))
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "grid.yaml").write_text("table_size: [32, 256, 1024]\nvariant: [rom, half_rom]\n"
                                        "activations: 10\nfc1.weights: '6:8:2'\n")
    assert load_grid(tmp_path / "grid.yaml")["fc1.weights"] == [6, 8]
    out = tmp_path / "sweep"
    r = CliRunner().invoke(cli, ["sweep", str(path), "--data", str(tmp_path / "x.npy"), "--grid",
                                 str(tmp_path / "grid.yaml"), "--json", "-o", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    recs = read_results(out / "results.csv")
    assert len(recs) == 12 and all(r["status"] == "ok" for r in recs)
    assert {"table_size", "variant", "fc1.weights", "activations"} <= set(recs[0])
    for variant in ("rom", "half_rom"):
        errs = [next(r["max_abs_error"] for r in recs if r["table_size"] == n and r["variant"] == variant
                     and r["fc1.weights"] == 8) for n in (32, 256, 1024)]
        assert errs[0] > errs[1] > errs[2]
    g = load_model(path)
    pb = Problem.build(g, x)
    for n in (32, 256, 1024):
        # the table alone, against numpy's sigmoid of the codes it received: over [-8, 8) with N
        # entries it is off by at most half a step (16/N/2) times sigmoid's largest slope (1/4),
        # plus half an LSB of the result
        gg, cfg = configure(g, {"table_size": n, "variant": "rom", "activations": 10}, pb.ranges)
        gg = prepare(gg, config=cfg)
        t = golden.run(gg, x, keep_all=True).tensors
        z = gg.node("fc1").formats["result"].to_float(t["fc1"])
        f = gg.node("sig").formats["result"]
        err = np.abs(f.to_float(t["sig"]) - 1 / (1 + np.exp(-z)))[np.abs(z) < 8]
        assert err.max() <= 16 / n / 2 / 4 + f.lsb / 2 + 1e-12
        assert err.max() > 16 / n / 2 / 4 / 4  # and the table size really is n
    gg, cfg = configure(g, {"table_size": 32, "variant": "half_rom"}, pb.ranges)
    assert gg.node("sig").attrs["table_size"] == 32 and gg.node("sig").attrs["variant"] == "half_rom"


def test_dask_cluster_gives_the_local_results(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    g = load_model(MODEL)
    pb = Problem.build(g, np.load(DATA)[:300])
    points = grid({"weights": [4, 6, 8], "activations": [8, 12]})
    local = run_sweep(pb, points, tmp_path / "local", progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        remote = run_sweep(pb, points, tmp_path / "dask", scheduler=client, progress=False)
        np.save(tmp_path / "x.npy", pb.data)
        r = CliRunner().invoke(cli, ["sweep", str(MODEL), "--data", str(tmp_path / "x.npy"), "--weights",
                                     "4:8:2", "--activations", "8:12:4", "--scheduler",
                                     cluster.scheduler_address, "-o", str(tmp_path / "cli")])
        assert r.exit_code == 0, r.output + r.stderr
    keys = ("id", "max_abs_error", "mean_abs_error", "agreement", "lut", "ff", "dsp", "status")
    assert [{k: r[k] for k in keys} for r in remote] == [{k: r[k] for k in keys} for r in local]
    by_id = {r["id"]: r for r in read_results(tmp_path / "cli" / "results.csv")}
    assert [{k: by_id[r["id"]][k] for k in keys} for r in local] == [{k: r[k] for k in keys} for r in local]


def test_a_folder_of_another_sweep_is_not_reused(tmp_path):
    g = load_model(MODEL)
    x = np.load(DATA)
    points = grid({"weights": [4, 6]})
    first = run_sweep(Problem.build(g, x[:200]), points, tmp_path, progress=False)
    assert run_sweep(Problem.build(g, x[:200]), points, tmp_path, progress=False) == first
    with pytest.raises(ConfigError, match="another sweep"):
        run_sweep(Problem.build(g, x[200:400]), points, tmp_path, progress=False)
    other = models.mlp(seed=5)
    with pytest.raises(ConfigError, match="another sweep"):
        run_sweep(Problem.build(other, x[:200]), points, tmp_path, progress=False)


def test_search_meets_the_budget_and_is_verified(tmp_path):
    g = load_model(MODEL)
    x = np.load(DATA)[:N_VAL]
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
    assert found["record"]["lut"] < evaluate(pb, widest)["lut"]
    assert point_id(point) == found["record"]["id"]
    # greedy's end: narrowing any one layer further by one bit breaks the budget or saves nothing
    for key, w in point.items():
        if w > (4 if key.endswith("weights") else 6):
            r = evaluate(pb, dict(point, **{key: w - 1}))
            assert r["mean_abs_error"] > budget or r["lut"] > found["record"]["lut"], key


def test_cli_search_with_a_grid_reports_the_gap(tmp_path, val):
    out = tmp_path / "o"
    r = CliRunner().invoke(cli, ["sweep", str(MODEL), "--data", str(val[0]), "--weights", "4:8:2",
                                 "--activations", "8:12:2", "--max-error", "0.3", "--json", "-o", str(out)])
    assert r.exit_code == 0, r.output + r.stderr
    found = json.loads((out / "search.json").read_text())
    recs = read_results(out / "results.csv")
    meeting = [q for q in recs if q["mean_abs_error"] <= 0.3]
    best = min(meeting, key=lambda q: q["lut"])
    vg = found["versus_grid"]
    assert vg["best_grid_lut"] == best["lut"]
    assert vg["lut_difference"] == found["record"]["lut"] - best["lut"]
    assert found["record"]["mean_abs_error"] <= 0.3
    assert json.loads(r.stdout)["search"]["versus_grid"] == vg


def test_cli_errors_are_one_line(tmp_path, val):
    def run(*args):
        return CliRunner().invoke(cli, ["sweep", str(MODEL), *args, "-o", str(tmp_path / "o")])

    r = run("--data", str(val[0]), "--weights", "9:3")
    assert r.exit_code == 2 and "--weights" in r.stderr and "9:3" in r.stderr
    r = run("--data", str(tmp_path / "none.npy"), "--weights", "4:6")
    assert r.exit_code == 2 and "none.npy" in r.stderr
    np.save(tmp_path / "bad.npy", np.zeros((10, 7)))
    r = run("--data", str(tmp_path / "bad.npy"), "--weights", "4:6")
    assert r.exit_code == 2 and "(10, 7)" in r.stderr and "16" in r.stderr
    r = run("--data", str(val[0]), "--labels", str(LABELS), "--weights", "4:6")
    assert r.exit_code == 2 and "labels" in r.stderr and str(N_VAL) in r.stderr
    r = run("--data", str(val[0]))
    assert r.exit_code == 2 and "nothing to sweep" in r.stderr
    assert all(len(x.strip().splitlines()) == 1 for x in (r.stderr,))
    assert not (tmp_path / "o").exists()
