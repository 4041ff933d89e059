"""qhw predict / qhw inspect end to end, and their error paths (one line, exit code 2)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from qhw import golden
from qhw.io import save
from qhw.testing import models


def qhw(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qhw", *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    d = tmp_path_factory.mktemp("m")
    g = models.mlp(widths=(6, 8, 3))
    save(g, d / "mlp.yaml")
    x = np.random.default_rng(0).standard_normal((40, 6))
    np.save(d / "x.npy", x)
    return d, g, x


def test_predict_fixed_float_raw(model, tmp_path):
    d, g, x = model
    r = qhw("predict", d / "mlp.yaml", "--input", d / "x.npy", "--output", tmp_path / "y.npy", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["samples"] == 40
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), golden.to_float(g, golden.run(g, x))["y"])
    assert qhw("predict", d / "mlp.yaml", "--input", d / "x.npy", "--output", tmp_path / "f.npy", "--float").returncode == 0
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"), golden.run(g, x, float_mode=True).output())
    assert qhw("predict", d / "mlp.yaml", "--input", d / "x.npy", "--output", tmp_path / "r.npy", "--raw").returncode == 0
    np.testing.assert_array_equal(np.load(tmp_path / "r.npy"), golden.run(g, x).output())


def test_predict_with_hls4ml_config_changes_the_numbers(model, tmp_path):
    d, g, x = model
    (tmp_path / "cfg.yaml").write_text("Model:\n  Precision: ap_fixed<8,3>\n  BramFactor: 4\n")
    r = qhw("predict", d / "mlp.yaml", "--config", tmp_path / "cfg.yaml", "--input", d / "x.npy",
            "--output", tmp_path / "y8.npy")
    assert r.returncode == 0, r.stderr
    # the saved model pins every slot, so the config's default changes nothing; a config slot does
    (tmp_path / "cfg2.yaml").write_text("LayerName:\n  fc2:\n    Precision:\n      result: ap_fixed<6,3>\n")
    r = qhw("predict", d / "mlp.yaml", "--config", tmp_path / "cfg2.yaml", "--input", d / "x.npy",
            "--output", tmp_path / "y6.npy")
    assert r.returncode == 0
    y6 = np.load(tmp_path / "y6.npy")
    assert np.all(np.abs(y6 * 8 - np.round(y6 * 8)) == 0)  # on the ap_fixed<6,3> grid


@pytest.mark.parametrize("case,match", [
    ("missing_model", "does not exist"),
    ("bad_input", "cannot read input file"),
    ("wrong_shape", "expects (batch, 6)"),
    ("unknown_key", "unknown config key Model.Precison"),
])
def test_predict_errors(model, tmp_path, case, match):
    d, g, x = model
    args = [d / "mlp.yaml", "--input", d / "x.npy", "--output", tmp_path / "y.npy"]
    if case == "missing_model":
        args[0] = tmp_path / "nope.yaml"
    elif case == "bad_input":
        (tmp_path / "bad.npy").write_text("nope")
        args[2] = tmp_path / "bad.npy"
    elif case == "wrong_shape":
        np.save(tmp_path / "w.npy", np.zeros((3, 5)))
        args[2] = tmp_path / "w.npy"
    else:
        (tmp_path / "c.yaml").write_text("Model:\n  Precison: ap_fixed<8,3>\n")
        args += ["--config", tmp_path / "c.yaml"]
    r = qhw("predict", *args)
    assert r.returncode == 2
    assert match in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "y.npy").exists()


def test_inspect_table_json_and_drawing(model, tmp_path):
    d, g, x = model
    r = qhw("inspect", d / "mlp.yaml", "--data", d / "x.npy")
    assert r.returncode == 0, r.stderr
    assert "fc1" in r.stdout and "ap_fixed<16,6>" in r.stdout
    r = qhw("inspect", d / "mlp.yaml", "--data", d / "x.npy", "--json", "--draw", tmp_path / "g.png")
    rows = {n["node"]: n for n in json.loads(r.stdout)["nodes"]}
    assert rows["fc1"]["formats"]["accum"] == str(g.node("fc1").formats["accum"])
    assert rows["fc1"]["overflow"] == golden.run(g, x).overflow["fc1"].saturated + golden.run(g, x).overflow["fc1"].wrapped
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
