"""Compile C++ with g++, cached by the hash of sources, headers, compiler and flags.

A second build of the same program returns the cached binary without running the compiler. The
cache lives under ``$QHW_CACHE_DIR/gxx/<hash>/`` (default ``~/.cache/qhw``).

Parsing ``ap_fixed.h`` costs about 1.1 s of every translation unit that includes it (of 1.7 s for
a small one). So the ap_types headers are precompiled once per compiler, flags and header content
(``$QHW_CACHE_DIR/gxx_pch/<hash>/``) and a unit that includes ``ap_fixed.h`` itself gets it first
with ``-include``. g++ checks a ``.gch`` before it uses it and reads the header text instead when
the ``.gch`` does not fit, so a stale one costs time, never correctness; a unit that fails with it
is compiled again without it. ``QHW_NO_PCH=1`` turns it off.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
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
_PCH_HEADER = "qhw_ap_types_pch.h"
_PCH_TEXT = "#include <ap_fixed.h>\n#include <ap_int.h>\n"
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*[<"]([^">]+)[">]', re.M)
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)", re.M)
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


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
        ap_dir = _ap_types_dir(include_dirs)
        pch = None
        if ap_dir is not None and any(_wants_pch(u, sources, ap_dir) for u in units):
            pch = precompiled_ap_types(gxx, flags, ap_dir)

        def compile_unit(unit: str) -> str:
            obj = str(tmpd / (unit.replace("/", "__") + ".o"))

            def compile_with(pre: list[str]) -> subprocess.CompletedProcess:
                return run_process([gxx, *flags, *pre, *inc, "-c", str(tmpd / unit), "-o", obj],
                                   capture_output=True, text=True)

            proc = None
            if pch is not None and _wants_pch(unit, sources, ap_dir):
                proc = compile_with(["-include", str(pch)])
            if proc is None or proc.returncode != 0:  # no header to precompile, or again without
                proc = compile_with([])
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


def _ap_types_dir(include_dirs: list[Path]) -> Path | None:
    """The first include directory holding ``ap_fixed.h`` and ``ap_int.h`` (what g++ finds)."""
    for d in include_dirs:
        if (d / "ap_fixed.h").is_file():
            return d if (d / "ap_int.h").is_file() else None
    return None


@functools.lru_cache(maxsize=None)
def _ap_identifiers(ap_dir: Path, digest: str) -> frozenset[str]:
    return frozenset(_IDENTIFIER.findall(
        "".join(p.read_text(errors="replace") for p in sorted(ap_dir.glob("*.h")))))


def _wants_pch(unit: str, sources: Mapping[str, str], ap_dir: Path) -> bool:
    """Whether ``unit`` may start with the precompiled ap_types headers and mean the same: it (or
    a header of ``sources`` it includes) includes ``ap_fixed.h``, ``sources`` has no header of
    that name, and none of these files defines a macro whose name the ap_types headers use (a
    macro set before the include could change them)."""
    if any(Path(f).name in ("ap_fixed.h", "ap_int.h") for f in sources):
        return False
    seen, todo, texts = {unit}, [unit], []
    while todo:
        name = todo.pop()
        texts.append(sources[name])
        for inc in _INCLUDE.findall(sources[name]):
            for cand in (str(Path(name).parent / inc), inc):  # beside the includer, then -I tmp
                cand = os.path.normpath(cand)
                if cand in sources and cand not in seen:
                    seen.add(cand)
                    todo.append(cand)
                    break
    if not any(Path(inc).name == "ap_fixed.h" for t in texts for inc in _INCLUDE.findall(t)):
        return False
    defined = {m for t in texts for m in _DEFINE.findall(t)}
    return not defined & _ap_identifiers(ap_dir, _headers_digest([ap_dir]))


@functools.lru_cache(maxsize=None)
def _compiler_identity(gxx: str) -> str:
    proc = run_process([gxx, "--version"], capture_output=True, text=True)
    return f"{os.path.realpath(gxx)}\n{proc.returncode}\n{proc.stdout}"


def precompiled_ap_types(gxx: str, flags: tuple[str, ...], ap_dir: Path) -> Path | None:
    """A header including ``ap_fixed.h`` and ``ap_int.h`` with its ``.gch`` beside it, made once
    per compiler (path and ``--version``), flags and ap_types content; ``None`` when
    ``QHW_NO_PCH`` is set or the compiler could not make it (the units then parse the headers)."""
    if os.environ.get("QHW_NO_PCH"):
        return None
    key = content_hash(_compiler_identity(gxx), " ".join(flags), _headers_digest([ap_dir]), _PCH_TEXT)
    root = cache_dir("gxx_pch")
    out = root / key
    header, gch, failed = out / _PCH_HEADER, out / (_PCH_HEADER + ".gch"), out / "failed.txt"
    if failed.is_file():
        return None
    if gch.is_file():
        return header
    with locked(root / f".{key}.lock"):
        if failed.is_file():
            return None
        if gch.is_file():
            return header
        # built in a temporary sibling and renamed into place: an interrupt leaves nothing
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
        try:
            (tmp / _PCH_HEADER).write_text(_PCH_TEXT)
            proc = run_process([gxx, *flags, f"-I{ap_dir}", "-x", "c++-header", str(tmp / _PCH_HEADER),
                                "-o", str(tmp / gch.name)], capture_output=True, text=True)
            if proc.returncode != 0 or not (tmp / gch.name).is_file():
                (tmp / gch.name).unlink(missing_ok=True)
                (tmp / failed.name).write_text(failure_text("g++", proc.returncode, None, proc.stderr, 4000))
            shutil.rmtree(out, ignore_errors=True)  # an incomplete entry (a .gch deleted by hand)
            os.rename(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return header if gch.is_file() else None


def build(sources: Mapping[str, str], include_dirs: Iterable[os.PathLike] = (),
          flags: Iterable[str] = DEFAULT_FLAGS, name: str = "prog") -> Path:
    """Like :func:`build_cached`, returning only the executable's cached path."""
    return build_cached(sources, include_dirs, flags, name).exe
