"""Format inference: fill every node's format slots (graph in, graph out).

Lossless by default where bit growth is finite (accumulators, sums, clamps, shifts); results after
a multiply-accumulate and constants take the default precision (hls4ml's ``ap_fixed<16,6>``) or
the user's. A config's format wins over the node's own (set in code or stored in the model file),
which wins over inference. Every slot narrower than lossless is recorded in ``graph.notes``.
A config in hls4ml's layout (qhw.config.ModelConfig) is read with hls4ml's meaning instead: its
chain of precedence and its ``auto`` for the slots hls4ml types (docs/hls4ml.md).
"""
from __future__ import annotations

from typing import Any

from qhw.fixed import FixedFormat
from qhw.graph import Graph
from qhw.ops import FormatContext, get


def config_lookup(config: Any, current: dict | None = None):
    """A ``(node, slot) -> FixedFormat | None`` function for the supported config shapes:
    None; a dict {node name: {slot: format}}; or an object with
    ``precision(layer_name, op, slot)`` (qhw.config.ModelConfig, hls4ml layout: hls4ml's chain
    of precedence for the slots hls4ml types, ``auto`` as hls4ml infers it; ``current["inputs"]``
    holds the input formats of the node being inferred)."""
    if config is None:
        return lambda node, slot: None
    if hasattr(config, "precision"):
        if getattr(config, "hls4ml", False):
            return _hls4ml_lookup(config, current if current is not None else {})

        def lookup(node, slot):
            p = config.precision(node.name, node.op, slot)
            return p if isinstance(p, FixedFormat) else None  # "auto" / None: infer
        return lookup
    if isinstance(config, dict):
        def lookup(node, slot):
            f = config.get(node.name, {}).get(slot)
            return FixedFormat.parse(f) if f is not None else None
        return lookup
    raise TypeError(f"unsupported config {type(config).__name__}")


def _hls4ml_lookup(config, current: dict):
    from qhw.config.infer import auto_format
    from qhw.config.schema import TABLE_SLOTS

    def lookup(node, slot):
        if slot in TABLE_SLOTS:  # only a layer-level table_t, as in hls4ml
            p = config.precision(node.name, node.op, slot)
            return p if isinstance(p, FixedFormat) else None
        if slot not in get(node.op, node.name).hls4ml_slots:
            return None
        p = config.precision(node.name, node.op, slot)
        if p == "auto":
            return auto_format(node, slot, current.get("inputs", []), config.default, config.maximum)
        return p if isinstance(p, FixedFormat) else None  # None / "lossless": qhw infers
    return lookup


def infer_formats(graph: Graph, config: Any = None, default: FixedFormat | str | None = None) -> Graph:
    current: dict = {}
    ctx = FormatContext(lookup=config_lookup(config, current))
    default = default if default is not None else graph.default_format
    if default is not None:
        ctx.default = FixedFormat.parse(default) if isinstance(default, str) else default
    graph.default_format = ctx.default
    for node in graph.nodes():  # inferred slots are inferred again (inputs may have changed)
        for slot in node.inferred:
            node.formats.pop(slot, None)
        node.inferred.clear()
    for node in graph.nodes():
        in_fmts = [graph.node(s).formats["result"] for s in node.inputs]
        current["inputs"] = in_fmts
        get(node.op, node.name).infer_formats(node, in_fmts, ctx)
    graph.notes = list(ctx.notes)
    return graph
