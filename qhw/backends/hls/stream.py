"""Streamed convolution and pooling in HLS (hls4ml's ``io_stream``): a line-buffer walk.

The layer function keeps the array signature of the parallel templates, but reads its input
once, pixel by pixel in order, and writes its output once, in order (the access pattern an
``hls::stream``/FIFO between DATAFLOW processes allows): the padded image is walked one position
per step, a line buffer holds the last ``(KH-1)·DH·Wp + (KW-1)·DW`` positions, and where a window
ends one output pixel is computed (the layer's MAC array over ``KH·KW·Cin`` taps, or the pool
reduction). Padding positions hold zero (max pooling: the smallest code), as the golden model
pads. Which layers stream: :mod:`qhw.backends.streaming`.
"""
from __future__ import annotations

from qhw.backends.hls import layers
from qhw.backends.streaming import geometry
from qhw.fixed import cpp_literal
from qhw.ops import has
from qhw.ops.traits import Trait

TEMPLATE = "window_stream.h.j2"


def build(node, ctx: layers.LayerContext) -> dict:
    """The template values of a streamed conv/pool node (the parallel emitter's, plus the walk)."""
    v = layers.get(node.op, node.name).build(node, ctx)
    g = geometry(node, tuple(ctx.in_shapes[0][:-1]))
    fmt = ctx.in_fmts[0]
    conv = has(node.op, Trait.MAC)
    v.update(conv=conv, hp=g["hp"], wp=g["wp"], pt=g["pt"], pl=g["pl"], pb=g["pb"], pr=g["pr"],
             in_h=g["h"], in_w=g["w"], kh=g["kh"], kw=g["kw"], sh=g["sh"], sw=g["sw"],
             dh=g["dh"], dw=g["dw"], span_h=g["span_h"], span_w=g["span_w"],
             out_h=g["oh"], out_w=g["ow"], cin=ctx.in_shapes[0][-1], cout=node.output.shape[-1],
             depth=(g["span_h"] - 1) * g["wp"] + g["span_w"] - 1)
    if not conv and has(node.op, Trait.MOVE):  # max pooling pads with the smallest code
        v.update(fill=f"({v['in_t']}){cpp_literal(fmt.raw_min, fmt)}", fill_note="the smallest code")
    else:
        v.update(fill=f"({v['in_t']})0", fill_note="zero")
    v.setdefault("constants", [])
    if conv:
        v.update(acc_t="", kind="", finish=[])
        v.setdefault("summary", "per output pixel: acc = bias (or 0); acc += x * w over taps "
                     "(kh, kw, cin) in order; y = acc.")
    v["rf"] = max(1, int(v.get("rf", 1)))
    return v
