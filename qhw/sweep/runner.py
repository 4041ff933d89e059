"""Running a sweep: local processes or a Dask cluster, every finished point appended to
``results.csv`` at once, finished points skipped on a rerun (a killed sweep loses nothing and
redoes nothing), a progress bar with ETA."""
from __future__ import annotations

import csv
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Iterable, Iterator

from qhw.errors import ConfigError, QhwError
from qhw.sweep.point import METRICS, RESOURCES, TIMING, Problem, evaluate, fingerprint, one_blas_thread
from qhw.sweep.space import check_axes, point_id

RESULTS = "results.csv"
#: what the results in a folder were computed from (model, data, target fingerprint)
SWEEP = "sweep.json"
#: what qhw sweep writes into its folder (a folder holding only these is an older sweep's)
SWEEP_FILES = (RESULTS, SWEEP, "pareto.png", "pareto.svg", "search.json", RESULTS + ".tmp")
#: test hooks: stop abruptly after this many points of a run were written / log every evaluation
STOP_AFTER_ENV, LOG_ENV = "QHW_SWEEP_STOP_AFTER", "QHW_SWEEP_LOG"


def columns(points: list[dict], synth: bool) -> list[str]:
    """results.csv's columns: id, the axes, error metrics, resources (Yosys's with ``synth``),
    the timing columns when a point has a clock period, status."""
    axes = sorted({k for p in points for k in p})
    extra = [f"yosys_{k}" for k in RESOURCES] if synth else []
    timing = list(TIMING) if "clock_period" in axes else []
    return ["id", *axes, *METRICS, *RESOURCES, *extra, *timing, "status", "error", "seconds"]


def read_results(path: Path) -> list[dict]:
    """Finished rows of a results file, values converted back to numbers where they are numbers.
    A row cut short by a kill (no status) is not finished: it is left out and evaluated again."""
    return [{k: _number(v) for k, v in r.items()} for r in _finished_rows(Path(path))[1]]


def _finished_rows(path: Path) -> tuple[list[str], list[dict], bool]:
    """(header, finished rows as text, whether the file holds anything else: a partial row)."""
    if path.exists() and not path.is_file():
        raise ConfigError(f"{str(path)!r} is not a file (a folder?); {RESULTS} is where qhw sweep "
                          "writes its results: move it away or choose another -o")
    if not path.is_file():
        return [], [], False
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{str(path)!r} is not a qhw results file (not UTF-8 text); move it away "
                          "or choose another -o") from None
    cut = bool(text) and not text.endswith("\n")  # the last line was being written when killed
    if cut and "\n" not in text:
        head = next(csv.reader(io.StringIO(text)), [])
        check_header(head[:-1] or ["id"], path, partial=True)  # the last name may be cut short
        return [], [], True
    reader = csv.DictReader(io.StringIO(text[:text.rindex("\n") + 1] if cut else text, newline=""))
    rows = list(reader)
    if reader.fieldnames:
        check_header(list(reader.fieldnames), path)
    good = [r for r in rows if r.get("status") in ("ok", "error") and None not in r.values() and None not in r]
    return list(reader.fieldnames or []), good, cut or len(good) != len(rows)


def check_header(cols: list[str], path: Path, partial: bool = False) -> None:
    """A results.csv header must be one qhw writes (declared in qhw.io.schemas.ResultsHeader):
    anything else is refused, never merged into a new header or overwritten."""
    from qhw.io.schemas import ResultsHeader
    from qhw.sweep.space import AXES

    known = {"id", *METRICS, *RESOURCES, *(f"yosys_{k}" for k in RESOURCES), *TIMING, "status", "error",
             "seconds"}
    try:
        ResultsHeader.check(cols, known, AXES, repr(str(path)), partial)
    except QhwError as exc:
        raise ConfigError(str(exc)) from None


def _number(v):
    if v is None or v == "":
        return None
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f


class _Writer:
    """Appends records to results.csv, each flushed and fsynced before the next."""

    def __init__(self, path: Path, cols: list[str], keep: set[str] | None = None) -> None:
        self.path = path
        have, old, partial = _finished_rows(path)
        if keep is not None and any(r["id"] not in keep for r in old):
            old, partial = [r for r in old if r["id"] in keep], True  # rows to be evaluated again
        cols = have + [c for c in cols if c not in have]
        if path.is_file() and (cols != have or partial):
            # new columns, a row cut by a kill or rows to redo: rewrite once, atomically
            tmp = path.with_suffix(".csv.tmp")
            with tmp.open("w", newline="") as fh:
                w = csv.DictWriter(fh, cols)
                w.writeheader()
                w.writerows(old)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        self.cols = cols
        self.fh = path.open("a", newline="")
        self.writer = csv.DictWriter(self.fh, cols, extrasaction="ignore")
        if self.fh.tell() == 0:
            self.writer.writeheader()

    def write(self, rec: dict) -> None:
        from qhw.tools.proc import deferred_signals

        with deferred_signals():  # a Ctrl-C waits for the row to be on disk, whole
            self.writer.writerow({k: ("" if rec.get(k) is None else rec.get(k)) for k in self.cols})
            self.fh.flush()
            os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


_PROBLEM: Problem | None = None


def _one_thread_per_worker() -> None:
    """Workers run side by side, one per core: neither BLAS nor the golden model's block threads
    should add threads of their own."""
    from qhw import golden

    one_blas_thread()
    golden.THREADS = 1


def _init(problem: Problem) -> None:
    global _PROBLEM
    from qhw.tools.proc import worker_signals

    worker_signals()  # a Ctrl-C is the parent's to handle; its SIGTERM also stops our children
    _PROBLEM = problem
    _one_thread_per_worker()  # a pool process only evaluates points: once, for its whole life


_BLAS_LIMITED = False


def _remote(problem: Problem, point: dict) -> dict:
    """A point on a Dask worker (BLAS limited once per worker process, not toggled per point)."""
    global _BLAS_LIMITED
    if not _BLAS_LIMITED:
        _one_thread_per_worker()
        _BLAS_LIMITED = True
    return _logged(problem, point)


def _evaluate_here(point: dict) -> dict:
    return _logged(_PROBLEM, point)


def _logged(problem: Problem, point: dict) -> dict:
    log = os.environ.get(LOG_ENV)
    if log:
        with open(log, "a") as fh:
            fh.write(point_id(point) + "\n")
    return evaluate(problem, point)


def _local(problem: Problem, todo: list[dict], workers: int) -> Iterator[dict]:
    if workers <= 1:
        with one_blas_thread():
            for p in todo:
                yield _logged(problem, p)
        return
    ex = ProcessPoolExecutor(max_workers=workers, initializer=_init, initargs=(problem,))
    futures = []
    try:
        futures = [ex.submit(_evaluate_here, p) for p in todo]
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        if not all(f.done() for f in futures):
            # stopped early (Ctrl-C, SIGTERM, an error): nobody will read the running points'
            # results, so the workers (and the Yosys runs they started) stop now
            for worker in list((getattr(ex, "_processes", None) or {}).values()):
                worker.terminate()
        ex.shutdown(wait=True, cancel_futures=True)


def _dask(problem: Problem, todo: list[dict], scheduler) -> Iterator[dict]:
    try:
        from dask.distributed import Client, as_completed as dask_completed
    except ImportError:
        from qhw.errors import MissingToolError

        raise MissingToolError("a Dask scheduler needs dask.distributed: pip install 'qhw[dist]'") from None
    if isinstance(scheduler, Client):
        client = scheduler
    else:
        try:
            client = Client(scheduler, timeout="60s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler!r}: {exc}") from None
    futures = []
    try:
        # hash=False: a fresh key per sweep. With the default content hash, two clients sweeping the
        # same problem on one cluster share a key, and the first one's release can drop the data
        # under the second one's tasks (seen in CI as FutureCancelledError, "Could not find data").
        shared = client.scatter(problem, broadcast=True, hash=False)
        futures = [client.submit(_remote, shared, p, pure=False) for p in todo]
        for fut in dask_completed(futures):
            yield fut.result()
    finally:
        client.cancel([f for f in futures if not f.done()])
        if client is not scheduler:
            client.close()


def _check_fingerprint(out: Path, problem: Problem, have_rows: bool) -> None:
    """Refuse to mix results of a different model, data or target into one folder."""
    path = out / SWEEP
    mine = {"fingerprint": fingerprint(problem), "model": problem.graph.name,
            "samples": int(len(problem.data)), "target": problem.target, "nodsp": problem.nodsp}
    if have_rows and path.is_file():
        try:
            theirs = json.loads(path.read_text()).get("fingerprint")
        except (ValueError, AttributeError):
            theirs = None
        if theirs != mine["fingerprint"]:
            raise ConfigError(f"{str(out)!r} holds the results of another sweep (a different model, "
                              f"data, labels or target: {path.name} says {theirs}, this sweep is "
                              f"{mine['fingerprint']}); use another output folder or delete {RESULTS}")
    path.write_text(json.dumps(mine, indent=1, sort_keys=True) + "\n")


def run_sweep(problem: Problem, points: Iterable[dict], out_dir: str | os.PathLike, *,
              workers: int = 1, scheduler=None, progress: bool = True) -> list[dict]:
    """Evaluate every point not already in ``out_dir/results.csv`` (with ``problem.synth``, also
    those recorded without Yosys figures); returns the records of ``points`` in their order,
    earlier runs' included. ``scheduler``: a Dask scheduler address or Client."""
    points = list(points)
    check_axes(problem.graph, {k for p in points for k in p})
    from qhw.io.atomic import output_dir

    output_dir(out_dir, "sweep", legacy=SWEEP_FILES)  # new, or this command's: never another's
    out = Path(out_dir)
    path = out / RESULTS
    done = {r["id"]: r for r in read_results(path)}
    _check_fingerprint(out, problem, bool(done))
    if problem.synth:
        done = {k: r for k, r in done.items() if r["status"] != "ok" or r.get("yosys_lut") is not None}
    todo = [p for p in points if point_id(p) not in done]
    writer = _Writer(path, columns(points, problem.synth), keep=set(done))
    stop_after = int(os.environ.get(STOP_AFTER_ENV, "0") or 0)
    stream = _dask(problem, todo, scheduler) if scheduler is not None else \
        _local(problem, todo, workers)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=console, transient=True,
                   disable=not (progress and console.is_terminal))
    written = 0
    try:
        with bar:
            task = bar.add_task(f"sweep ({len(points) - len(todo)} done before)", total=len(todo))
            for rec in stream:
                writer.write(rec)
                done[rec["id"]] = rec
                written += 1
                bar.advance(task)
                if stop_after and written >= stop_after:
                    writer.close()
                    os._exit(75)  # the test hook: a kill right after a point was written
    finally:
        stream.close()
        writer.close()
    # one shape for every record, fresh or read back: the columns of results.csv
    return [{c: done[point_id(p)].get(c) for c in writer.cols} for p in points]


def default_workers() -> int:
    """One local worker per core, at most 8."""
    return max(1, min(os.cpu_count() or 1, 8))


__all__ = ["run_sweep", "read_results", "columns", "RESULTS", "default_workers"]
