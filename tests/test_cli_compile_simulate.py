"""qhw compile / qhw simulate end to end through the CLI."""
from __future__ import annotations

import json

from click.testing import CliRunner

from qhw.cli import cli
from qhw.io import save
from qhw.testing import models


def test_compile_then_simulate(tmp_path):
    save(models.random_graph(3), tmp_path / "m.yaml")
    r = CliRunner().invoke(cli, ["compile", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out"),
                                 "--backend", "rtl", "--vectors", "60"])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["latency"] >= 1 and rep["ii"] == 1 and rep["layers"]
    assert (tmp_path / "out" / "vectors" / "input.txt").read_text().count("\n") == 60
    r = CliRunner().invoke(cli, ["simulate", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["ok"] and res["samples"] == 60 and res["mismatches"] == 0


def test_compile_error_leaves_nothing(tmp_path):
    r = CliRunner().invoke(cli, ["compile", str(tmp_path / "missing.yaml"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert not (tmp_path / "o").exists()


def test_simulate_hls_json(tmp_path):
    """``qhw simulate --backend hls --json`` prints one JSON object (it crashed: no to_dict)."""
    save(models.random_graph(3), tmp_path / "m.yaml")
    r = CliRunner().invoke(cli, ["compile", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out"),
                                 "--backend", "hls", "--vectors", "20"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["simulate", str(tmp_path / "out"), "--backend", "hls", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["ok"] and res["samples"] == 20 and res["mismatches"] == 0 and res["backend"] == "hls"


def test_simulate_hls_takes_n(tmp_path):
    """``-n N`` runs the first N vectors on the HLS backend too (it ran all of them)."""
    save(models.random_graph(3), tmp_path / "m.yaml")
    r = CliRunner().invoke(cli, ["compile", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out"),
                                 "--backend", "hls", "--vectors", "20"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["simulate", str(tmp_path / "out"), "--backend", "hls", "-n", "7", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["ok"] and res["samples"] == 7
