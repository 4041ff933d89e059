"""Simulating a ``qhw compile`` output folder, and ``verify(graph)`` end to end."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from qhw.flow.compile import compile_graph
from qhw.verify.stream import SimResult, run_cocotb_stream, run_harness
from qhw.verify.vectors import read_vectors, write_matrix


def _subset(out: Path, n: int | None) -> Path:
    vec = out / "vectors"
    if n is None:
        return vec
    ins, exp = read_vectors(vec)
    tmp = Path(tempfile.mkdtemp(prefix="qhw_vec_"))
    write_matrix(tmp / "input.txt", ins[:n])
    write_matrix(tmp / "expected.txt", exp[:n])
    return tmp


def simulate_out(out: os.PathLike, backend: str = "rtl", engine: str = "harness",
                 n: int | None = None, gap: float = 0.2, stall: float = 0.2, seed: int = 1,
                 waves: bool = False):
    """Run the vectors of a compile output through one backend; a SimResult (rtl) or the HLS
    backend's CsimResult."""
    out = Path(out)
    if backend == "hls":
        from qhw.backends.hls import csim

        vec = _subset(out, n)
        try:
            return csim(out, vectors_dir=None if vec == out / "vectors" else vec)
        finally:
            if vec != out / "vectors":  # the temporary subset of -n N
                shutil.rmtree(vec, ignore_errors=True)
    from qhw.io.atomic import write_marker

    work = _cleared_sim_dir(out)
    vec = _subset(out, n)
    try:
        if engine == "cocotb":
            return run_cocotb_stream(out / "rtl", vec, seed=seed, gap=gap, stall=stall, waves=waves,
                                     work_dir=work)
        return run_harness(out / "rtl", vec, seed=seed, gap=gap, stall=stall, trace=waves,
                           work_dir=work)
    finally:
        if vec != out / "vectors":  # the temporary subset of -n N
            shutil.rmtree(vec, ignore_errors=True)
        if work.is_dir():  # made by the run: marked, so the next run may clear it
            write_marker(work, "simulate")


def _cleared_sim_dir(out: Path) -> Path:
    """``OUT/sim``, removed: what an earlier simulation left goes, but only from a folder qhw
    wrote (OUT from qhw compile, or sim/ from qhw simulate); anything else is refused."""
    from qhw.io.atomic import OutputError, written_by

    work = out / "sim"
    if work.is_symlink() or work.exists():
        if not (written_by(out, "compile") or written_by(work, "simulate")):
            raise OutputError(f"{str(work)!r} exists and was not written by qhw (no "
                              f".qhw-output.json in it or in {str(out)!r}); qhw will not replace "
                              f"it: move it away or recompile {str(out)!r}")
        if work.is_symlink() or not work.is_dir():
            work.unlink()
        else:
            shutil.rmtree(work)
    return work


def verify(graph, n: int = 200, backend: str = "rtl", engine: str = "harness",
           options: dict | None = None, gap: float = 0.2, stall: float = 0.2, seed: int = 1,
           out: os.PathLike | None = None) -> SimResult:
    """Compile ``graph`` (into ``out`` or a temporary folder), simulate ``n`` vectors with random
    input gaps and output stalls, and return the comparison with the golden model."""
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="qhw_verify_")) / "out"
    compile_graph(graph, out, (backend,), {backend: options or {}}, n_vectors=n, seed=seed)
    return simulate_out(out, backend=backend, engine=engine, gap=gap, stall=stall, seed=seed)
