"""C simulation of a written HLS project with g++ alone: build (cached), run vectors, compare.

The project's ``tb.cpp`` reads raw codes in the shared vector format (one sample per line, signed
decimal, inputs concatenated in graph order) and writes the outputs' raw codes the same way, so the
comparison with the golden model's ``expected.txt`` is a comparison of integer arrays.
"""
from __future__ import annotations

import json
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qhw.backends.hls.writer import MANIFEST
from qhw.errors import ConfigError, QhwError
from qhw.tools import gxx
from qhw.tools.ap_types import ap_types_include_dir
from qhw.tools.proc import run as run_process

#: g++ flags of the C simulation (the testbench is plain C++14).
CSIM_FLAGS = ("-O2", "-std=c++14", "-w")
_MAX_DETAILS = 10


@dataclass(frozen=True)
class CsimResult:
    """Outcome of :func:`csim`.

    samples: vectors run; mismatches: samples whose outputs differ from the expected codes in at
    least one element; details: the first few differences, readable; outputs: raw codes per graph
    output, shape (samples, *tensor shape).
    """

    samples: int
    mismatches: int
    details: tuple[str, ...]
    build_seconds: float
    build_cached: bool
    run_seconds: float
    outputs: dict = field(repr=False, default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.samples > 0 and self.mismatches == 0

    def to_dict(self) -> dict:
        """The outcome for ``qhw simulate --json`` (outputs left out: they are the vectors' size)."""
        return {"backend": "hls", "ok": self.ok, "samples": self.samples,
                "mismatches": self.mismatches, "details": list(self.details),
                "build_seconds": round(self.build_seconds, 3), "build_cached": self.build_cached,
                "run_seconds": round(self.run_seconds, 3)}

    def summary(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        build = "cached" if self.build_cached else f"{self.build_seconds:.1f} s"
        return (f"hls csim: {self.samples} samples, {self.mismatches} mismatches — {verdict} "
                f"(build {build}, run {self.run_seconds:.2f} s)")


def project_dir(out_dir: str | Path) -> Path:
    """The HLS project inside a ``qhw compile`` output (``OUT/hls``), or ``out_dir`` itself."""
    out_dir = Path(out_dir)
    for cand in (out_dir / "hls", out_dir):
        if (cand / MANIFEST).is_file():
            return cand
    raise ConfigError(f"no HLS project in {out_dir} (expected {out_dir / 'hls' / MANIFEST}); "
                      "write one with qhw compile or qhw.backends.hls.write_hls")


def manifest(hls_dir: str | Path) -> dict:
    return json.loads((project_dir(hls_dir) / MANIFEST).read_text())


def build(hls_dir: str | Path, extra_flags: tuple[str, ...] = ()) -> gxx.GxxBuild:
    """Compile the project's sources and testbench (cached by content hash of sources, headers
    and flags; ``extra_flags`` are appended to :data:`CSIM_FLAGS`)."""
    hls_dir = project_dir(hls_dir)
    man = manifest(hls_dir)
    sources = {rel: (hls_dir / rel).read_text() for rel in man["files"]
               if rel.endswith((".cpp", ".h"))}
    return gxx.build_cached(sources, [ap_types_include_dir()], CSIM_FLAGS + tuple(extra_flags),
                            name="csim_" + man["top"])


def read_codes(path: str | Path, width: int) -> np.ndarray:
    """Raw codes from a vector file as int64 of shape (samples, width)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty file
        arr = np.loadtxt(path, dtype=np.int64, ndmin=2)
    if arr.size == 0:
        return np.zeros((0, width), np.int64)
    if arr.shape[1] != width:
        raise ConfigError(f"{path}: {arr.shape[1]} values per line, expected {width}")
    return arr


def write_codes(path: str | Path, codes: np.ndarray) -> None:
    np.savetxt(path, np.asarray(codes, np.int64).reshape(len(codes), -1), fmt="%d", delimiter=" ")


def _split(flat: np.ndarray, ports: list[dict]) -> dict[str, np.ndarray]:
    out, off = {}, 0
    for p in ports:
        out[p["name"]] = flat[:, off:off + p["size"]].reshape(len(flat), *p["shape"])
        off += p["size"]
    return out


def run_file(hls_dir: str | Path, input_path: str | Path) -> tuple[dict[str, np.ndarray], gxx.GxxBuild, float]:
    """Run the C simulation on a vector file → (outputs by name, build, run seconds)."""
    hls_dir = project_dir(hls_dir)
    man = manifest(hls_dir)
    exe = build(hls_dir)
    n_out = sum(p["size"] for p in man["outputs"])
    with tempfile.TemporaryDirectory() as tmp:
        out_path = Path(tmp) / "out.txt"
        t0 = time.perf_counter()
        proc = run_process([str(exe.exe), str(input_path), str(out_path)], capture_output=True,
                           text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise QhwError(f"HLS C simulation of {hls_dir} failed (exit {proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
        flat = read_codes(out_path, n_out)
    return _split(flat, man["outputs"]), exe, seconds


def run_raw(hls_dir: str | Path, raw_inputs) -> dict[str, np.ndarray]:
    """C-simulate raw input codes (an array for a single input, else name → array, batch first)."""
    man = manifest(hls_dir)
    ports = man["inputs"]
    if not isinstance(raw_inputs, dict):
        if len(ports) != 1:
            raise ValueError(f"graph has inputs {[p['name'] for p in ports]}: pass a dict")
        raw_inputs = {ports[0]["name"]: raw_inputs}
    missing = [p["name"] for p in ports if p["name"] not in raw_inputs]
    if missing:
        raise ValueError(f"missing raw inputs {missing}; the graph's inputs are {[p['name'] for p in ports]}")
    flat = np.concatenate(
        [np.asarray(raw_inputs[p["name"]], np.int64).reshape(-1, p["size"]) for p in ports], axis=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.txt"
        write_codes(path, flat)
        outputs, _, _ = run_file(hls_dir, path)
    return outputs


def csim(out_dir: str | Path, *, vectors_dir: str | Path | None = None) -> CsimResult:
    """C-simulate ``OUT/hls`` on ``OUT/vectors/input.txt`` and compare with ``expected.txt``
    (the golden model's raw codes) bit for bit. Writes ``OUT/hls/csim_output.txt``."""
    out_dir = Path(out_dir)
    hls_dir = project_dir(out_dir)
    vec = Path(vectors_dir) if vectors_dir is not None else hls_dir.parent / "vectors"
    inp, exp = vec / "input.txt", vec / "expected.txt"
    for f in (inp, exp):
        if not f.is_file():
            raise ConfigError(f"test vectors {f} not found; qhw compile writes them")
    man = manifest(hls_dir)
    outputs, exe, seconds = run_file(hls_dir, inp)
    got = np.concatenate([outputs[p["name"]].reshape(len(outputs[p["name"]]), -1)
                          for p in man["outputs"]], axis=1)
    write_codes(hls_dir / "csim_output.txt", got)
    want = read_codes(exp, got.shape[1])
    if want.shape != got.shape:
        raise ConfigError(f"{exp} has {len(want)} samples, C simulation produced {len(got)}")
    bad = got != want
    rows = np.flatnonzero(bad.any(axis=1))
    names = [f"{p['name']}[{i}]" for p in man["outputs"] for i in range(p["size"])]
    details = tuple(
        f"sample {r}, {names[c]}: hls {got[r, c]}, expected {want[r, c]}"
        for r in rows[:_MAX_DETAILS] for c in np.flatnonzero(bad[r])[:3]
    )[:_MAX_DETAILS]
    return CsimResult(len(got), int(len(rows)), details, exe.seconds, exe.cached, seconds, outputs)
