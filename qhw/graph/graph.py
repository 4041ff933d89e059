"""Graph: a thin, validating layer over ``networkx.DiGraph`` (see docs/graph_contract.md)."""
from __future__ import annotations

from typing import Iterator

import networkx as nx

from qhw.errors import ModelError
from qhw.graph.node import Node
from qhw.names import check_name


class Graph:
    """Nodes are operations; an edge u -> v carries u's output tensor to v.

    ``Node.inputs`` is the authoritative port order; edges mirror it for graph algorithms.
    """

    def __init__(self, name: str = "model") -> None:
        self.name = name  # checked by the setter
        self.nx = nx.DiGraph()
        #: the default precision format inference used (set by infer_formats)
        self.default_format = None
        #: slots narrower than lossless, as reported by format inference
        self.notes: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        """Every way a graph is built or loaded sets its name here (see qhw.names)."""
        self._name = check_name(value, "graph")

    # -------------------------------------------------------------- building
    def add(self, node: Node) -> Node:
        """Add ``node``; its name and the names it reads are checked (qhw.names) first, so no
        frontend or loader can bring a name into the graph that generated text cannot hold."""
        check_name(node.name, "node")
        for i, src in enumerate(node.inputs):
            check_name(src, f"node {node.name!r}: input #{i}")
        if node.name in self.nx:
            raise ModelError(f"duplicate node name {node.name!r}")
        self.nx.add_node(node.name, node=node)
        for src in node.inputs:
            if src in self.nx:
                self.nx.add_edge(src, node.name)
        for other in self.nx.nodes:  # nodes added earlier that consume this one
            if node.name in self.nx.nodes[other]["node"].inputs:
                self.nx.add_edge(node.name, other)
        return node

    def remove(self, name: str) -> None:
        self.nx.remove_node(name)

    def replace_input(self, node_name: str, old: str, new: str) -> None:
        node = self.node(node_name)
        node.inputs = [new if s == old else s for s in node.inputs]
        if self.nx.has_edge(old, node_name):
            self.nx.remove_edge(old, node_name)
        self.nx.add_edge(new, node_name)

    # -------------------------------------------------------------- reading
    def node(self, name: str) -> Node:
        try:
            return self.nx.nodes[name]["node"]
        except KeyError:
            raise ModelError(f"no node named {name!r} in graph {self.name!r}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.nx

    def __len__(self) -> int:
        return self.nx.number_of_nodes()

    def nodes(self) -> Iterator[Node]:
        """Nodes in a deterministic topological order (ties broken by insertion order)."""
        order = {n: i for i, n in enumerate(self.nx.nodes)}
        try:
            names = nx.lexicographical_topological_sort(self.nx, key=order.__getitem__)
            return iter([self.nx.nodes[n]["node"] for n in names])
        except nx.NetworkXUnfeasible:
            cycle = nx.find_cycle(self.nx)
            raise ModelError(f"graph {self.name!r} has a cycle: "
                             f"{' -> '.join(u for u, _ in cycle)} -> {cycle[0][0]}") from None

    @property
    def input_names(self) -> list[str]:
        from qhw.ops import is_input

        return [n for n in self.nx.nodes if is_input(self.nx.nodes[n]["node"].op)]

    @property
    def output_names(self) -> list[str]:
        from qhw.ops import is_output

        return [n for n in self.nx.nodes if is_output(self.nx.nodes[n]["node"].op)]

    def consumers(self, name: str) -> list[Node]:
        return [self.node(s) for s in self.nx.successors(name)]

    def copy(self) -> "Graph":
        g = Graph(self.name)
        g.default_format, g.notes = self.default_format, list(self.notes)
        for n in self.nx.nodes:
            g.add(self.node(n).copy())
        return g

    # -------------------------------------------------------------- checking
    def validate(self) -> None:
        """Structure checks: dangling inputs, cycles, ports, op attributes. ModelError names the
        node. Shapes and formats are checked by the passes that infer them."""
        from qhw.ops import get, is_output

        if not self.input_names:
            raise ModelError(f"graph {self.name!r} has no input node")
        if not self.output_names:
            raise ModelError(f"graph {self.name!r} has no output node")
        for n in self.nx.nodes:
            node = self.node(n)
            for src in node.inputs:
                if src not in self.nx:
                    raise ModelError(f"node {n!r} reads {src!r}, which is not in the graph")
                if is_output(self.node(src).op):
                    raise ModelError(f"node {n!r} reads output node {src!r}")
            get(node.op, n).check(node)
        list(self.nodes())  # raises on a cycle

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self)} nodes)"
