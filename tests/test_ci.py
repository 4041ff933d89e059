"""``.ci/run`` runs the README's test command and fails on every non-zero pytest exit."""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _command(text: str) -> str:
    return next(ln for ln in text.splitlines() if ln.startswith("python3 -m venv .venv"))


def test_ci_runs_the_readme_test_command():
    readme = re.search(r"^python3 -m venv .venv .*-m pytest .*$", (ROOT / "README.md").read_text(), re.M)
    assert readme, "the README's install-and-test command is missing"
    assert _command((ROOT / ".ci" / "run").read_text()) == readme.group(0)
    assert "--durations=" in readme.group(0)  # CI logs show where the time goes


@pytest.mark.parametrize("pytest_exit", [0, 1, 5])
def test_ci_run_fails_when_pytest_fails_or_collects_nothing(tmp_path, pytest_exit):
    """A copy of .ci/run with ``python3`` replaced by a stand-in whose venv's python exits with
    ``pytest_exit`` (5: no test collected): the script's exit status is pytest's."""
    (tmp_path / ".ci").mkdir()
    shutil.copy(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    fake = bin_dir / "python3"
    fake.write_text("#!/bin/sh\n"
                    "mkdir -p .venv/bin\n"
                    "printf '#!/bin/sh\\nexit 0\\n' > .venv/bin/pip\n"
                    f"printf '#!/bin/sh\\necho \"$@\" > ran.txt\\nexit {pytest_exit}\\n' > .venv/bin/python\n"
                    "chmod +x .venv/bin/pip .venv/bin/python\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    res = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == pytest_exit, res.stdout + res.stderr
    assert (tmp_path / "ran.txt").read_text().split()[:3] == ["-m", "pytest", "-n"]
