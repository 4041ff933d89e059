"""Overflow profiling and integer-bit proposals (analyses return plain data; passes return graphs).

``profile`` runs the golden model on data and returns, per node, the range of the exact values
before assignment and how many left the node's result format. ``propose_integer_bits`` turns a
profile into a config keeping each result's width but giving it just enough integer bits (plus a
margin) for the observed range; ``fit_integer_bits`` applies it until the ranges settle.
"""
from __future__ import annotations

import math

from qhw.fixed import FixedFormat
from qhw.graph import Graph
from qhw.ops import OverflowCount, Trait, get, group
from qhw.passes.pipeline import prepare

#: ports and one-input copies of input elements: their result format is their input's
_NO_RESULT_CHOICE = group(Trait.IO) | frozenset(op for op in group(Trait.GATHER) if get(op).arity == 1)


def profile(graph: Graph, data) -> dict[str, OverflowCount]:
    from qhw import golden

    return golden.run(graph, data).overflow


def integer_bits_for(lo: float, hi: float, signed: bool) -> int:
    """Fewest integer bits (sign included) whose range holds [lo, hi]."""
    m = max(abs(lo), abs(hi)) if signed else max(hi, 0.0)
    if m <= 0:
        return 1 if signed else 0
    ib = math.floor(math.log2(m)) + 1
    if signed and -lo == 2.0 ** (ib - 1) and hi < 2.0 ** (ib - 1):
        return ib  # exactly the most negative value fits
    return ib + (1 if signed else 0)


def propose_integer_bits(graph: Graph, prof: dict[str, OverflowCount], margin: int = 0) -> dict:
    """{node: {"result": FixedFormat}} with each result's width kept, integer bits fitted."""
    proposal = {}
    for node in graph.nodes():
        c = prof.get(node.name)
        if node.op in _NO_RESULT_CHOICE or c is None or c.total == 0:
            continue
        f = node.formats["result"]
        ib = integer_bits_for(c.min_value, c.max_value, f.signed) + margin
        if ib != f.integer_bits:
            proposal[node.name] = {"result": FixedFormat(f.width, ib, f.signed, f.rounding, f.overflow)}
    return proposal


def fit_integer_bits(graph: Graph, data, margin: int = 0) -> Graph:
    """The graph with result integer bits fitted to ``data``.

    A node that overflows distorts every range measured after it (a wrapped conv output makes
    the following relu look small), so profiling repeats until no result changes: each round
    fixes at least the first overflowing node, hence at most one round per node.
    """
    config: dict = {}
    g = prepare(graph)
    for _ in range(len(list(graph.nodes())) + 1):
        proposal = propose_integer_bits(g, profile(g, data), margin)
        if not proposal:
            break
        for name, slots in proposal.items():
            config.setdefault(name, {}).update(slots)
        g = prepare(graph, config=config)
    return g
