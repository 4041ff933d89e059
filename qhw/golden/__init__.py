"""The golden model: the annotated graph executed bit-exactly on raw codes (the specification
the hardware is proven against), and the same graph in float64 for accuracy comparisons."""
from __future__ import annotations

import contextlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from qhw.errors import ModelError
from qhw.graph import Graph
from qhw.ops import GoldenContext, OverflowCount, get, is_input, is_output


@dataclass
class GoldenResult:
    """outputs: name -> raw codes (or floats with float_mode); tensors: every node's value when
    asked; overflow: node -> counts of elements that left the node's result range."""

    outputs: dict[str, np.ndarray]
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    overflow: dict[str, OverflowCount] = field(default_factory=dict)

    def output(self) -> np.ndarray:
        """The single output (error if there are several)."""
        if len(self.outputs) != 1:
            raise ValueError(f"the graph has {len(self.outputs)} outputs: {list(self.outputs)}")
        return next(iter(self.outputs.values()))


def _named_inputs(graph: Graph, inputs, host: bool = False) -> dict[str, np.ndarray]:
    names = graph.input_names
    if not isinstance(inputs, dict):
        if len(names) != 1:
            raise ModelError(f"graph has inputs {names}: pass a dict name -> array")
        inputs = {names[0]: inputs}
    missing = set(names) - set(inputs)
    if missing:
        raise ModelError(f"no data for input(s) {sorted(missing)}")
    out = {}
    for n in names:
        x = np.asarray(inputs[n])
        node = graph.node(n)  # real values before a host prefix (qhw.frontends.host): its shape
        shape = tuple(node.attrs["host"]["shape"] if host and "host" in node.attrs else node.shape)
        if x.shape[1:] != shape:
            if x.shape == shape:
                x = x[None]
            else:
                raise ModelError(f"input {n!r} expects (batch, {', '.join(map(str, shape))}), got {x.shape}")
        out[n] = x
    return out


def _execute(graph: Graph, feeds: dict[str, np.ndarray], float_mode: bool, keep_all: bool,
             count_overflow: bool) -> GoldenResult:
    ctx = GoldenContext(count_overflow=count_overflow and not float_mode)
    values: dict[str, np.ndarray] = {}
    remaining = {n: len(list(graph.nx.successors(n))) for n in graph.nx.nodes}
    for node in graph.nodes():
        if is_input(node.op):
            values[node.name] = feeds[node.name]
            continue
        ins = [values[s] for s in node.inputs]
        op = get(node.op, node.name)
        if float_mode:
            values[node.name] = op.float_eval(node, ins)
        else:
            fmts = [graph.node(s).formats["result"] for s in node.inputs]
            values[node.name] = op.golden(node, ins, fmts, ctx)
        if not keep_all:  # free what no later node reads
            for s in set(node.inputs):
                remaining[s] -= 1
                if remaining[s] == 0 and not is_output(graph.node(s).op):
                    values.pop(s, None)
    outs = {n: values[n] for n in graph.output_names}
    return GoldenResult(outs, values if keep_all else {}, ctx.overflow)


#: Samples per block: the whole graph runs block by block so intermediate tensors stay in cache.
BLOCK_ROWS = 8192
#: Rows of the first block, run before the pool starts (it builds per-node caches, and a bad
#: input fails there at once)
FIRST_BLOCK_ROWS = 256
#: Threads running blocks at once (None: one per core, at most 8). Processes that already run
#: one golden model per core (sweep workers) set 1.
THREADS: int | None = None


def _threads(threads: int | None) -> int:
    t = THREADS if threads is None else threads
    if t is None:
        env = os.environ.get("QHW_GOLDEN_THREADS")
        t = int(env) if env and env.isdigit() else min(os.cpu_count() or 1, 8)
    return max(1, int(t))


def _blas_one_thread():
    """BLAS limited to one thread while block threads run (they are the parallelism; nested
    BLAS threads would only compete with them). A no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - an optional speed-up
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """A long-lived pool per size: fresh threads pay BLAS's per-thread set-up on every run (measured
    about 20 ms per run on the benchmark MLP)."""
    pool = _POOLS.get(workers)
    if pool is None:
        pool = _POOLS.setdefault(workers, ThreadPoolExecutor(workers, thread_name_prefix="qhw-golden"))
    return pool


# A forked child (a sweep's process pool) inherits the dict but not the threads behind it.
os.register_at_fork(after_in_child=_POOLS.clear)


def check_batch(graph: Graph, n: int, keep_all: bool = False, rows: int | None = None) -> None:
    """Refuse, before anything is allocated, a run whose tensors would not fit: ``rows`` samples
    at once (default all ``n``) times the largest tensor (every tensor kept: all ``n``, summed)
    against the batch_elements limit (qhw.limits)."""
    from qhw import limits

    sizes = [int(np.prod(node.shape, dtype=object)) for node in graph.nodes() if node.shape is not None]
    if not sizes:
        return
    total = n * sum(sizes) if keep_all else (n if rows is None else min(rows, n)) * max(sizes)
    limits.check("batch_elements", total, f"golden model of {graph.name!r} on {n:,} samples "
                 f"(largest tensor {max(sizes):,} elements)")


def _execute_blocks(graph: Graph, feeds: dict[str, np.ndarray], encode: bool, float_mode: bool,
                    keep_all: bool, count_overflow: bool, block_rows: int,
                    threads: int | None) -> GoldenResult:
    """:func:`_execute` over blocks of samples (every op is independent across the batch), with
    inputs encoded per block, results concatenated in order and overflow counts merged. With
    more than one thread, a short first block runs alone (errors surface at once, per-node
    caches are built before threads read them) and the rest run on a thread pool (numpy and
    BLAS release the GIL). The result does not depend on the number of threads."""
    n = len(next(iter(feeds.values()))) if feeds else 0
    if any(len(v) != n for v in feeds.values()):
        raise ModelError(f"inputs have different batch sizes: { {k: len(v) for k, v in feeds.items()} }")
    check_batch(graph, n, keep_all, block_rows)
    enc = get("input").encode

    def block(span: tuple[int, int]) -> GoldenResult:
        part = {k: v[span[0]:span[1]] for k, v in feeds.items()} if n > block_rows else feeds
        if encode:
            part = {k: enc(graph.node(k), v) for k, v in part.items()}
        return _execute(graph, part, float_mode, keep_all, count_overflow)

    if n <= block_rows:
        return block((0, n))
    workers = min(_threads(threads), -(-n // block_rows))
    if workers > 1:
        # A short first block alone, then the rest on the pool. The whole run is under the BLAS
        # limit: BLAS threads woken by an unlimited block spin and take cores from the block
        # threads (measured: a third slower).
        first = min(FIRST_BLOCK_ROWS, block_rows)
        spans = [(0, first)] + [(s, min(s + block_rows, n)) for s in range(first, n, block_rows)]
        with _blas_one_thread():
            parts = [block(spans[0])]
            parts += list(_pool(workers).map(block, spans[1:]))
    else:
        parts = [block((s, min(s + block_rows, n))) for s in range(0, n, block_rows)]
    overflow: dict[str, OverflowCount] = {}
    for p in parts:
        for name, c in p.overflow.items():
            overflow.setdefault(name, OverflowCount()).add(c)
    cat = lambda key: {k: np.concatenate([getattr(p, key)[k] for p in parts])  # noqa: E731
                       for k in getattr(parts[0], key)}
    return GoldenResult(cat("outputs"), cat("tensors"), overflow)


def run(graph: Graph, inputs, *, float_mode: bool = False, keep_all: bool = False,
        count_overflow: bool = True, block_rows: int = BLOCK_ROWS,
        threads: int | None = None) -> GoldenResult:
    """Run on float inputs: quantized to each input's format (raw-code results), or evaluated in
    float64 throughout with ``float_mode`` (real values in and out: the host prefix and suffix
    run, an affine input is fed in units of its scale and an affine output read back as real
    values; intermediate tensors stay in the graph's units). ``block_rows``: samples processed at a time;
    ``threads``: blocks processed at once (default :data:`THREADS`)."""
    feeds = _named_inputs(graph, inputs, host=True)
    if not float_mode:
        return _execute_blocks(graph, feeds, True, False, keep_all, count_overflow, block_rows, threads)
    from qhw.ops import host  # the user's values through the host prefix, in the graph's units

    feeds = {n: host.float_input(graph.node(n), x) for n, x in feeds.items()}
    res = _execute_blocks(graph, feeds, False, True, keep_all, count_overflow, block_rows, threads)
    res.outputs = {n: host.float_output(graph.node(n), y) for n, y in res.outputs.items()}
    return res


def run_raw(graph: Graph, raw_inputs, *, keep_all: bool = False, count_overflow: bool = False,
            block_rows: int = BLOCK_ROWS, threads: int | None = None) -> GoldenResult:
    """Run on raw input codes (test vectors); outputs are raw codes."""
    feeds = {n: np.asarray(x, np.int64) for n, x in _named_inputs(graph, raw_inputs).items()}
    return _execute_blocks(graph, feeds, False, False, keep_all, count_overflow, block_rows, threads)


def to_float(graph: Graph, result: GoldenResult) -> dict[str, np.ndarray]:
    """Real values of a raw-code result's outputs."""
    return {n: get("output").decode(graph.node(n), v) for n, v in result.outputs.items()}


__all__ = ["run", "run_raw", "to_float", "GoldenResult", "OverflowCount"]
