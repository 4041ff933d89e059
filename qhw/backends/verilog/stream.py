"""Streaming lowering of convolutions and pooling (hls4ml's ``io_stream``, FINN's sliding window).

The parallel lowering unrolls a convolution over every output pixel, so its hardware grows with
the image. Here the image flows as a stream of pixels (all channels of one pixel per beat)
through a chain of layers joined by valid/ready handshakes with a last flag:

* convolution / pooling: a sliding-window generator (a shift register of the last
  ``(KH-1)·DH·Wp + (KW-1)·DW`` padded positions: the line buffer; zero padding, or the smallest
  code for max pooling, inserted without an input beat) emits each complete window once; one
  kernel-window datapath (the ordinary MAC array of :mod:`.mac` over ``KH·KW·Cin`` inputs, or
  the pooling block of :mod:`.elementwise` over one window; folded by the reuse factor)
  computes one output pixel per window;
* per-pixel element-wise layers (relu, requantize, ...): the element-wise block over one pixel.

The *stream region* is the graph's leading chain of such layers (starting at the input).
``<top>_core`` takes the image as a pixel stream: the region's layers, a collector gathering
their output pixels into one vector, and the rest of the graph (e.g. flatten -> dense) as the
ordinary parallel pipeline (``<top>_p``). ``<top>`` keeps qhw's interface (one sample per
AXI-Stream beat, as every qhw design and its test harness): a serializer turns the accepted
sample into pixels for the core.

Which layers stream (``options["io"]``, ``qhw compile --io``, a node's ``io`` attribute):
:mod:`qhw.backends.streaming`.
"""
from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qhw.backends.verilog import lowering
from qhw.backends.verilog.mac_loop import mac_loop_twin
from qhw.backends.verilog.top import (VerilogDesign, _clock, _layout, _layout_text, kernel_clock,
                                      timing_summary, write_files, write_parallel)
from qhw.backends.verilog.naming import Namer
from qhw.backends.verilog.render import render
from qhw.backends.streaming import window_kind, geometry
from qhw.graph.graph import Graph
from qhw.ops import get as get_op, has
from qhw.ops.traits import Trait


def _window(g: dict, pb: int, fill: int, name: str, node) -> str:
    """The sliding-window generator module for geometry ``g`` on ``pb``-bit pixels."""
    rb, cb = max(1, (g["hp"] - 1).bit_length()), max(1, (g["wp"] - 1).bit_length())

    def mask(bits: int, on) -> str:
        return "".join("1" if on(i) else "0" for i in reversed(range(1 << bits)))

    emit_r = mask(rb, lambda r: r < g["hp"] and r >= g["span_h"] - 1
                  and (r - g["span_h"] + 1) % g["sh"] == 0 and (r - g["span_h"] + 1) // g["sh"] < g["oh"])
    emit_c = mask(cb, lambda c: c < g["wp"] and c >= g["span_w"] - 1
                  and (c - g["span_w"] + 1) % g["sw"] == 0 and (c - g["span_w"] + 1) // g["sw"] < g["ow"])
    real_r = mask(rb, lambda r: g["pt"] <= r < g["pt"] + g["h"])
    real_c = mask(cb, lambda c: g["pl"] <= c < g["pl"] + g["w"])
    depth = (g["span_h"] - 1) * g["wp"] + g["span_w"] - 1
    taps = []
    for i in range(g["kh"]):
        for j in range(g["kw"]):
            o = (g["span_h"] - 1 - i * g["dh"]) * g["wp"] + (g["span_w"] - 1 - j * g["dw"])
            taps.append("px" if o == 0 else f"sr[{o * pb - 1}:{(o - 1) * pb}]")
    win = taps[0] if len(taps) == 1 else "{" + ", ".join(reversed(taps)) + "}"
    shift = "px" if depth == 1 else f"{{sr[{(depth - 1) * pb - 1}:0], px}}"
    return render("stream_window.v.j2", name=name, node=node.name, channels=node.shape[-1],
                  width=pb, hp=g["hp"], wp=g["wp"], kh=g["kh"], kw=g["kw"], sh=g["sh"],
                  sw=g["sw"], dh=g["dh"], dw=g["dw"], taps=taps, depth=depth, pb=pb,
                  wb=len(taps) * pb, rb=rb, cb=cb, rw=1 << rb, cw=1 << cb, emit_r=emit_r, emit_c=emit_c, real_r=real_r,
                  real_c=real_c, fill=f"{pb}'h{fill:x}", fill_text=f"code {fill:#x} per pixel",
                  win=win, shift=shift)


def _kernel_node(node, window_shape: tuple[int, ...], out_shape: tuple[int, ...], attrs: dict):
    k = node.copy()
    k.attrs.update(attrs)
    k.shape = out_shape
    return k


def _lower_kernel(knode, fmt, kshape, module: str, prefix: str, options: dict):
    """The kernel-window block of a streamed layer: the op's own registered lowering, applied to
    one window (a node of the window's shape). With a clock period: the kernel's pipeline
    registers (the layer's ``timing`` in ``dp.timing``)."""
    options, layer_timing = kernel_clock(knode, fmt, kshape, options)
    ctx = lowering.Context(knode, (fmt,), (tuple(kshape),), options=dict(options), module=module, prefix=prefix)
    dp = lowering.get(knode).lower(ctx)
    dp.timing = layer_timing
    return dp


def kernel_of(node, in_shape: tuple[int, ...], options: dict):
    """(kind, kernel node, window shape, geometry or None) of a streamed layer: the kernel node
    is the layer's op on one window (a pixel for per-pixel layers), lowered and costed by the
    op's own registered lowering."""
    kind = window_kind(node)
    cin, cout = in_shape[-1], node.shape[-1]
    if kind == "pixel":
        return kind, _kernel_node(node, (cin,), (cout,), {}), (cin,), None
    g = geometry(node, tuple(in_shape[:-1]))
    dims = len(in_shape) - 1
    k = get_op(node.op, node.name).geometry(node)[0]
    kshape = tuple(k) + (cin,)
    ones = [1] * dims
    if kind == "mac":
        knode = _kernel_node(node, kshape, tuple(ones) + (cout,),
                             dict(padding=[0] * (2 * dims), stride=ones, dilation=ones))
        r_default = options.get("reuse_factor")
        if r_default and "reuse_factor" not in node.attrs:
            knode.attrs["reuse_factor"] = int(r_default)
    else:
        knode = _kernel_node(node, kshape, tuple(ones) + (cout,),
                             dict(padding=[0] * (2 * dims), stride=list(k)))
    return kind, knode, kshape, g


def line_buffer_taps(g: dict) -> list[int]:
    """Positions back (1..depth) of the line buffer the window reads (0, the entering pixel, is
    not stored), ascending."""
    return sorted({(g["span_h"] - 1 - i * g["dh"]) * g["wp"] + (g["span_w"] - 1 - j * g["dw"])
                   for i in range(g["kh"]) for j in range(g["kw"])} - {0})


#: an SRLC32E holds 32 stages of a shift register in one LUT (Xilinx)
SRL_DEPTH = 32


@dataclass
class StreamCost:
    """A streamed layer's cost in the shape the estimator reads a block cost
    (:class:`qhw.estimate.blocks.Cost`): feature counts (bits), DSP blocks, block RAMs, the
    output's live span, distinct output values (None: one per element)."""

    features: dict = field(default_factory=dict)
    dsp: int = 0
    bram: int = 0
    span: tuple[int, int] | None = None
    distinct: int | None = None

    def add(self, **kw) -> "StreamCost":
        for k, v in kw.items():
            self.features[k] = self.features.get(k, 0) + int(v)
        return self


def stream_cost(node, graph, ctx, options: dict) -> StreamCost | None:
    """What a streamed layer builds, for the analytic estimate (``qhw.estimate.analytic``
    asks it per node; None for a node that does not stream): its kernel block on one window
    (the op's own lowering ``cost()``), the line buffer, the window register, the walk
    counters and handshake, and for the region's first and last layers the input serializer
    and the collector. The line buffer is the shift register ``stream_window.v.j2`` writes: on
    xilinx its untapped runs become SRL LUTs (32 stages per LUT and bit), its taps flip-flops;
    on ECP5/iCE40 every stage is a flip-flop. Nothing here becomes block RAM (no memory is
    written), so ``bram`` is the kernel's only."""
    from qhw.backends.streaming import stream_region

    region = stream_region(graph, options)
    if node.name not in {n.name for n in region}:
        return None
    src = graph.node(node.inputs[0])
    fmt, in_shape = src.formats["result"], tuple(src.shape)
    kind, knode, kshape, g = kernel_of(node, in_shape, options)
    low = lowering.get(knode)
    kctx = lowering.CostContext(knode, (fmt,), (tuple(kshape),),
                                options=dict(options) if kind == "mac" else {},
                                in_spans=ctx.in_spans, in_nonneg=ctx.in_nonneg, nodsp=ctx.nodsp,
                                target=ctx.target)
    got = low.cost(kctx)
    cost = StreamCost(span=low.live_span(kctx), dsp=int(got.get("dsp", 0)), bram=int(got.get("bram", 0)))
    cost.add(**{k: v for k, v in got.items() if k not in ("dsp", "bram")})
    pb = in_shape[-1] * fmt.width
    r = int(knode.attrs.get("reuse_factor", 1) or 1) if kind == "mac" else 1
    cost.add(reg_bits=2 * (1 if r == 1 else r + 1) + 2)  # valid/last pipeline, gap counter
    if g is not None:
        taps = line_buffer_taps(g)
        runs = [b - a for a, b in zip([0] + taps, taps)]
        if ctx.target == "xilinx":
            cost.add(lut_cells=pb * sum(-(-(n - 1) // SRL_DEPTH) for n in runs),
                     ff_cells=pb * len(runs))
        else:
            cost.add(ff_cells=pb * (taps[-1] if taps else 0))
        rb, cb = max(1, (g["hp"] - 1).bit_length()), max(1, (g["wp"] - 1).bit_length())
        cost.add(ff_cells=int(np.prod(kshape)) * fmt.width,  # the window register
                 reg_bits=rb + cb + 3, arith_bits=rb + cb, sel_bits=pb)  # walk, padding select
    if node.name == region[0].name:  # serializer: the sample, shifted out a pixel at a time
        first = graph.node(graph.input_names[0])
        n = int(np.prod(first.shape)) * first.formats["result"].width
        pixels = int(np.prod(first.shape[:-1]))
        cost.add(ff_cells=n, sel_bits=n, reg_bits=max(1, (pixels - 1).bit_length()) + 2)
    if node.name == region[-1].name:  # collector: the last layer's pixels of one image
        n = int(np.prod(node.shape)) * node.formats["result"].width
        cost.add(ff_cells=n, reg_bits=max(1, (int(np.prod(node.shape[:-1])) - 1).bit_length()) + 2)
    return cost


def lower_stream_layer(node, fmt, in_shape: tuple[int, ...], module: str, prefix: str,
                       options: dict) -> tuple[dict[str, str], dict, dict[str, str]]:
    """Modules (name -> Verilog) of one streaming layer ``module``, its facts (ii in
    cycles per image, latency in cycles per pixel, line buffer bits) and its simulation
    flavour's differing files (a convolution's kernel as :func:`mac_loop_twin`)."""
    kind, knode, kshape, g = kernel_of(node, in_shape, options)
    cin, cout = in_shape[-1], node.shape[-1]
    pb = cin * fmt.width
    files: dict[str, str] = {}
    sim: dict[str, str] = {}
    info: dict = dict(kind=kind)
    if kind == "pixel":
        dp = _lower_kernel(knode, fmt, kshape, f"{module}_k", prefix, _clock_only(options))
        positions = outputs = int(np.prod(in_shape[:-1]))
        window, win_bits = None, pb
    else:
        if kind == "mac":
            dp = _lower_kernel(knode, fmt, kshape, f"{module}_k", prefix, options)
            sim = mac_loop_twin(knode, fmt, kshape, dp.module, prefix, dp.latency, dp.ii,
                                {f"{m}.v" for m in dp.units}) or {}
            fill = 0
        else:
            dp = _lower_kernel(knode, fmt, kshape, f"{module}_k", prefix, _clock_only(options))
            fill = 0
            if has(node.op, Trait.MOVE):  # max pooling pads with the smallest code
                code = fmt.raw_min & ((1 << fmt.width) - 1)
                fill = sum(code << (c * fmt.width) for c in range(cin))
        window = f"{module}_win"
        files[f"{window}.v"] = _window(g, pb, fill, window, node)
        win_bits = math.prod(kshape) * fmt.width
        positions, outputs = g["hp"] * g["wp"], g["oh"] * g["ow"]
        info.update(line_buffer_bits=((g["span_h"] - 1) * g["wp"] + g["span_w"] - 1) * pb,
                    window=[g["kh"], g["kw"]], padded=[g["hp"], g["wp"]])
    files[f"{dp.module}.v"] = dp.text()
    files.update({f"{mod}.v": text for mod, text in dp.units.items()})
    ii = max(positions, dp.ii * outputs)
    files[f"{module}.v"] = render(
        "stream_layer.v.j2", name=module, node=node.name, op=node.op,
        io_text=f"{ii} cycles per image, {outputs} output pixels",
        kernel=dp.module, ii=dp.ii, latency=dp.latency, gap_bits=max(1, (dp.ii - 1).bit_length()),
        in_bits=pb, out_bits=cout * node.formats["result"].width, win_bits=win_bits, window=window)
    info.update(ii=ii, latency=dp.latency, pixel_ii=dp.ii, outputs=outputs,
                multipliers=dict(sorted(getattr(dp, "stats", {}).items())))
    if dp.timing is not None:
        info["timing"] = dp.timing
    return files, info, {f: t for f, t in sim.items() if files.get(f) != t}


def _clock_only(options: dict) -> dict:
    """The clock options of ``options`` (an element kernel takes no other)."""
    return {k: options[k] for k in ("clock_period", "target") if k in options}


def _tail_graph(graph, region: list) -> Graph:
    """The graph after the region: its last tensor becomes the input."""
    last = region[-1]
    tail = Graph(graph.name)
    inp = graph.node(graph.input_names[0]).copy()
    inp.name, inp.inputs, inp.shape = last.name, [], tuple(last.shape)
    inp.attrs["shape"] = list(last.shape)
    inp.formats = {"result": last.formats["result"]}
    inp.inferred = set()
    tail.add(inp)
    skip = {n.name for n in region} | set(graph.input_names)
    for node in graph.nodes():
        if node.name not in skip:
            tail.add(node.copy())
    return tail


def write_stream_verilog(graph, region: list, out_dir: Path, top: str, options: dict):
    """Write the streaming design (see the module docstring); returns a VerilogDesign."""

    files: dict[str, str] = {}
    sim_files: dict[str, str] = {}  # the simulation flavour's differing files, written to sim/
    namer = Namer(reserved=(top,))
    first = graph.node(graph.input_names[0])
    fmt0 = first.formats["result"]
    pixels = int(np.prod(first.shape[:-1]))
    stages = [dict(name="st0", bits=first.shape[-1] * fmt0.width)]
    layers, layer_info = [], []
    for k, node in enumerate(region):
        src = graph.node(node.inputs[0])
        ident = namer(node.name)
        module = f"{top}_s_{ident}"
        fl, info, sim = lower_stream_layer(node, src.formats["result"], tuple(src.shape), module,
                                           f"{top}_s", options)
        files.update(fl)
        sim_files.update(sim)
        res = node.formats["result"]
        stages.append(dict(name=f"st{k + 1}", bits=node.shape[-1] * res.width))
        layers.append(dict(node=node.name, op=node.op, module=module, inst=ident,
                           src=f"st{k}", dst=f"st{k + 1}", ii=info["ii"]))
        layer_info.append(dict(node=node.name, op=node.op, module=module, io="stream",
                               reuse_factor=int(node.attrs.get("reuse_factor", 0)
                                                or options.get("reuse_factor") or 1),
                               formats={k2: str(v) for k2, v in sorted(node.formats.items())},
                               **info))
    last = region[-1]
    col_pixels = int(np.prod(last.shape[:-1]))
    col_pixel_bits = stages[-1]["bits"]
    tail = _tail_graph(graph, region)
    with tempfile.TemporaryDirectory(prefix="qhw_tail_") as tmp:
        opts = dict(options, stream_tail=True)
        opts.pop("top", None)
        td = write_parallel(tail, tmp, top=f"{top}_p", options=opts)
        for f in td.files:
            files[f] = (Path(tmp) / f).read_text()
        for f in td.sim_files:
            if f.startswith("sim/"):
                sim_files[f[4:]] = (Path(tmp) / f).read_text()
    for li in td.layers:
        layer_info.append(dict(li, io="parallel"))
        node = tail.node(li["node"])
        if has(node.op, Trait.MAC):  # the tail's MAC layers: loops run once per image
            src = tail.node(node.inputs[0])
            if "reuse_factor" not in node.attrs and li["reuse_factor"] > 1:
                node = node.copy()
                node.attrs["reuse_factor"] = li["reuse_factor"]
            twin = mac_loop_twin(node, src.formats["result"], tuple(src.shape), li["module"],
                                 td.top, li["latency"], li["ii"], files)
            sim_files.update({f: t for f, t in (twin or {}).items() if files.get(f) != t})
    inputs, in_bits = _layout(graph, graph.input_names)
    outputs, out_bits = _layout(graph, graph.output_names)
    ii = max([pixels, col_pixels, td.ii] + [la["ii"] for la in layers])
    latency = (pixels + sum(i["ii"] + i["latency"] for i in layer_info[:len(region)])
               + col_pixels + td.latency + 2)
    core = f"{top}_core"
    ctx = dict(
        top=top, core=core, graph_name=graph.name, in_bits=in_bits, out_bits=out_bits,
        in_layout=_layout_text(inputs), out_layout=_layout_text(outputs), stages=stages,
        pixels=pixels, pixel_bits=stages[0]["bits"], pbits=max(1, (pixels - 1).bit_length()),
        first="st0", last=stages[-1]["name"], layers=layers, col_pixels=col_pixels,
        col_pixel_bits=col_pixel_bits, col_bits=col_pixels * col_pixel_bits,
        qbits=max(1, (col_pixels - 1).bit_length()), tail=td.top,
        stream_text=", ".join(f"{la['node']} ({la['op']})" for la in layers),
        latency=latency, ii=ii)
    files[f"{core}.v"] = render("stream_core.v.j2", **ctx)
    files[f"{top}.v"] = render("stream_top.v.j2", **ctx)
    out_dir.mkdir(parents=True, exist_ok=True)
    order, sim_order = write_files(out_dir, top, files, sim_files)
    design = VerilogDesign(out_dir, top, order, latency, ii, inputs, outputs, layer_info, sim_order)
    period, target = _clock(options)
    if period is not None:  # the kernels' and the parallel tail's paths; the handshakes are not modeled
        design.timing = dict(timing_summary(layer_info, latency, period, target),
                             not_modeled="stream control: window generators, valid/ready handshakes")
    manifest = dict(design.manifest(), io="stream",
                    pixel_core=dict(module=core, pixel_bits=stages[0]["bits"], pixels=pixels,
                                    shape=list(first.shape)))
    (out_dir / "design.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return design
