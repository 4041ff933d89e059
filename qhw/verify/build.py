"""Verilator builds cached by content hash, so each design is compiled once.

The key covers every source's name and text, the top module, the build kind and options and the
Verilator version. A build is made in a temporary folder beside its final place and renamed into
``$QHW_CACHE_DIR/verilator/<key>`` when complete, so a half-built folder is never reused and two
processes building the same design at once both end with a valid build.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from qhw.errors import QhwError
from qhw.tools.cache import cache_dir, content_hash, locked
from qhw.tools.exitinfo import ChildUsage, ended, failure_text
from qhw.tools.verilator import build as verilator_build
from qhw.tools.verilator import verilator_env, verilator_version

_DONE = ".qhw_build_ok"


class BuildError(RuntimeError):
    """Verilator or the C++ compiler rejected a design; the message holds the tool output tail."""


@dataclass(frozen=True)
class VerilatedBuild:
    """A finished build: its folder, executable, top module, whether it came from the cache and
    the seconds this call took."""

    build_dir: Path
    exe: Path
    top: str
    cached: bool
    seconds: float


def read_sources(files: Iterable[os.PathLike]) -> dict[str, str]:
    """``{file name: text}`` for Verilog files (names must be unique)."""
    out: dict[str, str] = {}
    for f in files:
        p = Path(f)
        if p.name in out:
            raise ValueError(f"two Verilog sources named {p.name!r}")
        out[p.name] = p.read_text()
    return out


def cached_build(kind: str, sources: Mapping[str, str], top: str, options: Mapping[str, str],
                 builder: Callable[[Path, list[Path]], Path]) -> VerilatedBuild:
    """Return the cached build for this content or make it with ``builder(tmp_dir, files)``,
    which writes into ``tmp_dir`` and returns the executable path (inside ``tmp_dir``)."""
    t0 = time.perf_counter()
    key = content_hash(kind, top, verilator_version(),
                       *[f"{k}={options[k]}" for k in sorted(options)],
                       *[f"{k}\n{sources[k]}" for k in sorted(sources)])
    root = cache_dir("verilator")
    final = root / f"{kind}-{top}-{key}"
    with locked(root / f".{kind}-{key}.lock"):
        if (final / _DONE).is_file():
            exe = Path((final / _DONE).read_text().strip())
            return VerilatedBuild(final, final / exe, top, True, time.perf_counter() - t0)
        return _build(final, root, kind, key, top, sources, builder, t0)


def _build(final: Path, root: Path, kind: str, key: str, top: str, sources: Mapping[str, str],
           builder: Callable[[Path, list[Path]], Path], t0: float) -> VerilatedBuild:
    tmp = Path(tempfile.mkdtemp(prefix=f".{kind}-{key}-", dir=root))
    try:
        src_dir = tmp / "src"
        src_dir.mkdir()
        files = []
        for name in sorted(sources):
            (src_dir / name).write_text(sources[name])
            files.append(src_dir / name)
        exe = builder(tmp, files)
        (tmp / _DONE).write_text(str(exe.relative_to(tmp)))
        try:
            os.rename(tmp, final)
        except OSError:  # another process finished first: use its build
            if not (final / _DONE).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    exe_rel = (final / _DONE).read_text().strip()
    return VerilatedBuild(final, final / exe_rel, top, False, time.perf_counter() - t0)


def _check(res: subprocess.CompletedProcess, what: str, usage: ChildUsage | None = None) -> None:
    """Raise BuildError saying how the tool ended (exit code or signal, time, peak memory) and
    its last 40 lines, or that it printed nothing."""
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-40:])
        raise BuildError(failure_text(what, res.returncode, usage, tail))


#: g++ optimisation levels ``QHW_HARNESS_OPT`` may choose for the C++ stream harness
HARNESS_OPTS = ("-O0", "-Og", "-O1", "-O2", "-O3", "-Os")


def harness_opt() -> str:
    """The harness's g++ optimisation level: ``$QHW_HARNESS_OPT``, by default ``-O1``. The test
    suite sets ``-O0``: its simulations are a few hundred samples, where g++ time dominates
    (-O0 builds a design's harness with ~30% less CPU); users and benchmarks keep ``-O1``."""
    opt = os.environ.get("QHW_HARNESS_OPT", "").strip() or "-O1"
    if opt not in HARNESS_OPTS:
        raise QhwError(f"QHW_HARNESS_OPT={opt!r} is not a g++ optimisation level; "
                       f"valid: {', '.join(HARNESS_OPTS)}")
    return opt


def build_harness(sources: Mapping[str, str], top: str, harness_cpp: str,
                  trace: bool = False) -> VerilatedBuild:
    """Verilate ``sources`` with a C++ ``main`` (``harness_cpp``) into a standalone executable."""
    jobs = max(1, os.cpu_count() or 1)
    opt = harness_opt()

    def builder(tmp: Path, files: list[Path]) -> Path:
        (tmp / "harness.cpp").write_text(harness_cpp)
        obj = tmp / "obj"
        args = ["--cc", "--exe", "--top-module", top, "-Mdir", str(obj),
                "-O3", "--x-assign", "fast", "--x-initial", "fast", "--noassert",
                "-Wno-fatal", "-CFLAGS", opt, "-o", "Vharness"]
        if trace:
            args.append("--trace")
        usage = ChildUsage.start()
        # verilate, then make with the Verilator runtime compiled once (see verilator.build)
        res = verilator_build([*args, str(tmp / "harness.cpp"), *map(str, files)], obj, cwd=tmp,
                              jobs=jobs)
        _check(res, f"Verilator build of {top!r} failed", usage.stop())
        return obj / "Vharness"

    return cached_build("harness", sources, top,
                        {"harness": harness_cpp, "trace": str(trace), "opt": opt}, builder)


def build_cocotb(sources: Mapping[str, str], top: str, waves: bool = True) -> VerilatedBuild:
    """Verilate ``sources`` for cocotb (VPI) through ``cocotb_tools.runner``; ``waves`` compiles
    VCD tracing in (switched on per run)."""
    import cocotb

    def builder(tmp: Path, files: list[Path]) -> Path:
        from qhw.verify.cocotb_runner import make_runner

        runner = make_runner()
        env_backup = dict(os.environ)
        os.environ.update(verilator_env())
        usage = ChildUsage.start()
        try:
            runner.build(sources=[str(f) for f in files], hdl_toplevel=top,
                         build_dir=str(tmp / "sim_build"), waves=waves,
                         build_args=["-Wno-fatal", "--x-assign", "fast", "--x-initial", "fast"],
                         log_file=str(tmp / "build.log"))
        except (SystemExit, RuntimeError) as exc:
            # cocotb 2 raises RuntimeError("Command failed with return code: N"), older SystemExit
            usage.stop()
            log = (tmp / "build.log").read_text() if (tmp / "build.log").is_file() else ""
            code = re.search(r"return code:?\s*(-?\d+)", str(exc))
            how = ended(int(code.group(1))) if code else str(exc)
            tail = "\n".join(log.strip().splitlines()[-40:]) or "it printed nothing"
            raise BuildError(f"cocotb/Verilator build of {top!r} failed ({how} {usage.text()}):\n"
                             + tail) from None
        finally:
            os.environ.clear()
            os.environ.update(env_backup)
        return tmp / "sim_build" / top

    return cached_build("cocotb", sources, top,
                        {"cocotb": cocotb.__version__, "waves": str(waves)}, builder)
