"""Error paths as a new user meets them: one line naming the problem, exit code 2, nothing written.

Each case runs the real CLI (click's runner, in process) on a bad input derived from the bundled
example and checks the exit code, that stderr is a single ``qhw: error:`` line naming the culprit,
and that the output folder was not created.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from qhw.cli import cli

EXAMPLE = Path(__file__).parents[1] / "examples" / "jet_mlp"


def _example_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(EXAMPLE, dst)
    return dst / "model.yaml"


def _edit_model(path: Path, edit) -> None:
    doc = yaml.safe_load(path.read_text())
    edit(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _run(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("qhw: error:"), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in result.output + result.stderr


def _unknown_op(doc):
    doc["nodes"][2]["op"] = "swish"


def _impossible_format(doc):
    doc["nodes"][1]["formats"]["weight"] = "ap_fixed<100,6>"


def _malformed_format(doc):
    doc["nodes"][1]["formats"]["weight"] = "ap_fixd<16,6>"


def _shape_mismatch(doc):
    doc["nodes"][0]["attrs"]["shape"] = [15]


def _cycle(doc):
    doc["nodes"][1]["inputs"] = ["relu1"]


@pytest.mark.parametrize("edit,needles", [
    (_unknown_op, ["swish", "relu1"]),
    (_impossible_format, ["ap_fixed<100,6>"]),
    (_malformed_format, ["ap_fixd<16,6>"]),
    (_shape_mismatch, ["fc1"]),
    (_cycle, ["cycle"]),
], ids=["unknown-op", "impossible-format", "malformed-format", "shape-mismatch", "cycle"])
def test_bad_model_is_one_line_and_writes_nothing(edit, needles, tmp_path):
    model = _example_copy(tmp_path)
    _edit_model(model, edit)
    out = tmp_path / "out"
    _assert_one_line_error(_run(["compile", str(model), "-o", str(out)]), *needles)
    assert not out.exists()


def test_missing_model_file(tmp_path):
    out = tmp_path / "out"
    _assert_one_line_error(_run(["compile", str(tmp_path / "nope.yaml"), "-o", str(out)]), "nope.yaml")
    assert not out.exists()


@pytest.mark.parametrize("damage", ["yaml", "npz", "onnx"])
def test_unreadable_model(damage, tmp_path):
    model = _example_copy(tmp_path)
    if damage == "yaml":
        model.write_text("nodes: [\n  - {name: x, op: input\n")  # unbalanced
        needle = "model.yaml"
    elif damage == "npz":
        (model.parent / "model.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
        needle = "model.npz"
    else:
        model = tmp_path / "broken.onnx"
        model.write_bytes(b"\x08\x07garbage that is no protobuf \xff\xff")
        needle = "broken.onnx"
    out = tmp_path / "out"
    _assert_one_line_error(_run(["compile", str(model), "-o", str(out)]), needle)
    assert not out.exists()


def test_unknown_config_key(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("Model:\n  Precision: ap_fixed<16,6>\n  ReuseFactr: 2\n")
    out = tmp_path / "out"
    _assert_one_line_error(_run(["compile", str(EXAMPLE / "model.yaml"), "--config", str(cfg),
                                 "-o", str(out)]), "ReuseFactr")
    assert not out.exists()


def test_bad_input_array_for_predict(tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((4, 15)))
    y = tmp_path / "y.npy"
    _assert_one_line_error(_run(["predict", str(EXAMPLE / "model.yaml"), "--input", str(x),
                                 "--output", str(y)]), "(batch, 16)")
    assert not y.exists()


def test_missing_optional_tool_names_the_extra(tmp_path, monkeypatch):
    """Without the [sim] extra, `qhw simulate` says which extra to install; the build is untouched."""
    out = tmp_path / "build"
    assert _run(["compile", str(EXAMPLE / "model.yaml"), "-o", str(out), "--backend", "rtl",
                 "--vectors", "8"]).exit_code == 0
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    from qhw.tools import verilator

    verilator.verilator_root.cache_clear()
    verilator.verilator_version.cache_clear()
    monkeypatch.setitem(sys.modules, "verilator", None)  # `import verilator` now fails
    try:
        _assert_one_line_error(_run(["simulate", str(out)]), "Verilator", "qhw[sim]")
    finally:
        verilator.verilator_root.cache_clear()
        verilator.verilator_version.cache_clear()
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
