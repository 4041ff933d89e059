"""Running a written design (``rtl/`` + ``vectors/``) under Verilator and comparing outputs.

Two engines: ``harness`` (a generated C++ main streams the vector file through the AXI-Stream
top with seeded random input gaps and output stalls; no Python per cycle) and ``cocotb`` (the
testbench in ``sim/qhw_stream_tb.py``, for waveform-level debugging). Both compare every output
code with ``expected.txt`` and report mismatches by sample and output index.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qhw.backends.verilog.render import render
from qhw.tools.exitinfo import ChildUsage, failure_text
from qhw.tools.proc import run as run_process
from qhw.verify.build import build_cocotb, build_harness, read_sources
from qhw.verify.vectors import read_matrix, read_vectors


@dataclass
class SimResult:
    """Outcome of one simulation run against expected vectors."""

    samples: int
    mismatches: int
    details: list[dict] = field(default_factory=list)
    cycles: int = 0
    latency: int = 0
    ii: int = 1
    engine: str = "harness"
    build_seconds: float = 0.0
    build_cached: bool = False
    run_seconds: float = 0.0
    waves: str | None = None
    #: how the simulator process ended when it did not end normally (exit code or signal, time,
    #: peak memory and its last output, see qhw.tools.exitinfo); empty when it exited with 0
    failure: str = ""

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and self.samples > 0 and not self.failure

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.run_seconds if self.run_seconds > 0 else 0.0

    def summary(self) -> str:
        s = (f"{'PASS' if self.ok else 'FAIL'} rtl/{self.engine}: {self.samples} samples, "
             f"{self.mismatches} mismatches, {self.cycles} cycles, latency {self.latency}, "
             f"II {self.ii}")
        if self.details:
            d = self.details[0]
            s += (f"; first: sample {d['sample']} output {d['index']} expected {d['expected']} "
                  f"actual {d['actual']}")
        if self.waves:
            s += f"; waves {self.waves}"
        if self.failure:
            s += f"; the simulator {self.failure}"
        return s

    def to_dict(self) -> dict:
        return dict(samples=self.samples, mismatches=self.mismatches, details=self.details,
                    cycles=self.cycles, latency=self.latency, ii=self.ii, engine=self.engine,
                    build_seconds=self.build_seconds, build_cached=self.build_cached,
                    run_seconds=self.run_seconds, waves=self.waves, failure=self.failure, ok=self.ok)


def compare(expected: np.ndarray, actual: np.ndarray, limit: int = 20) -> tuple[int, list[dict]]:
    """Count differing samples; describe the first ``limit`` differing codes."""
    n = expected.shape[0]
    if actual.shape[0] < n:  # missing samples count as mismatches
        pad = np.full((n - actual.shape[0], expected.shape[1]), np.iinfo(np.int64).min)
        actual = np.concatenate([actual.reshape(-1, expected.shape[1]), pad]) if actual.size else pad
    diff = expected != actual[:n]
    bad_rows = np.flatnonzero(diff.any(axis=1))
    details = []
    for s, i in zip(*np.nonzero(diff)):
        if len(details) >= limit:
            break
        a = int(actual[s, i])
        details.append(dict(sample=int(s), index=int(i), expected=int(expected[s, i]),
                            actual=None if a == np.iinfo(np.int64).min else a))
    return int(bad_rows.size), details


def _manifest(rtl_dir: Path) -> dict:
    from qhw.io.compiled import read_design

    return read_design(rtl_dir).model_dump()


def _sources(rtl_dir: Path, manifest: dict, flavour: str = "sim") -> dict[str, str]:
    """The Verilog texts to simulate: the simulation flavour (``sim_files``, the MAC layers as
    plain expressions) when the design has one and ``flavour`` is "sim", else ``files`` (the
    hierarchical synthesis flavour)."""
    if flavour not in ("sim", "synth"):
        raise ValueError(f"flavour must be 'sim' or 'synth', not {flavour!r}")
    files = manifest.get("sim_files") if flavour == "sim" else None
    return read_sources(rtl_dir / f for f in (files or manifest["files"]))


def harness_source(manifest: dict, trace: bool = False) -> str:
    in_lo, in_w, out_lo, out_w, out_s = [], [], [], [], []
    for t in manifest["inputs"]:
        for e in range(t["elements"]):
            in_lo.append(t["lo"] + e * t["width"])
            in_w.append(t["width"])
    for t in manifest["outputs"]:
        for e in range(t["elements"]):
            out_lo.append(t["lo"] + e * t["width"])
            out_w.append(t["width"])
            out_s.append(int(t["signed"]))
    return render("stream_harness.cpp.j2", top=manifest["top"], n_in=len(in_lo),
                  n_out=len(out_lo), in_lo=in_lo, in_w=in_w, out_lo=out_lo, out_w=out_w,
                  out_s=out_s, trace=trace, ii=manifest["ii"], latency=manifest["latency"])


def run_harness(rtl_dir, vectors_dir, seed: int = 1, gap: float = 0.0, stall: float = 0.0,
                trace: bool = False, work_dir=None, flavour: str = "sim") -> SimResult:
    """Build (cached) and run the C++ stream harness on ``vectors_dir``; compare outputs.
    ``flavour``: "sim" (the design's simulation flavour when it has one) or "synth"."""
    rtl_dir, vectors_dir = Path(rtl_dir), Path(vectors_dir)
    man = _manifest(rtl_dir)
    build = build_harness(_sources(rtl_dir, man, flavour), man["top"], harness_source(man, trace), trace)
    _, expected = read_vectors(vectors_dir)
    work = Path(work_dir or tempfile.mkdtemp(prefix="qhw_sim_"))
    work.mkdir(parents=True, exist_ok=True)
    out = work / "actual.txt"
    args = [str(build.exe), str(vectors_dir / "input.txt"), str(out), str(seed),
            str(int(round(gap * 100))), str(int(round(stall * 100)))]
    waves = None
    if trace:
        waves = str(work / "trace.vcd")
        args.append(waves)
    t0 = time.perf_counter()
    usage = ChildUsage.start()
    proc = run_process(args, capture_output=True, text=True)
    usage.stop()
    run_s = time.perf_counter() - t0
    failure = ""
    if proc.returncode != 0:  # a crash, a stalled pipeline (4) or an unreadable file (3)
        failure = failure_text(f"harness {build.exe.name}", proc.returncode, usage,
                               proc.stdout + proc.stderr, tail=1500)
    cycles = 0
    for tok in proc.stdout.split("\n"):
        if tok.startswith("cycles"):
            cycles = int(tok.split()[1])
    actual = read_matrix(out) if out.is_file() else np.zeros((0, expected.shape[1]), np.int64)
    mism, details = compare(expected, actual)
    return SimResult(int(expected.shape[0]), mism, details, cycles, man["latency"], man["ii"],
                     "harness", build.seconds, build.cached, run_s, waves, failure)


def run_cocotb_stream(rtl_dir, vectors_dir, seed: int = 1, gap: float = 0.2, stall: float = 0.2,
                      waves: bool = True, work_dir=None) -> SimResult:
    """Run ``sim/qhw_stream_tb.py`` under cocotb on the cached build; compare outputs."""
    from qhw.verify.cocotb_runner import run_cocotb

    rtl_dir, vectors_dir = Path(rtl_dir), Path(vectors_dir)
    man = _manifest(rtl_dir)
    build = build_cocotb(_sources(rtl_dir, man), man["top"], waves=True)
    work = Path(work_dir or tempfile.mkdtemp(prefix="qhw_cocotb_"))
    t0 = time.perf_counter()
    res = run_cocotb(build, "qhw_stream_tb", work, waves=waves, seed=seed, env={
        "QHW_DESIGN": str(rtl_dir / "design.json"), "QHW_VECTORS": str(vectors_dir),
        "QHW_GAP": str(gap), "QHW_STALL": str(stall), "QHW_ACTUAL": str(work / "actual.txt")})
    run_s = time.perf_counter() - t0
    _, expected = read_vectors(vectors_dir)
    actual = read_matrix(work / "actual.txt") if (work / "actual.txt").is_file() else np.zeros((0, 0))
    mism, details = compare(expected, actual)
    return SimResult(int(expected.shape[0]), mism, details, int(res.get("cycles", 0)),
                     man["latency"], man["ii"], "cocotb", build.seconds, build.cached, run_s,
                     res.get("waves"))
