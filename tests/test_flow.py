"""qhw.flow: the compile flow's named steps, stopping after one and saving the graph at each
(``qhw compile --stop-after/--save-steps/--list-steps``)."""
from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qhw import golden
from qhw.errors import ConfigError
from qhw.flow import COMPILE_FLOW, DEFAULT_PIPELINE, GraphBuilder, Pipeline, Step, compile_graph
from qhw.io import load_model, native
from tests.bad_input_harness import qhw_env

REPO = Path(__file__).resolve().parents[1]
JET = REPO / "examples" / "jet_mlp" / "model.yaml"
STEPS = ("import", "prepare", "lower", "compile")


def qhw(*args, cwd):
    return subprocess.run([sys.executable, "-m", "qhw", *map(str, args)], cwd=cwd, env=qhw_env(),
                          capture_output=True, text=True, timeout=300)


def same_tree(a: Path, b: Path) -> list[str]:
    """Files that differ or exist on one side only (byte for byte)."""
    fa = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    fb = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    diff = sorted(str(p) for p in fa ^ fb)
    diff += sorted(str(p) for p in fa & fb if not filecmp.cmp(a / p, b / p, shallow=False))
    return diff


def same_model(a: Path, b: Path) -> bool:
    """Two saved models are the same: YAML equal but for the name of the weights file, .npz equal."""
    text = [p.read_text().replace(p.with_suffix(".npz").name, "WEIGHTS") for p in (a, b)]
    return text[0] == text[1] and a.with_suffix(".npz").read_bytes() == b.with_suffix(".npz").read_bytes()


def test_the_compile_flow_is_a_list_of_named_steps():
    assert COMPILE_FLOW.names() == STEPS
    assert DEFAULT_PIPELINE.names() == ("validate", "infer_shapes", "apply_config", "check_hardware_options",
                                        "infer_formats")
    with pytest.raises(ConfigError, match="unknown step 'bogus'.*import, prepare, lower, compile"):
        COMPILE_FLOW.run(JET, {}, stop_after="bogus")
    with pytest.raises(ValueError, match="repeats a step name"):
        Pipeline("p", (Step("a", lambda g, o: g), Step("a", lambda g, o: g)))


def _raw_graph():
    b = GraphBuilder("tiny")
    x = b.input("x", (3,), "ap_fixed<8,3>")
    b.output("y", b.relu("r", b.dense("fc", x, [[0.5, -1.0], [0.25, 0.75], [-0.5, 1.5]], [0.125, -0.25])))
    return b


def test_prepare_runs_its_pipeline_and_can_stop_after_any_step():
    b = _raw_graph()
    seen = []
    half = DEFAULT_PIPELINE.run(b.graph.copy(), {}, stop_after="infer_shapes",
                                after_step=lambda i, s, g: seen.append((i, s.name)))
    assert seen == [(1, "validate"), (2, "infer_shapes")]
    assert half.node("fc").shape == (2,) and "result" not in half.node("fc").formats
    full = b.build()
    assert full.node("fc").shape == (2,) and full.node("fc").formats["accum"].width > 0
    assert b.graph.node("fc").shape is None  # build() prepares a copy; the builder's graph stays raw


def test_graph_builder_of_the_graph_package_only_adds_nodes():
    from qhw.graph import GraphBuilder as NodeBuilder

    b = NodeBuilder("raw")
    b.output("y", b.input("x", (2,), "ap_fixed<8,3>"))
    with pytest.raises(TypeError, match="from qhw.flow import GraphBuilder"):
        b.build()
    assert issubclass(GraphBuilder, NodeBuilder) and b.graph.node("y").shape is None


def test_old_names_still_import():
    from qhw.testing.models import random_inputs as t_random
    from qhw.verify.compile import compile_graph as old
    from qhw.verify.vectors import golden_vectors, random_inputs

    from qhw.golden import vectors

    assert old is compile_graph and golden_vectors is vectors.golden_vectors
    assert random_inputs is vectors.random_inputs is t_random


def test_stop_after_and_save_steps(tmp_path):
    direct, out, steps, again, stopped = (tmp_path / n for n in ("direct", "out", "steps", "again", "stopped"))
    r = qhw("compile", JET, "-o", direct, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = qhw("compile", JET, "-o", out, "--save-steps", steps, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert same_tree(direct, out) == []  # saving the steps changes nothing in OUT
    assert sorted(p.name for p in steps.glob("*.yaml")) == [f"{i:02d}_{s}.yaml" for i, s in enumerate(STEPS, 1)]

    reference = load_model(JET)
    x = np.random.default_rng(0).normal(size=(64, 16)) * 2
    expected = golden.run(reference, x).outputs
    raw = native.load(steps / "01_import.yaml")  # the file as read: nothing inferred yet
    assert all(n.shape is None for n in raw.nodes())
    for i, step in enumerate(STEPS, 1):  # every saved step loads back and computes the same
        g = load_model(steps / f"{i:02d}_{step}.yaml")
        got = golden.run(g, x).outputs
        assert got.keys() == expected.keys() and all(np.array_equal(got[k], expected[k]) for k in got), step

    # compiling the saved `prepare` model gives the direct compile, byte for byte
    r = qhw("compile", steps / "02_prepare.yaml", "-o", again, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert same_tree(direct, again) == []

    r = qhw("compile", JET, "-o", stopped, "--stop-after", "prepare", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in stopped.iterdir()) == [".qhw-output.json", "model.npz", "model.yaml",
                                                         "report.json"]
    assert '"stopped_after": "prepare"' in r.stdout
    assert same_model(stopped / "model.yaml", steps / "02_prepare.yaml")
    # a second run replaces both folders (they are qhw's), a compile output is no steps folder
    r = qhw("compile", JET, "-o", stopped, "--stop-after", "import", "--save-steps", steps, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in steps.glob("*.yaml")) == ["01_import.yaml"]
    assert same_model(stopped / "model.yaml", steps / "01_import.yaml")
    assert not same_model(steps / "01_import.yaml", out / "model.yaml")  # (the comparison can fail)


def test_list_steps(tmp_path):
    r = qhw("compile", "--list-steps", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "compile:" and [ln.split()[1] for ln in lines[1:5]] == list(STEPS)
    assert "prepare:" in lines and "05 infer_formats" in r.stdout
