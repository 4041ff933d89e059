"""Lowering a whole graph: one module per layer, a streaming AXI-Stream top, and a manifest.

Schedule: every layer has a fixed latency in clock-enabled cycles, so a node's output time is
``max(input times) + latency``; inputs that arrive early pass through delay lines. The whole
pipeline shares one clock enable (``ce``), low only while an output beat waits for
``m_axis_tready`` (full backpressure, nothing dropped). The initiation interval is the largest
layer II (a folded layer's reuse factor); the top spaces accepted beats by it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qhw.backends.verilog import lowering, timing
from qhw.backends.verilog.datapath import Datapath
from qhw.backends.verilog.mac_loop import big_layer_twin  # cnn18
from qhw.backends.verilog.naming import Namer, top_name
from qhw.backends.verilog.render import render
from qhw.errors import ConfigError
from qhw.ops import has
from qhw.ops.traits import Trait


@dataclass
class VerilogDesign:
    """What :func:`write_verilog` produced: folder, top module, files (relative to the folder,
    dependencies first, top last), latency and II in cycles, stream layout and per-layer info."""

    rtl_dir: Path
    top: str
    files: list[str]
    latency: int
    ii: int
    inputs: list[dict]
    outputs: list[dict]
    layers: list[dict] = field(default_factory=list)
    #: the simulation flavour's file list (``files`` with the MAC layers' ``sim/`` twins), when
    #: the design has any: what Verilator simulates; lint and synthesis read ``files``
    sim_files: list[str] = field(default_factory=list)
    #: with a ``clock_period`` option: the target, period, latency in ns and the estimated
    #: critical path (see :func:`write_verilog`); else None
    timing: dict | None = None

    def manifest(self) -> dict:
        man = dict(top=self.top, files=self.files, latency=self.latency, ii=self.ii,
                   inputs=self.inputs, outputs=self.outputs, layers=self.layers)
        if self.sim_files:
            man["sim_files"] = self.sim_files
        if self.timing is not None:
            man["timing"] = self.timing
        return man


def _lower(node, graph, module: str, prefix: str, options: dict) -> Datapath:
    """The node's layer, built by the lowering registered for its op."""
    ctx = lowering.Context.of(node, graph, options=options, module=module, prefix=prefix)
    return lowering.get(node).lower(ctx)


def _timing_plan(node, graph, options: dict, period: float | None, target: str) -> timing.Plan:
    """Where the node's layer gets pipeline registers for ``period`` ns on ``target`` (from its
    lowering's :meth:`~.lowering.Lowering.delay`), and its longest path after that."""
    ctx = lowering.cost_context(node, graph, options=options, target=target, nodsp=False)
    return timing.plan(lowering.get(node).delay(ctx), period, target)


def kernel_clock(knode, fmt, kshape, options: dict) -> tuple[dict, dict | None]:
    """A streamed layer's kernel block at the ``clock_period`` of ``options`` (the hook of
    :mod:`.stream`): the kernel's options with the pipeline registers its delay model places
    (``cuts``), and the layer's ``timing`` entry (as :func:`write_parallel` gives each layer);
    without a period, ``options`` unchanged and None."""
    period, target = _clock(options)
    if period is None:
        return options, None
    ctx = lowering.CostContext(knode, (fmt,), (tuple(kshape),), options=dict(options), target=target,
                               in_spans=(lowering.span(fmt),), in_nonneg=(not fmt.signed,))
    tplan = timing.plan(lowering.get(knode).delay(ctx), period, target)
    return dict(options, cuts=tplan.cuts), _layer_timing(tplan)


def _layer_timing(tplan: timing.Plan) -> dict:
    return dict(registers_added=len(tplan.cuts), path_ns=tplan.path_ns, block=tplan.block,
                stages=[dict(blocks=b, ns=ns) for b, ns in tplan.stages])


def _clock(options: dict) -> tuple[float | None, str]:
    """The ``clock_period`` option (ns, > 0, or None) and the ``target`` (default xilinx)."""
    period = options.get("clock_period")
    target = options.get("target") or "xilinx"
    if target not in timing.TARGETS:
        raise ConfigError(f"options['target'] must be one of {', '.join(timing.TARGETS)}, got {target!r}")
    if period is None:
        return None, target
    try:
        period = float(period)
    except (TypeError, ValueError):
        period = float("nan")
    if not (0 < period <= 1e6):
        raise ConfigError(f"options['clock_period'] must be a number of ns in (0, 1e6], got "
                          f"{options.get('clock_period')!r}")
    return period, target


def _layout(graph, names: list[str]) -> tuple[list[dict], int]:
    out, lo = [], 0
    for n in names:
        node = graph.node(n)
        fmt = node.formats["result"]
        size = int(np.prod(node.shape))
        out.append(dict(name=n, shape=list(node.shape), format=str(fmt), width=fmt.width,
                        signed=fmt.signed, elements=size, lo=lo, bits=size * fmt.width))
        lo += size * fmt.width
    return out, lo


def write_parallel(graph, out_dir: os.PathLike, top: str | None = None,
                   options: dict | None = None) -> VerilogDesign:
    """Write ``out_dir`` (the ``rtl/`` folder) with every layer parallel: one ``.v`` per module, ``filelist.f`` and
    ``design.json``. ``options``: ``top`` (module name, default the sanitized graph name),
    ``multipliers`` ("auto": shifts for powers of two, else ``*``; "csd": one shift-add network
    per layer from canonical signed digits, common subexpressions shared across its outputs —
    see qhw.backends.verilog.shiftadd), ``tree_stage_levels`` (adder-tree levels per pipeline register; 0 = none),
    ``reuse_factor`` (default for dense/conv nodes without their own ``reuse_factor``),
    ``output_fifo`` (True: the top ends in a small FIFO and throttles its input by credits, so the
    pipeline never stalls and no ready signal passes combinationally from output to input; one
    more cycle of latency), ``flavour`` ("sim": constant products as plain ``*`` expressions and
    adder trees inline instead of the shared ``<top>_cmul``/``<top>_add*`` modules Yosys needs).
    Every MAC layer whose simulation flavour differs also gets that twin in ``sim/``, listed in
    ``design.json`` ``sim_files``: the same plan, what Verilator simulates fastest.
    ``clock_period`` (ns: pipeline registers where each layer's delay model says a path would
    not fit, the fewest; see :mod:`qhw.backends.verilog.timing`; the manifest then holds a
    ``timing`` summary and every layer its stages) and ``target`` ("xilinx", "ecp5", "ice40":
    whose delays; default xilinx)."""
    options = dict(options or {})
    period, target = _clock(options)
    graph.validate()
    top = top_name(top or options.get("top") or graph.name or "qhw_top")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    namer = Namer(reserved=(top,))
    files: dict[str, str] = {}
    sim_files: dict[str, str] = {}  # the simulation flavour's differing files, written to sim/
    times: dict[str, int] = {}
    wires: dict[str, str] = {}
    layers, tensors, delays, layer_info = [], [], [], []
    inputs, in_bits = _layout(graph, graph.input_names)
    outputs, out_bits = _layout(graph, graph.output_names)
    default_r = options.get("reuse_factor")
    graph_inputs = set(graph.input_names)
    for node in graph.nodes():
        ident = namer(node.name)
        wire = f"t_{ident}"
        wires[node.name] = wire
        bits = int(np.prod(node.shape)) * node.formats["result"].width
        tensors.append(dict(wire=wire, bits=bits))
        if node.name in graph_inputs:
            times[node.name] = 0
            continue
        if default_r and has(node.op, Trait.MAC) and "reuse_factor" not in node.attrs:
            node = node.copy()
            node.attrs["reuse_factor"] = int(default_r)
        module = f"{top}_{ident}"
        node_options = options
        if period is not None:
            tplan = _timing_plan(node, graph, options, period, target)
            node_options = dict(options, cuts=tplan.cuts)
        dp = _lower(node, graph, module, top, node_options)
        files[f"{module}.v"] = dp.text()
        for mod, text in dp.units.items():
            files[f"{mod}.v"] = text
        if has(node.op, Trait.MAC) and options.get("flavour") != "sim":
            twin = _lower(node, graph, module, top, {**node_options, "flavour": "sim"})  # same cuts
            if twin.latency != dp.latency or twin.ii != dp.ii:
                raise AssertionError(f"{node.name}: the simulation twin's schedule differs")
            if twin.text() != files[f"{module}.v"]:
                sim_files[f"{module}.v"] = twin.text()
                sim_files.update((f"{m}.v", t) for m, t in twin.units.items() if f"{m}.v" not in files)
            sim_files.update(big_layer_twin(node, graph, module, top, dp.latency, dp.ii, files))  # cnn18
        start = max(times[s] for s in node.inputs)
        parts = []
        for s in node.inputs:
            lag = start - times[s]
            src = wires[s]
            if lag:
                name = f"d_{wires[s][2:]}_{lag}"  # the unique ident, not a re-sanitized name
                if not any(d["out"] == name for d in delays):
                    sbits = int(np.prod(graph.node(s).shape)) * graph.node(s).formats["result"].width
                    delays.append(dict(out=name, bits=sbits, n=lag, src=src, inst=f"u_{name}"))
                src = name
            parts.append(src)
        x = parts[0] if len(parts) == 1 else "{" + ", ".join(reversed(parts)) + "}"
        times[node.name] = start + dp.latency
        layers.append(dict(node=node.name, op=node.op, module=module, inst=ident, start=start,
                           latency=dp.latency, ii=dp.ii, x=x, y=wire))
        layer_info.append(dict(node=node.name, op=node.op, module=module, start=start,
                               latency=dp.latency, ii=dp.ii,
                               reuse_factor=int(node.attrs.get("reuse_factor", 1) or 1),
                               formats={k: str(v) for k, v in sorted(node.formats.items())},
                               multipliers=dict(sorted(getattr(dp, "stats", {}).items()))))
        if period is not None:
            layer_info[-1]["timing"] = _layer_timing(tplan)
    latency = max(max(times[n] for n in graph.output_names), 1)
    out_parts = []
    for n in graph.output_names:
        src, lag = wires[n], latency - times[n]
        if lag:
            name = f"d_{wires[n][2:]}_{lag}"
            bits = int(np.prod(graph.node(n).shape)) * graph.node(n).formats["result"].width
            delays.append(dict(out=name, bits=bits, n=lag, src=src, inst=f"u_{name}"))
            src = name
        out_parts.append(src)
    ii = max([l["ii"] for l in layers] + [1])
    pipe_latency = latency
    fifo_depth = 0
    if options.get("output_fifo"):
        # room for every sample a full-rate stream keeps in flight, plus the one being read
        need = -(-(latency + 1) // ii) + 1
        fifo_depth = 1 << max(1, (need - 1).bit_length())
        latency += 1  # a sample enters the FIFO, then leaves it
    in_wires = [dict(wire=wires[t["name"]], lo=t["lo"], hi=t["lo"] + t["bits"] - 1) for t in inputs]
    files[f"{top}_delay.v"] = render("delay.v.j2", name=f"{top}_delay")
    files[f"{top}.v"] = render(
        "top.v.j2", top=top, graph_name=graph.name, latency=latency, ii=ii,
        pipe_latency=pipe_latency, fifo_depth=fifo_depth, fifo_bits=max(1, (fifo_depth - 1).bit_length()),
        gap_bits=max(1, (ii - 1).bit_length()), in_bits=in_bits, out_bits=out_bits,
        in_layout=_layout_text(inputs), out_layout=_layout_text(outputs),
        tensors=tensors, inputs=in_wires, delays=delays if any(delays) else [],
        delay_module=f"{top}_delay", layers=layers,
        out_expr=out_parts[0] if len(out_parts) == 1 else "{" + ", ".join(reversed(out_parts)) + "}")
    order, sim_order = write_files(out_dir, top, files, sim_files)
    design = VerilogDesign(out_dir, top, order, latency, ii, inputs, outputs, layer_info, sim_order)
    if period is not None:
        design.timing = timing_summary(layer_info, latency, period, target)
    (out_dir / "design.json").write_text(json.dumps(design.manifest(), indent=2, sort_keys=True) + "\n")
    return design


def write_files(out_dir: Path, top: str, files: dict[str, str],
                sim_files: dict[str, str]) -> tuple[list[str], list[str]]:
    """Write a design's modules (``top`` last in ``filelist.f``) and its simulation flavour's
    differing files under ``sim/``; return both file orders (the simulation order reads ``sim/``
    where a file has a twin, and lists twin-only files first)."""
    order = sorted(f for f in files if f != f"{top}.v") + [f"{top}.v"]
    for f in order:
        (out_dir / f).write_text(files[f])
    (out_dir / "filelist.f").write_text("".join(f + "\n" for f in order))
    sim_order: list[str] = []
    if sim_files:
        (out_dir / "sim").mkdir(exist_ok=True)
        for f in sorted(sim_files):
            (out_dir / "sim" / f).write_text(sim_files[f])
        sim_order = (sorted(f"sim/{f}" for f in sim_files if f not in files)
                     + [f"sim/{f}" if f in sim_files else f for f in order])
    return order, sim_order


def timing_summary(layers: list[dict], latency: int, period: float, target: str) -> dict:
    """The design's timing at ``period`` ns on ``target``: latency in cycles and ns, the
    estimated critical path (layer, block, ns), the Fmax it allows, whether the period is met
    and the pipeline registers added (an estimate: :mod:`qhw.backends.verilog.timing`)."""
    worst = max(layers, key=lambda l: l["timing"]["path_ns"], default=None)
    path = worst["timing"]["path_ns"] if worst else timing.model(target).reg
    return dict(target=target, clock_period_ns=period, latency_cycles=latency,
                latency_ns=round(latency * period, 3),
                critical_path=dict(layer=worst["node"] if worst else None,
                                   block=worst["timing"]["block"] if worst else None, ns=path),
                fmax_mhz_estimate=round(1000.0 / path, 1), met=path <= period + 1e-9,
                registers_added=sum(l["timing"]["registers_added"] for l in layers),
                model="estimate (qhw.backends.verilog.timing)")


def _layout_text(items: list[dict]) -> str:
    return "; ".join(f"{t['name']} {t['shape']} x {t['format']} at bits [{t['lo'] + t['bits'] - 1}:{t['lo']}]"
                     for t in items)
