"""GraphBuilder: add nodes to a graph in code, one method per op (data only: ``b.graph`` is the
graph as built, nothing inferred). ``qhw.flow.GraphBuilder`` is the same builder whose ``build()``
runs the prepare flow (validated, shapes and formats inferred):

    from qhw.flow import GraphBuilder
    b = GraphBuilder("mlp")
    x = b.input("x", (16,), "ap_fixed<16,6>")
    h = b.relu("relu1", b.dense("fc1", x, w1, b1))
    b.output("y", b.dense("fc2", h, w2, b2))
    graph = b.build()          # validated, shapes and formats inferred
"""
from __future__ import annotations

from typing import Any

import numpy as np

from qhw.fixed import FixedFormat
from qhw.graph.graph import Graph
from qhw.graph.node import Node


def _fmt(f) -> FixedFormat:
    return f if isinstance(f, FixedFormat) else FixedFormat.parse(f)


class GraphBuilder:
    def __init__(self, name: str = "model") -> None:
        self.graph = Graph(name)

    def node(self, name: str, op: str, inputs: list[str], attrs: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None, formats: dict[str, Any] | None = None) -> str:
        """Add any registered op; returns the node (= tensor) name."""
        node = Node(name, op, list(inputs), dict(attrs or {}),
                    {k: np.asarray(v, np.float64) for k, v in (params or {}).items()},
                    {k: _fmt(v) for k, v in (formats or {}).items()})
        self.graph.add(node)
        return name

    def input(self, name, shape, fmt) -> str:
        return self.node(name, "input", [], {"shape": list(shape)}, formats={"result": fmt})

    def output(self, name, x, fmt=None) -> str:
        return self.node(name, "output", [x], formats={"result": fmt} if fmt else None)

    def dense(self, name, x, weight, bias=None, formats=None, **attrs) -> str:
        params = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
        return self.node(name, "dense", [x], attrs, params, formats)

    def conv1d(self, name, x, weight, bias=None, formats=None, **attrs) -> str:
        attrs.setdefault("kernel_size", int(np.shape(weight)[0]))
        params = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
        return self.node(name, "conv1d", [x], attrs, params, formats)

    def conv2d(self, name, x, weight, bias=None, formats=None, **attrs) -> str:
        attrs.setdefault("kernel_size", [int(d) for d in np.shape(weight)[:2]])
        params = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
        return self.node(name, "conv2d", [x], attrs, params, formats)

    def unary(self, op, name, x, formats=None, **attrs) -> str:
        return self.node(name, op, [x], attrs, formats=formats)

    def relu(self, name, x, formats=None) -> str:
        return self.unary("relu", name, x, formats)

    def relu6(self, name, x, formats=None) -> str:
        return self.unary("relu6", name, x, formats)

    def clip(self, name, x, min_value=None, max_value=None, formats=None) -> str:
        return self.unary("clip", name, x, formats, min_value=min_value, max_value=max_value)

    def shift(self, name, x, shift: int, formats=None) -> str:
        return self.unary("shift", name, x, formats, shift=shift)

    def requantize(self, name, x, multiplier, shift: int, formats=None) -> str:
        m = multiplier if np.ndim(multiplier) == 0 else [int(v) for v in multiplier]
        return self.unary("requantize", name, x, formats, multiplier=m, shift=shift)

    def flatten(self, name, x) -> str:
        return self.unary("flatten", name, x)

    def reshape(self, name, x, shape) -> str:
        return self.unary("reshape", name, x, shape=list(shape))

    def upsample(self, name, x, scale, formats=None) -> str:
        """Nearest-neighbour upsampling by an integer factor per spatial axis."""
        return self.unary("upsample", name, x, formats, scale=scale)

    def add(self, name, a, b, formats=None) -> str:
        return self.node(name, "add", [a, b], formats=formats)

    def mul(self, name, a, b, formats=None) -> str:
        return self.node(name, "mul", [a, b], formats=formats)

    def concat(self, name, inputs, axis=-1, formats=None) -> str:
        return self.node(name, "concat", list(inputs), {"axis": axis}, formats=formats)

    def pool(self, op, name, x, kernel_size, stride=None, padding=0, formats=None) -> str:
        return self.unary(op, name, x, formats, kernel_size=kernel_size, stride=stride, padding=padding)

    def build(self, config=None, default=None) -> Graph:
        """Preparing a graph is a flow step, not data: ``qhw.flow.GraphBuilder`` (the same
        methods) has the ``build()`` that runs it."""
        raise TypeError("qhw.graph.GraphBuilder only adds nodes (the graph package holds data); "
                        "use 'from qhw.flow import GraphBuilder', whose build() prepares the graph")
