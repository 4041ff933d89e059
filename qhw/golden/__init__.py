"""The golden model: the annotated graph executed bit-exactly on raw codes (the specification
the hardware is proven against), and the same graph in float64 for accuracy comparisons."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qhw.errors import ModelError
from qhw.graph import Graph
from qhw.ops import GoldenContext, OverflowCount, get


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


def _named_inputs(graph: Graph, inputs) -> dict[str, np.ndarray]:
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
        shape = tuple(graph.node(n).shape)
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
        if node.op == "input":
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
                if remaining[s] == 0 and graph.node(s).op != "output":
                    values.pop(s, None)
    outs = {n: values[n] for n in graph.output_names}
    return GoldenResult(outs, values if keep_all else {}, ctx.overflow)


#: Samples per block: the whole graph runs block by block so intermediate tensors stay in cache.
BLOCK_ROWS = 2048


def _execute_blocks(graph: Graph, feeds: dict[str, np.ndarray], float_mode: bool, keep_all: bool,
                    count_overflow: bool, block_rows: int) -> GoldenResult:
    """:func:`_execute` over blocks of samples (every op is independent across the batch),
    results concatenated and overflow counts merged."""
    n = len(next(iter(feeds.values()))) if feeds else 0
    if any(len(v) != n for v in feeds.values()):
        raise ModelError(f"inputs have different batch sizes: { {k: len(v) for k, v in feeds.items()} }")
    if n <= block_rows:
        return _execute(graph, feeds, float_mode, keep_all, count_overflow)
    parts = [_execute(graph, {k: v[s:s + block_rows] for k, v in feeds.items()}, float_mode,
                      keep_all, count_overflow) for s in range(0, n, block_rows)]
    overflow: dict[str, OverflowCount] = {}
    for p in parts:
        for name, c in p.overflow.items():
            overflow.setdefault(name, OverflowCount()).add(c)
    cat = lambda key: {k: np.concatenate([getattr(p, key)[k] for p in parts])  # noqa: E731
                       for k in getattr(parts[0], key)}
    return GoldenResult(cat("outputs"), cat("tensors"), overflow)


def run(graph: Graph, inputs, *, float_mode: bool = False, keep_all: bool = False,
        count_overflow: bool = True, block_rows: int = BLOCK_ROWS) -> GoldenResult:
    """Run on float inputs: quantized to each input's format (raw-code results), or evaluated in
    float64 throughout with ``float_mode``. ``block_rows``: samples processed at a time."""
    feeds = _named_inputs(graph, inputs)
    if not float_mode:
        feeds = {n: get("input").encode(graph.node(n), x) for n, x in feeds.items()}
    else:
        feeds = {n: np.asarray(x, np.float64) for n, x in feeds.items()}
    return _execute_blocks(graph, feeds, float_mode, keep_all, count_overflow, block_rows)


def run_raw(graph: Graph, raw_inputs, *, keep_all: bool = False, count_overflow: bool = False,
            block_rows: int = BLOCK_ROWS) -> GoldenResult:
    """Run on raw input codes (test vectors); outputs are raw codes."""
    feeds = {n: np.asarray(x, np.int64) for n, x in _named_inputs(graph, raw_inputs).items()}
    return _execute_blocks(graph, feeds, False, keep_all, count_overflow, block_rows)


def to_float(graph: Graph, result: GoldenResult) -> dict[str, np.ndarray]:
    """Real values of a raw-code result's outputs."""
    return {n: get("output").decode(graph.node(n), v) for n, v in result.outputs.items()}


__all__ = ["run", "run_raw", "to_float", "GoldenResult", "OverflowCount"]
