"""Hardware options from a config onto nodes (graph in, graph out): reuse factor, strategy."""
from __future__ import annotations

from qhw.graph import Graph
from qhw.ops import get


def apply_config(graph: Graph, config) -> Graph:
    """Copy ReuseFactor/Strategy of an hls4ml-style config into node attrs (node values win)."""
    if config is None or not hasattr(config, "reuse_factor"):
        return graph
    for node in graph.nodes():
        if node.op in ("dense", "conv1d", "conv2d"):
            node.attrs.setdefault("reuse_factor", config.reuse_factor(node.name, node.op))
            node.attrs.setdefault("strategy", config.strategy(node.name, node.op))
        get(node.op, node.name).configure(node, config)  # op settings (sigmoid/tanh/softmax tables)
    return graph
