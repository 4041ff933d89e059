"""Shape inference: every node's output shape from its inputs (graph in, graph out)."""
from __future__ import annotations

from qhw.errors import ModelError
from qhw.graph import Graph
from qhw.ops import get


def infer_shapes(graph: Graph) -> Graph:
    for node in graph.nodes():
        op = get(node.op, node.name)
        in_shapes = [tuple(graph.node(s).shape) for s in node.inputs]
        shape = tuple(int(d) for d in op.infer_shape(node, in_shapes))
        if any(d < 1 for d in shape):
            raise ModelError(f"node {node.name!r} ({node.op}) would have shape {shape}")
        node.shape = shape
    return graph
