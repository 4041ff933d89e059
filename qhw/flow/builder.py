"""GraphBuilder whose ``build()`` runs the prepare flow (the graph package's builder only adds
nodes; preparing a graph is a flow step, so it lives here)."""
from __future__ import annotations

from qhw.graph import Graph
from qhw.graph.builder import GraphBuilder as _NodeBuilder
from qhw.passes import prepare


class GraphBuilder(_NodeBuilder):
    """Build an annotated graph in code, one method per op (see :mod:`qhw.graph.builder`)::

        b = GraphBuilder("mlp")
        x = b.input("x", (16,), "ap_fixed<16,6>")
        b.output("y", b.dense("fc1", x, w1, b1))
        graph = b.build()      # validated, shapes and formats inferred
    """

    def build(self, config=None, default=None) -> Graph:
        """A prepared copy of the graph built so far (see :func:`qhw.passes.prepare`)."""
        return prepare(self.graph, config=config, default=default)
