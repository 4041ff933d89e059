"""Running the real ``qhw`` CLI on bad input the way a user would, and checking how it failed.

Every bad-input case (``tests/test_bad_inputs_*.py``) goes through :func:`run_qhw`: a subprocess
(``python -m qhw``, this checkout's package first on the path) with its address space and CPU
time capped by ``resource.setrlimit``, so a case that would allocate tens of GiB or spin fails
the test instead of the machine. :func:`assert_error` then checks what the issue asks of every
error: the exit code, exactly one non-empty stderr line ``qhw: error: ...`` naming the culprit,
no traceback anywhere. :func:`unchanged` snapshots a folder (every file's bytes and mode, every
folder) and asserts, after the case ran, that nothing in it was changed, added or deleted: no
half-written output, no temporary folder left behind, nothing of the user's lost.
"""
from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: the bundled example every bad-input case starts from (copied, then broken)
EXAMPLE = REPO / "examples" / "jet_mlp"
#: address-space cap of a case: enough for numpy + the CLI, far below what a bomb asks for
DEFAULT_MEMORY_MB = 3072
DEFAULT_TIMEOUT_S = 120.0


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.strip()]

    def __str__(self) -> str:  # shown by pytest when an assertion fails
        return (f"qhw {' '.join(self.args)}\n  exit {self.returncode} after {self.seconds:.1f} s\n"
                f"  stdout: {self.stdout[-2000:]!r}\n  stderr: {self.stderr[-4000:]!r}")


def _limits(memory_mb: int, cpu_s: int):
    def apply() -> None:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    return apply


def qhw_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a case runs in: this checkout first on the path, one BLAS thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QHW_DEBUG")}
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env.setdefault("COLUMNS", "200")  # no line wrapping of the one error line by rich/click
    env.update(extra or {})
    return env


def run_qhw(args: list[str | os.PathLike], cwd: str | os.PathLike | None = None, *,
            timeout: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB,
            env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    """Run ``python -m qhw ARGS`` with capped memory and CPU time; a hang fails the test."""
    argv = [str(a) for a in args]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "qhw", *argv], cwd=cwd, env=qhw_env(env),
                              input=stdin, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=_limits(memory_mb, int(timeout) + 10))
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"qhw {' '.join(argv)} did not finish within {timeout} s "
                             f"(stderr so far: {exc.stderr!r})") from None
    return Result(argv, proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0)


def assert_error(result: Result, *needles: str, code: int = 2) -> str:
    """Exit ``code``, one stderr line ``qhw: error: ...`` containing every needle, no traceback.

    Returns the error line. Needles are matched case-sensitively as substrings.
    """
    assert "Traceback" not in result.stdout + result.stderr, str(result)
    assert result.returncode == code, str(result)
    lines = result.error_lines
    assert len(lines) == 1, f"expected exactly one error line\n{result}"
    line = lines[0]
    assert line.startswith("qhw: error: "), f"not a 'qhw: error:' line\n{result}"
    for needle in needles:
        assert needle in line, f"{needle!r} not named in the error line {line!r}"
    return line


def snapshot(root: str | os.PathLike) -> dict[str, tuple]:
    """Every entry below ``root`` (included): folders by mode, files by mode and content hash."""
    root = Path(root)
    out: dict[str, tuple] = {}
    if not root.exists() and not root.is_symlink():
        return out
    stack = [root]
    while stack:
        p = stack.pop()
        rel = str(p.relative_to(root))
        st = p.lstat()
        if p.is_symlink():
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = ("dir", st.st_mode)
            stack.extend(sorted(p.iterdir()))
        else:
            out[rel] = ("file", st.st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def diff_snapshots(before: dict, after: dict) -> list[str]:
    problems = [f"deleted: {k}" for k in sorted(before.keys() - after.keys())]
    problems += [f"added: {k}" for k in sorted(after.keys() - before.keys())]
    problems += [f"changed: {k}" for k in sorted(before.keys() & after.keys()) if before[k] != after[k]]
    return problems


@contextmanager
def unchanged(*folders: str | os.PathLike):
    """Assert that the block leaves every folder byte-for-byte as it found it."""
    before = {str(f): snapshot(f) for f in folders}
    yield
    for f in folders:
        problems = diff_snapshots(before[str(f)], snapshot(f))
        assert not problems, f"{f} was modified: " + "; ".join(problems[:20])


def example_case(tmp_path: Path) -> Path:
    """A copy of the bundled example in ``tmp_path/case``; returns its model.yaml."""
    shutil.copytree(EXAMPLE, tmp_path / "case")
    return tmp_path / "case" / "model.yaml"


def edit_yaml(model: Path, edit) -> Path:
    """Apply ``edit(doc)`` to a YAML file in place (how a user breaks a model by hand)."""
    import yaml

    doc = yaml.safe_load(model.read_text())
    edit(doc)
    model.write_text(yaml.safe_dump(doc, sort_keys=False))
    return model
