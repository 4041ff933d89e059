"""Bad input on the command line, and the one error path every failure goes through.

Option values are refused by the option parser (click ranges and callbacks) before any work is
done; click's own usage errors, operating-system errors, MemoryError, RecursionError and
unexpected internal exceptions all become exactly one ``qhw: error: ...`` line with exit code 2
(exit code 1 stays "ran, but found mismatches"); a traceback appears only with ``--debug`` or
``QHW_DEBUG=1``. Subprocess cases run under setrlimit (tests/bad_input_harness.py) and check that
the case's folder is unchanged; the few in-process cases inject a failure that no input file can
provoke reliably (an internal bug, running out of memory).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bad_input_harness import assert_error, run_qhw, unchanged

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "jet_mlp"
MODEL = EXAMPLE / "model.yaml"
DATA = EXAMPLE / "x_val.npy"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compiled") / "out"
    res = run_qhw(["compile", MODEL, "-o", out, "--vectors", "8", "--backend", "rtl"])
    assert res.returncode == 0, str(res)
    return out


def _fails(folder: Path, args: list, *needles: str, env=None) -> str:
    with unchanged(folder):
        res = run_qhw(args, cwd=folder, env=env, timeout=60)
    return assert_error(res, *needles)


# ----------------------------------------------------------------------------- option ranges
@pytest.mark.parametrize("args,needles", [
    (["-n", "0"], ["'-n'", "0", "x>=1"]),
    (["-n", "-5"], ["'-n'", "-5"]),
    (["-n", "many"], ["'-n'", "many"]),
    (["-n", "2000000000"], ["'-n'", "QHW_MAX_VECTORS"]),
    (["--gap", "1"], ["'--gap'", "0.0<=x<1.0"]),
    (["--gap", "-0.1"], ["'--gap'", "-0.1"]),
    (["--stall", "1.5"], ["'--stall'", "1.5"]),
    (["--stall", "nan"], ["'--stall'", "nan", "finite"]),
    (["--backend", "verilog"], ["'--backend'", "verilog", "rtl"]),
], ids=["n-0", "n-negative", "n-word", "n-over-limit", "gap-1", "gap-negative", "stall-1.5",
        "stall-nan", "backend-choice"])
def test_simulate_options(args, needles, compiled):
    line = _fails(compiled, ["simulate", compiled, *args], *needles)
    assert "qhw simulate --help" in line


@pytest.mark.parametrize("args,needles", [
    (["--vectors", "0"], ["'--vectors'", "x>=1"]),
    (["--vectors", "-1"], ["'--vectors'", "-1"]),
    (["--vectors", "1000000000"], ["'--vectors'", "QHW_MAX_VECTORS"]),
    (["--reuse-factor", "0"], ["'--reuse-factor'", "x>=1"]),
    (["--reuse-factor", "1000000000"], ["'--reuse-factor'", "QHW_MAX_REUSE_FACTOR"]),
    (["--multipliers", "magic"], ["'--multipliers'", "magic"]),
], ids=["vectors-0", "vectors-negative", "vectors-over-limit", "reuse-0", "reuse-over-limit",
        "multipliers-choice"])
def test_compile_options(args, needles, tmp_path):
    _fails(tmp_path, ["compile", MODEL, "-o", tmp_path / "out", *args], *needles)


def test_estimate_reuse_factor_zero(tmp_path):
    _fails(tmp_path, ["estimate", MODEL, "--reuse-factor", "0"], "'--reuse-factor'", "x>=1")


@pytest.mark.parametrize("args,needles", [
    (["--weights", "1:1e11"], ["'--weights'", "1:1e11"]),
    (["--weights", "1:100000000000"], ["'--weights'", "QHW_MAX_SWEEP_POINTS"]),
    (["--activations", "8:4"], ["'--activations'", "8:4", "A <= B"]),
    (["--accum", "20:80"], ["'--accum'", "65", "1..64"]),
    (["--weights", "4:8", "--workers", "0"], ["'--workers'", "x>=1"]),
    (["--max-error", "-1"], ["'--max-error'", "-1"]),
    (["--max-error", "nan"], ["'--max-error'", "finite"]),
], ids=["weights-1e11", "weights-1e11-points", "activations-reversed", "accum-over-64",
        "workers-0", "max-error-negative", "max-error-nan"])
def test_sweep_options(args, needles, tmp_path):
    _fails(tmp_path, ["sweep", MODEL, "--data", DATA, "-o", tmp_path / "out", *args], *needles)


# ----------------------------------------------------------------------------- click usage errors
@pytest.mark.parametrize("args,needles", [
    (["frobnicate"], ["No such command 'frobnicate'", "qhw --help"]),
    (["compile", str(MODEL), "-o", "out", "--colour"], ["--colour", "qhw compile --help"]),
    (["compile"], ["Missing argument 'MODEL'"]),
    (["compile", str(MODEL)], ["Missing option '-o'"]),
    (["predict", str(MODEL), "--input"], ["'--input'", "requires an argument"]),
], ids=["unknown-command", "unknown-option", "missing-argument", "missing-output", "option-without-value"])
def test_usage_errors_are_one_line(args, needles, tmp_path):
    _fails(tmp_path, args, *needles)


def test_help_and_version_still_exit_zero(tmp_path):
    for args in ([], ["--help"], ["compile", "--help"], ["--version"]):
        res = run_qhw(args, cwd=tmp_path)
        assert res.returncode == 0 and res.stderr == "", str(res)
        assert res.stdout.strip(), str(res)


# ----------------------------------------------------------------------------- --debug
def test_debug_option_shows_the_traceback(tmp_path):
    res = run_qhw(["--debug", "compile", tmp_path / "nope.yaml", "-o", tmp_path / "out"])
    assert res.returncode == 2, str(res)
    assert "Traceback" in res.stderr, str(res)
    assert res.stderr.rstrip().splitlines()[-1].startswith("qhw: error: "), str(res)


def test_debug_environment_variable_shows_the_traceback(tmp_path):
    res = run_qhw(["compile", tmp_path / "nope.yaml", "-o", tmp_path / "out"], env={"QHW_DEBUG": "1"})
    assert res.returncode == 2 and "Traceback" in res.stderr, str(res)


# ----------------------------------------------------------------------------- operating-system errors
def test_output_under_a_file(tmp_path):
    (tmp_path / "afile").write_text("mine\n")
    _fails(tmp_path, ["compile", MODEL, "-o", tmp_path / "afile" / "out"], "afile")


def test_output_name_too_long(tmp_path):
    _fails(tmp_path, ["predict", MODEL, "--input", DATA, "--output", tmp_path / ("y" * 300 + ".npy")],
           "yyyy")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_output_in_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        _fails(tmp_path, ["predict", MODEL, "--input", DATA, "--output", ro / "y.npy"], "ro",
               "Permission denied")
    finally:
        ro.chmod(0o755)


def test_input_is_a_folder(tmp_path):
    (tmp_path / "x.npy").mkdir()
    _fails(tmp_path, ["predict", MODEL, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy"],
           "x.npy", "folder")


# ----------------------------------------------------------------------------- exit code 1 stays
def test_mismatches_are_exit_code_1_not_an_error(compiled, tmp_path):
    """A run that works but finds mismatches is exit 1 with its report, not a 'qhw: error' line."""
    out = tmp_path / "out"
    shutil.copytree(compiled, out)
    exp = out / "vectors" / "expected.txt"
    rows = exp.read_text().splitlines()
    first = rows[0].split()
    first[0] = str(int(first[0]) + 1)
    rows[0] = " ".join(first)
    exp.write_text("\n".join(rows) + "\n")
    res = run_qhw(["simulate", out, "--gap", "0", "--stall", "0"], timeout=300)
    assert res.returncode == 1, str(res)
    assert "qhw: error" not in res.stderr and "Traceback" not in res.stderr, str(res)
    assert "1 mismatches" in res.stdout or "1 mismatch" in res.stdout, str(res)


# ----------------------------------------------------------------------------- failures no file provokes
@pytest.mark.parametrize("exc,needles", [
    (RuntimeError("boom"), ["internal error", "RuntimeError", "boom", "--debug"]),
    (KeyError("weight"), ["internal error", "KeyError", "--debug"]),
    (MemoryError(), ["out of memory", "QHW_MAX_"]),
    (RecursionError("maximum recursion depth exceeded"), ["nested too deeply"]),
    (PermissionError(13, "Permission denied", "/some/where"), ["'/some/where'", "Permission denied"]),
], ids=["internal", "keyerror", "memory", "recursion", "oserror"])
def test_any_exception_is_one_line(exc, needles, monkeypatch):
    import sys

    from qhw.cli import cli

    def broken(*args, **kwargs):
        raise exc

    monkeypatch.delenv("QHW_DEBUG", raising=False)
    monkeypatch.setattr(sys.modules["qhw.cli.inspect"], "load", broken)  # the module, not the command
    res = CliRunner().invoke(cli, ["inspect", str(MODEL)], catch_exceptions=False)
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("qhw: error: "), res.stderr
    assert "Traceback" not in res.output
    for n in needles:
        assert n in lines[0], (n, lines[0])
