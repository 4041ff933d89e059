"""Options from a config onto nodes (graph in, graph out): reuse factor, strategy, table size and,
for a config in hls4ml's layout, hls4ml's per-product cast into accum_t."""
from __future__ import annotations

from qhw.errors import ConfigError
from qhw.graph import Graph
from qhw.ops import Trait, get, has


def _matches(graph: Graph, name: str) -> bool:
    low = str(name).lower()  # hls4ml matches precision and ReuseFactor by the lower-cased name
    return any(n.name == name or n.name.lower() == low for n in graph.nodes())


def apply_config(graph: Graph, config) -> Graph:
    """Copy an hls4ml-style config's ReuseFactor/Strategy (node values win) and layer-level
    table_size (the config wins: it is the user's latest instruction) into node attrs. With an
    hls4ml-layout config, dense/conv products are cast into accum_t one by one as hls4ml's
    kernels do (``mult[i] = a * w`` into an ``accum_t`` array), unless the node says otherwise."""
    if config is None or not hasattr(config, "reuse_factor"):
        return graph
    unmatched = [n for n in getattr(config, "names", {}) if not _matches(graph, n)]
    for name in unmatched:  # hls4ml ignores them too; a typo should not pass unnoticed
        line = (f"LayerName.{name} matches no layer of the model {graph.name!r} (hls4ml ignores it "
                "too); its layers are named: " + ", ".join(n.name for n in graph.nodes())[:300])
        if line not in config.warnings:
            config.warnings.append(line)
    for node in graph.nodes():
        if has(node.op, Trait.MAC):
            node.attrs.setdefault("reuse_factor", config.reuse_factor(node.name, node.op))
            node.attrs.setdefault("strategy", config.strategy(node.name, node.op))
            if getattr(config, "hls4ml", False):
                node.attrs.setdefault("product_cast", True)
        get(node.op, node.name).configure(node, config)  # op settings (sigmoid/tanh/softmax tables)
        if node.attrs.get("variant") == "hls4ml":
            continue  # the op's configure() took hls4ml's table settings
        if has(node.op, Trait.TABLE) and "table_size" in node.attrs:
            size = config.attr(node.name, node.op, "table_size")
            if size is None:
                continue
            if get(node.op, node.name).table_size_pow2(node) and size & (size - 1):
                raise ConfigError(f"config table_size of layer {node.name!r} ({node.op}): {size} is not "
                                  "a power of two; this table needs a power of two >= 2 (e.g. 1024)")
            node.attrs["table_size"] = int(size)
    return graph
