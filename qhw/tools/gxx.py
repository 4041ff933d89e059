"""Compile C++ with g++, cached by the hash of sources, headers and flags.

A second build of the same program returns the cached binary without running the compiler.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from qhw.errors import MissingToolError
from qhw.tools.cache import cache_dir, content_hash

DEFAULT_FLAGS = ("-O2", "-std=c++14", "-w")


def find_gxx() -> str:
    exe = os.environ.get("CXX") or shutil.which("g++")
    if not exe:
        raise MissingToolError("g++ not found: install a C++ compiler (e.g. apt-get install g++)")
    return exe


def _headers_digest(include_dirs: list[Path]) -> str:
    parts = []
    for d in include_dirs:
        for p in sorted(Path(d).rglob("*.h")):
            parts.append(f"{p.relative_to(d)}:{p.stat().st_size}:{int(p.stat().st_mtime)}")
    return content_hash(*parts)


def build(sources: dict[str, str], include_dirs: list[Path] = (), flags=DEFAULT_FLAGS,
          name: str = "prog") -> Path:
    """Compile in-memory sources {filename: text} to an executable; returns its cached path.

    Translation units (``*.cpp``) are compiled in parallel, then linked.
    """
    include_dirs = [Path(d) for d in include_dirs]
    gxx = find_gxx()
    key = content_hash(gxx, " ".join(flags), _headers_digest(include_dirs),
                       *[f"{k}\n{sources[k]}" for k in sorted(sources)])
    out_dir = cache_dir("gxx") / key
    exe = out_dir / name
    if exe.is_file():
        return exe
    with tempfile.TemporaryDirectory(dir=out_dir.parent) as tmp:
        tmpd = Path(tmp)
        for fname, text in sources.items():
            (tmpd / fname).write_text(text)
        inc = [f"-I{d}" for d in [tmpd, *include_dirs]]
        units = sorted(f for f in sources if f.endswith(".cpp"))

        def compile_unit(unit: str) -> str:
            obj = str(tmpd / (unit + ".o"))
            proc = subprocess.run([gxx, *flags, *inc, "-c", str(tmpd / unit), "-o", obj],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"g++ failed on {unit}:\n{proc.stderr[-4000:]}")
            return obj

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            objs = list(pool.map(compile_unit, units))
        proc = subprocess.run([gxx, *objs, "-o", str(tmpd / name)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"g++ link failed:\n{proc.stderr[-4000:]}")
        out_dir.mkdir(parents=True, exist_ok=True)
        os.replace(tmpd / name, exe)
    return exe
