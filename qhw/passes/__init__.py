"""Graph passes: small graph -> graph steps, run in the visible order of a pipeline."""
from __future__ import annotations

from typing import Any

from qhw.graph import Graph
from qhw.passes.formats import infer_formats
from qhw.passes.shapes import infer_shapes


def validate(graph: Graph) -> Graph:
    graph.validate()
    return graph


#: What `prepare` runs, in order: structure, shapes, formats.
DEFAULT_PIPELINE = (validate, infer_shapes, infer_formats)


def prepare(graph: Graph, config: Any = None, default=None) -> Graph:
    """A validated copy of ``graph`` with shapes and formats inferred (``graph.notes``: every
    slot narrower than lossless)."""
    g = graph.copy()
    validate(g)
    infer_shapes(g)
    infer_formats(g, config=config, default=default)
    return g


__all__ = ["DEFAULT_PIPELINE", "prepare", "validate", "infer_shapes", "infer_formats"]
