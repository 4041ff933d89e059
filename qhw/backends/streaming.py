"""Which layers stream (``qhw compile --io``, hls4ml's ``IOType``), for every backend.

``io`` is ``parallel``, ``stream`` or ``auto`` (default). The *stream region* is the graph's
leading chain, from its one input, of convolutions, poolings and per-pixel element-wise layers;
``auto`` streams it when one of its convolutions unrolled over its output would need more than
:data:`AUTO_PRODUCTS` constant products. A node's own ``io`` attribute (``parallel`` |
``stream``) overrides the option for that node (a ``parallel`` node ends the region). The
Verilog lowering is :mod:`qhw.backends.verilog.stream`, the HLS one :mod:`qhw.backends.hls.stream`.
"""
from __future__ import annotations

import numpy as np

from qhw.errors import ConfigError
from qhw.ops import get as get_op, has
from qhw.ops.traits import Trait

IO_CHOICES = ("parallel", "stream", "auto")
#: ``auto`` streams a convolution whose unrolled form (output pixels x Cin·K·K x Cout) has more
#: constant products than this (a 3x16x16 image through a 3x3 conv to 16 channels has 110,592)
AUTO_PRODUCTS = 65536


def io_choice(options: dict) -> str:
    mode = options.get("io") or "auto"
    if mode not in IO_CHOICES:
        raise ConfigError(f"io {mode!r} is not one of {', '.join(IO_CHOICES)}")
    return mode


def _node_io(node) -> str | None:
    v = node.attrs.get("io")
    if v is None or v == "auto":
        return None
    if v not in ("parallel", "stream"):
        raise ConfigError(f"node {node.name!r}: attribute io {v!r} is not one of "
                          f"{', '.join(IO_CHOICES)}")
    return v


def _spatial_dims(node) -> int:
    return int(getattr(get_op(node.op, node.name), "dims", 0) or 0)


def window_kind(node) -> str | None:
    """"mac" (convolution), "pool", "pixel" (per-pixel element-wise) or None (not streamable)."""
    dims = _spatial_dims(node)
    if has(node.op, Trait.MAC) and dims:
        return "mac"
    if has(node.op, Trait.POOL) and dims:
        return "pool"
    if (has(node.op, Trait.ELEMENTWISE) and not has(node.op, Trait.MERGE)
            and not has(node.op, Trait.IO) and len(node.inputs) == 1):
        return "pixel"
    return None


def _per_channel(node, channels: int) -> bool:
    """Every constant of an element-wise node is per tensor or per channel (so one pixel's
    block computes every pixel)."""
    values = list(node.params.values()) + [v for v in node.attrs.values()
                                           if isinstance(v, (list, tuple, np.ndarray))]
    for v in values:
        a = np.asarray(v)
        if a.size in (1, channels) or (a.ndim >= 2 and a.shape[0] in (1, channels)):
            continue
        return False
    return True


def geometry(node, in_shape: tuple[int, ...]) -> dict:
    """The window walk of a conv/pool node as 2-D numbers (a 1-D layer has one row)."""
    k, st, d = get_op(node.op, node.name).geometry(node)
    dims = len(k)
    pads = [int(p) for p in node.attrs["padding"]]
    if dims == 1:
        g = dict(h=1, w=in_shape[0], kh=1, kw=k[0], sh=1, sw=st[0], dh=1, dw=d[0],
                 pt=0, pl=pads[0], pb=0, pr=pads[1])
    else:
        g = dict(h=in_shape[0], w=in_shape[1], kh=k[0], kw=k[1], sh=st[0], sw=st[1], dh=d[0],
                 dw=d[1], pt=pads[0], pl=pads[1], pb=pads[2], pr=pads[3])
    g["hp"], g["wp"] = g["h"] + g["pt"] + g["pb"], g["w"] + g["pl"] + g["pr"]
    g["span_h"], g["span_w"] = (g["kh"] - 1) * g["dh"] + 1, (g["kw"] - 1) * g["dw"] + 1
    g["oh"] = (g["hp"] - g["span_h"]) // g["sh"] + 1
    g["ow"] = (g["wp"] - g["span_w"]) // g["sw"] + 1
    return g


def unrolled_products(node) -> int:
    """Constant products of a convolution lowered in parallel (output pixels x taps x Cout)."""
    w = node.params["weight"]
    return int(np.prod(node.shape[:-1])) * int(np.prod(w.shape))


def stream_region(graph, options: dict) -> list:
    """The nodes to stream (the leading chain from the graph's one input), or [] for none."""
    mode = io_choice(options)
    if options.get("stream_tail"):
        return []
    for node in graph.nodes():
        _node_io(node)
    if len(graph.input_names) != 1:
        return []
    cur = graph.node(graph.input_names[0])
    if len(cur.shape) < 2:
        return []
    region = []
    while True:
        nxt = graph.consumers(cur.name)
        if len(nxt) != 1:
            break
        node = nxt[0]
        kind = window_kind(node)
        choice = _node_io(node) or mode
        if kind is None or choice == "parallel" or len(node.shape) != len(cur.shape):
            break
        if kind == "pixel" and not _per_channel(node, cur.shape[-1]):
            break
        if kind != "pixel":
            g = geometry(node, tuple(cur.shape[:-1]))
            # a window must hold an image pixel read before it ends (the last flag rides on it)
            if g["pt"] > g["span_h"] - 1 or g["pl"] > g["span_w"] - 1:
                break
        region.append(node)
        cur = node
    while region and window_kind(region[-1]) == "pixel" and mode != "stream":
        if _node_io(region[-1]) == "stream":
            break
        region.pop()  # auto: trailing per-pixel layers stay with the parallel tail
    if mode == "auto" and not any(
            _node_io(n) == "stream"
            or (window_kind(n) == "mac" and unrolled_products(n) > AUTO_PRODUCTS)
            for n in region):
        return []
    return region
