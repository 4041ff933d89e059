"""Compile C++ with g++, cached by the hash of sources, headers, compiler and flags.

A second build of the same program returns the cached binary without running the compiler. The
cache lives under ``$QHW_CACHE_DIR/gxx/<hash>/`` (default ``~/.cache/qhw``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from qhw.errors import MissingToolError
from qhw.tools.cache import cache_dir, content_hash, locked
from qhw.tools.exitinfo import failure_text
from qhw.tools.proc import run as run_process

DEFAULT_FLAGS = ("-O2", "-std=c++14", "-w")
_HEADER_SUFFIXES = (".h", ".hh", ".hpp")


@dataclass(frozen=True)
class GxxBuild:
    """Outcome of :func:`build_cached`: the executable, whether it came from the cache, and the
    wall-clock seconds this call spent (hashing only, on a cache hit)."""

    exe: Path
    cached: bool
    seconds: float


class CompileError(RuntimeError):
    """g++ rejected a translation unit; the message holds the tail of its diagnostics."""


def find_gxx() -> str:
    """The C++ compiler: ``$CXX`` if set, else ``g++`` on the PATH."""
    exe = os.environ.get("CXX") or shutil.which("g++")
    if not exe:
        raise MissingToolError("g++ not found: install a C++ compiler (e.g. apt-get install g++)")
    return exe


def _headers_digest(include_dirs: list[Path]) -> str:
    # Content, not mtime: a re-downloaded identical header must not invalidate the cache.
    parts = []
    for d in include_dirs:
        for p in sorted(Path(d).rglob("*")):
            if p.suffix in _HEADER_SUFFIXES and p.is_file():
                parts.append(f"{p.relative_to(d)}\n")
                parts.append(p.read_bytes())
    return content_hash(*parts)


def build_cached(sources: Mapping[str, str], include_dirs: Iterable[os.PathLike] = (),
                 flags: Iterable[str] = DEFAULT_FLAGS, name: str = "prog") -> GxxBuild:
    """Compile in-memory sources ``{relative filename: text}`` into one executable.

    Every ``*.cpp`` is a translation unit (compiled in parallel, then linked); other files (headers)
    are written beside them so ``#include "x.h"`` finds them before ``include_dirs``.
    """
    t0 = time.perf_counter()
    include_dirs = [Path(d) for d in include_dirs]
    flags = tuple(flags)
    if not any(f.endswith(".cpp") for f in sources):
        raise ValueError(f"no *.cpp translation unit among sources {sorted(sources)}")
    gxx = find_gxx()
    key = content_hash(gxx, " ".join(flags), _headers_digest(include_dirs),
                       *[f"{k}\n{sources[k]}" for k in sorted(sources)])
    out_dir = cache_dir("gxx") / key
    exe = out_dir / name
    if exe.is_file():
        return GxxBuild(exe, True, time.perf_counter() - t0)
    # one build per key: a concurrent caller (another xdist worker) waits, then reads it
    with locked(cache_dir("locks") / f"gxx-{key}.lock"):
        if exe.is_file():
            return GxxBuild(exe, True, time.perf_counter() - t0)
        _compile(gxx, sources, include_dirs, flags, name, out_dir)
    return GxxBuild(exe, False, time.perf_counter() - t0)


def _compile(gxx: str, sources: Mapping[str, str], include_dirs: list[Path], flags: tuple[str, ...],
             name: str, out_dir: Path) -> None:
    """Compile every ``*.cpp`` of ``sources`` in parallel and link ``out_dir/name``; a failure
    says how g++ ended (exit code or signal) and the tail of what it printed."""
    exe = out_dir / name
    with tempfile.TemporaryDirectory(dir=out_dir.parent) as tmp:
        tmpd = Path(tmp)
        for fname, text in sources.items():
            (tmpd / fname).parent.mkdir(parents=True, exist_ok=True)
            (tmpd / fname).write_text(text)
        inc = [f"-I{d}" for d in [tmpd, *include_dirs]]
        units = sorted(f for f in sources if f.endswith(".cpp"))

        def compile_unit(unit: str) -> str:
            obj = str(tmpd / (unit.replace("/", "__") + ".o"))
            proc = run_process([gxx, *flags, *inc, "-c", str(tmpd / unit), "-o", obj],
                               capture_output=True, text=True)
            if proc.returncode != 0:
                raise CompileError(f"g++ failed on {unit}: "
                                   + failure_text("g++", proc.returncode, None, proc.stderr, 4000))
            return obj

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            objs = list(pool.map(compile_unit, units))
        proc = run_process([gxx, *objs, "-o", str(tmpd / name)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise CompileError("g++ link failed: "
                               + failure_text("g++", proc.returncode, None, proc.stderr, 4000))
        out_dir.mkdir(parents=True, exist_ok=True)
        os.replace(tmpd / name, exe)


def build(sources: Mapping[str, str], include_dirs: Iterable[os.PathLike] = (),
          flags: Iterable[str] = DEFAULT_FLAGS, name: str = "prog") -> Path:
    """Like :func:`build_cached`, returning only the executable's cached path."""
    return build_cached(sources, include_dirs, flags, name).exe
