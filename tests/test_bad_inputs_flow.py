"""Bad ``--stop-after`` / ``--save-steps`` values: one ``qhw: error:`` line naming the culprit,
exit code 2, nothing written, nothing of the user's touched (the real CLI, under limits)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.bad_input_harness import assert_error, example_case, run_qhw, unchanged


def _compile(model: Path, out, *extra) -> list:
    return ["compile", model, "-o", out, "--backend", "rtl", "--vectors", "4", *extra]


@pytest.mark.parametrize("step", ["bogus", "infer_formats"])
def test_unknown_step_lists_the_valid_ones(tmp_path, step):
    model = example_case(tmp_path)
    with unchanged(tmp_path):
        r = run_qhw(_compile(model, tmp_path / "out", "--stop-after", step), cwd=tmp_path)
    assert_error(r, f"unknown step {step!r}", "import, prepare, lower, compile", "--stop-after")


def test_save_steps_into_a_foreign_folder_is_refused(tmp_path):
    model = example_case(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me\n")
    with unchanged(tmp_path):
        r = run_qhw(_compile(model, tmp_path / "out", "--save-steps", mine), cwd=tmp_path)
    assert_error(r, "--save-steps", "mine'", "notes.txt", "not written by qhw")


@pytest.mark.parametrize("where", ["same", "inside", "around", "model"])
def test_save_steps_may_not_overlap_the_output_or_the_inputs(tmp_path, where):
    model = example_case(tmp_path)
    out = tmp_path / "out"
    steps = {"same": out, "inside": out / "steps", "around": tmp_path / "all", "model": model.parent}[where]
    if where == "around":
        out = steps / "out"
    with unchanged(tmp_path):
        r = run_qhw(_compile(model, out, "--save-steps", steps), cwd=tmp_path)
    needles = {"same": ("overlap",), "inside": ("overlap",), "around": ("overlap",),
               "model": ("holds the input",)}[where] + ("--save-steps",)
    assert_error(r, *needles)


def test_a_compile_output_is_not_a_steps_folder_and_back(tmp_path):
    model = example_case(tmp_path)
    out, steps = tmp_path / "out", tmp_path / "steps"
    assert run_qhw(_compile(model, out, "--save-steps", steps), cwd=tmp_path).returncode == 0
    with unchanged(tmp_path):
        r = run_qhw(_compile(model, tmp_path / "out2", "--save-steps", out), cwd=tmp_path)
        assert_error(r, "--save-steps", "'qhw compile'", "not of 'qhw compile --save-steps'")
        r = run_qhw(_compile(model, steps), cwd=tmp_path)
        assert_error(r, "'qhw compile --save-steps'", "not of 'qhw compile'")


def test_a_failing_step_leaves_no_saved_steps(tmp_path):
    """The flow fails at `lower` (an unknown backend): the steps saved before it go too."""
    model = example_case(tmp_path)
    with unchanged(tmp_path):
        r = run_qhw(["compile", model, "-o", tmp_path / "out", "--backend", "nosuch",
                     "--save-steps", tmp_path / "steps"], cwd=tmp_path)
    assert_error(r, "unknown backend 'nosuch'", "rtl")
