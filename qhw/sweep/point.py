"""Evaluating one sweep point: formats → golden-model accuracy against float → resources."""
from __future__ import annotations

import contextlib
import hashlib
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qhw.errors import ConfigError, QhwError
from qhw.graph import Graph
from qhw.sweep.space import Ranges, configure, point_id

METRICS = ("max_abs_error", "mean_abs_error", "agreement", "accuracy")
RESOURCES = ("lut", "ff", "dsp", "bram", "carry")
#: a point with a ``clock_period``: the RTL's latency at that period on the sweep's target, the
#: delay model's Fmax and whether the period is met (estimates: qhw.backends.verilog.timing)
TIMING = ("latency_cycles", "latency_ns", "fmax_mhz_estimate", "timing_met")


@dataclass(eq=False)
class Problem:
    """What every point of a sweep shares: the graph, validation data, the float reference and
    the ranges integer bits are chosen from. Built once, shipped to every worker. Two problems
    are the same sweep when their ``fingerprint`` is."""

    graph: Graph
    data: np.ndarray
    labels: np.ndarray | None
    reference: np.ndarray
    ranges: Ranges
    synth: bool = False
    target: str = "xilinx"
    nodsp: bool = False

    def __repr__(self) -> str:
        return (f"Problem({self.graph.name!r}, {len(self.data)} samples, labels="
                f"{self.labels is not None}, target={self.target!r}, synth={self.synth}, nodsp={self.nodsp})")

    @staticmethod
    def build(graph: Graph, data: np.ndarray, labels: np.ndarray | None = None, *, synth: bool = False,
              target: str = "xilinx", nodsp: bool = False) -> "Problem":
        """Runs the float model once on ``data`` for the reference and the tensor ranges."""
        from qhw import golden

        data = np.asarray(data, np.float64)
        ref = golden.run(graph, data, float_mode=True).output()
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(data),):
                raise ConfigError(f"labels have shape {labels.shape}; expected one class index per "
                                  f"data row: ({len(data)},)")
        return Problem(graph, data, labels, ref, Ranges.measure(graph, data), synth, target, nodsp)


def fingerprint(problem: Problem) -> str:
    """A hash of what a point's record depends on besides the point: the model (structure,
    attributes, formats, weights), the data, the labels and the target. Results in a folder
    are reused only under the same fingerprint."""
    h = hashlib.sha1()

    def feed(v) -> None:
        if isinstance(v, np.ndarray):
            h.update(f"{v.dtype}{v.shape}".encode())
            h.update(np.ascontiguousarray(v).tobytes())
        elif isinstance(v, dict):
            for k in sorted(v, key=str):
                feed(str(k))
                feed(v[k])
        elif isinstance(v, (list, tuple)):
            h.update(b"[")
            for x in v:
                feed(x)
            h.update(b"]")
        else:
            h.update(f"{type(v).__name__}:{v};".encode())

    for node in sorted(problem.graph.nodes(), key=lambda n: n.name):
        feed([node.name, node.op, list(node.inputs), dict(node.attrs), dict(node.params),
              {k: str(f) for k, f in node.formats.items()}])
    feed([problem.data, problem.labels, problem.target, problem.nodsp])
    return h.hexdigest()[:16]


def build(problem: Problem, point: dict) -> Graph:
    """The problem's graph with the point's formats and table options, every format resolved."""
    from qhw.passes import prepare

    g, config = configure(problem.graph, point, problem.ranges)
    return prepare(g, config=config)


def errors(problem: Problem, g: Graph) -> dict:
    """Golden-model error of ``g`` against the float reference: max/mean |error| (output units);
    with class outputs, argmax agreement with float and accuracy against the labels (fractions)."""
    from qhw import golden

    out = golden.to_float(g, golden.run(g, problem.data, count_overflow=False))
    y = next(iter(out.values()))
    err = np.abs(y - problem.reference)
    rec = {"max_abs_error": float(err.max()), "mean_abs_error": float(err.mean())}
    if y.ndim == 2 and y.shape[1] > 1:
        rec["agreement"] = float((y.argmax(1) == problem.reference.argmax(1)).mean())
        if problem.labels is not None:
            rec["accuracy"] = float((y.argmax(1) == problem.labels).mean())
    return rec


def lut_cost(problem: Problem, point: dict) -> int | None:
    """Analytic LUTs of a point (milliseconds, no golden run); None when the point is invalid."""
    from qhw.estimate import analytic

    try:
        return int(analytic(build(problem, point), target=problem.target, nodsp=problem.nodsp).lut)
    except Exception:  # an invalid point is simply not a candidate
        return None


def rtl_options(problem: Problem, point: dict) -> dict | None:
    """The RTL options of a point: its clock period on the sweep's target (None: no period)."""
    if point.get("clock_period") is None:
        return None
    return {"clock_period": float(point["clock_period"]), "target": problem.target}


def clock_timing(g: Graph, rtl: dict) -> dict:
    """The :data:`TIMING` columns of ``g`` written as RTL with ``rtl`` (the real schedule: the
    Verilog is written to a temporary folder and only its timing summary kept)."""
    import tempfile

    from qhw.backends.verilog import write_verilog

    with tempfile.TemporaryDirectory(prefix="qhw-sweep-") as tmp:
        t = write_verilog(g, Path(tmp) / "rtl", options=rtl).timing
    return {"latency_cycles": t["latency_cycles"], "latency_ns": t["latency_ns"],
            "fmax_mhz_estimate": t["fmax_mhz_estimate"], "timing_met": int(bool(t["met"]))}


def one_blas_thread() -> contextlib.AbstractContextManager:
    """BLAS limited to one thread (a context manager; called bare, for good): sweep points run
    in parallel processes, and for a sweep's small matrices threads cost more than they give
    (3-7x slower measured on 2 cores with OpenBLAS's 2 threads). Without threadpoolctl, BLAS
    keeps its threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - an optional speed-up
        return contextlib.nullcontext()
    return threadpool_limits(1)


def evaluate(problem: Problem, point: dict) -> dict:
    """One record: the point's id and axes, error metrics, analytic (and Yosys) resources,
    ``status`` "ok" or "error" (with the message: a failing point never stops a sweep)."""
    t0 = time.perf_counter()
    rec: dict = {"id": point_id(point), **point}
    try:
        from qhw.estimate import analytic

        g = build(problem, point)
        rec.update(errors(problem, g))
        rtl = rtl_options(problem, point)
        res = analytic(g, target=problem.target, nodsp=problem.nodsp, options=rtl)
        rec.update({k: getattr(res, k) for k in RESOURCES})
        if rtl:
            rec.update(clock_timing(g, rtl))
        if problem.synth:
            from qhw.estimate import synthesize

            syn = synthesize(g, target=problem.target, nodsp=problem.nodsp, options=rtl)
            rec.update({f"yosys_{k}": getattr(syn, k) for k in RESOURCES})
        rec["status"] = "ok"
    except Exception as exc:  # recorded, never raised: one bad point must not stop the sweep
        rec["status"] = "error"
        rec["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        if not isinstance(exc, (ValueError, TypeError, KeyError, QhwError)):
            where = traceback.extract_tb(exc.__traceback__)[-1]  # an unexpected error: say where
            rec["error"] += f" (at {Path(where.filename).name}:{where.lineno} in {where.name})"
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    return rec


__all__ = ["Problem", "fingerprint", "build", "errors", "lut_cost", "evaluate", "one_blas_thread", "rtl_options",
           "clock_timing", "METRICS", "RESOURCES", "TIMING"]
