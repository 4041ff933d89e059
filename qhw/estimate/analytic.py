"""Analytic resource model: sums what the Verilog backend builds, as each op's lowering counts it
beside its ``lower()`` (``cost()`` in :mod:`qhw.backends.verilog.lowering`; the MAC layers from the
same MAC plan and shift-add network the backend uses), and turns the counts into LUT/FF/CARRY with
linear coefficients fitted against Yosys (``benchmarks/calibrate_estimate.py`` writes
``coefficients.json``); DSP and BRAM are counted directly. Milliseconds per graph.

Counts ("features") per design, in bits:

* ``sa_bits``: shift-add network adders of ``multipliers="csd"`` layers, exact widths (an adder
  that adds only its upper bits counts those).
* ``add_bits``: other adders: bias adders, folded accumulators, element-wise adds.
* ``tree_bits``: adder-tree bits of ``multipliers="auto"`` layers, every adder at the full sum
  width (Yosys narrows them).
* ``dsp_tree_bits``: the part of those trees next to DSP products (one adder per DSP product,
  which a DSP48E1 post-adder may absorb).
* ``macc_bits``: partial-product rows Yosys turns into a multi-operand adder for ``x * c``
  without DSP (constant ``c`` written as ``*``): input width per set bit of ``c``.
* ``mul_bits``: variable multipliers in LUTs (folded layers without DSP, element-wise ``mul``):
  width(x) * width(w) each.
* ``mux_bits``: bits selected by the folding counter (weights and inputs): bits * (R - 1).
* ``cast_bits``: live bits through a cast / clamp / compare (result casts, relu, max pools).
* ``rom_bits``: ROM contents kept in LUTs (table ops), per read port: entries times the entry
  bits that vary (after the cast to the result; Yosys drops constant bits).
* ``rom_flips``: for the same ROMs, how often each of those bits changes between consecutive
  addresses, summed: a smooth table (sigmoid) needs logic in proportion to its transitions
  rather than its size.
* ``rom_clamp_bits``: those ROMs' varying output bits times the input bits above the address
  (they decide the clamp at the table's ends, which Yosys folds into every output bit).
* ``reg_bits``: live flip-flop bits: layer output registers, pipeline registers, accumulators,
  the top's valid/last pipeline. "Live" = bits that can change: Yosys removes register bits
  that are constant (fraction bits below the inputs' LSB) and merges sign-extension copies.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources as ilr

import numpy as np

from qhw.backends.verilog import lowering as lowerings
from qhw.backends.verilog.lowering import FEATURES, CostContext, Lowering, span
from qhw.backends.verilog.lowering import popcount  # noqa: F401 (its former home)
from qhw.backends.verilog.lut import BRAM_BITS, BRAM_MIN_BITS  # noqa: F401 (the table cost's)
from qhw.backends.verilog.mac import DSP_A, DSP_B, DSP_Y_MIN  # noqa: F401 (the MAC cost's)
from qhw.errors import ConfigError
from qhw.estimate.resources import Resources

#: the cost of an op no lowering serves yet (a cast and a register per element)
_FALLBACK = Lowering()


@lru_cache(maxsize=1)
def coefficients() -> dict:
    """Fitted coefficients: {target: {"lut"|"ff"|"carry": {feature | "const": value}}}."""
    return json.loads(ilr.files("qhw.estimate").joinpath("coefficients.json").read_text())


def features(graph, options: dict | None = None, nodsp: bool = False,
             target: str = "xilinx") -> tuple[dict, int, int]:
    """Summed feature counts (module docstring), DSPs and BRAM (18 Kb units) of a graph for
    ``target``: per node its block cost (:mod:`qhw.estimate.blocks`, for the kinds measured
    block by block) or else its Verilog lowering's ``cost()``
    (:mod:`qhw.backends.verilog.lowering`), each told its inputs' live bits, signs and distinct
    values; plus the top's valid/last pipeline and, with ``options["output_fifo"]``, the FIFO."""
    from qhw.backends.verilog.stream import stream_cost  # cnn18
    from qhw.estimate import blocks
    from qhw.ops import Trait, has

    options = dict(options or {})
    mult = options.get("multipliers", "auto")
    if mult not in ("auto", "csd"):
        raise ConfigError(f"options['multipliers'] must be 'auto' or 'csd', got {mult!r}")
    total = dict.fromkeys(FEATURES, 0)
    dsp = bram = layers = 0
    spans: dict[str, tuple[int, int]] = {}
    nonneg: dict[str, bool] = {}
    distinct: dict[str, int] = {}  # distinct values per node, where fewer than its elements
    inputs = set(graph.input_names)
    for node in graph.nodes():
        res = node.formats["result"]
        if node.name in inputs:
            spans[node.name], nonneg[node.name] = span(res), not res.signed
            continue
        layers += 1
        ctx = CostContext.of(node, graph, options=options, nodsp=nodsp, target=target,
                             in_spans=tuple(spans[s] for s in node.inputs),
                             in_nonneg=tuple(nonneg[s] for s in node.inputs))
        low = lowerings.find(node.op) or _FALLBACK
        block = None
        if not has(node.op, Trait.MAC):  # MAC layers: the MAC plan's own count
            srcs = [graph.node(s) for s in node.inputs]
            block = blocks.cost_of(blocks.CostContext(
                node, ctx.in_fmts, ctx.in_shapes, ctx.in_spans, options, target, nodsp,
                tuple(distinct.get(s.name, int(np.prod(s.shape))) for s in srcs)))
        block = stream_cost(node, graph, ctx, options) or block  # cnn18: a streamed layer costs what it builds
        if block is not None:
            got = dict(block.features, dsp=block.dsp, bram=block.bram)
            if block.distinct is not None:
                distinct[node.name] = block.distinct
            spans[node.name] = block.span or span(res)
        else:
            got = low.cost(ctx)
            spans[node.name] = low.live_span(ctx)
        for k in FEATURES:
            total[k] += int(got.get(k, 0))
        dsp += int(got.get("dsp", 0))
        bram += int(got.get("bram", 0))
        nonneg[node.name] = low.nonneg(ctx)
    total["reg_bits"] += 2 * layers  # the top's valid/last pipeline (about one stage per layer)
    if options.get("output_fifo"):
        out_bits = sum(int(np.prod(graph.node(n).shape)) * graph.node(n).formats["result"].width
                       for n in graph.output_names)
        lat, ii = blocks.pipeline_timing(graph, options)
        fifo = blocks.cost_output_fifo(blocks.CostContext(None, (), (), None, options, target, nodsp),
                                       out_bits, lat, ii)
        for k, v in fifo.features.items():
            total[k] += int(v)
        bram += int(fifo.bram)
    return total, dsp, bram


def predict(feats: dict, coef: dict) -> int:
    """A linear model ``const + sum(coef[k] * feats[k])``, rounded, at least 0."""
    v = coef.get("const", 0.0) + sum(coef.get(k, 0.0) * feats[k] for k in FEATURES)
    return max(0, int(round(v)))


def analytic(graph, *, target: str = "xilinx", options: dict | None = None,
             nodsp: bool = False) -> Resources:
    """Estimated resources of the RTL ``write_verilog(graph, options=options)`` writes (options:
    ``multipliers`` "auto"|"csd", ``reuse_factor``, ``tree_stage_levels``, ``output_fifo``), as
    Yosys ``synth_<target> -flatten`` counts them; ``nodsp`` forbids DSP blocks. Calibrated
    targets: the keys of ``coefficients.json`` (``<target>/dsp`` holds the coefficients fitted
    on designs that use DSP blocks; a design that uses none is estimated with ``<target>``'s).
    Every multiplier, dense/conv layers' included, is counted as a DSP by the target's Yosys
    ``mul2dsp`` rule (:func:`qhw.backends.verilog.mac.dsp_count`); block RAM by each target's
    rule."""
    coef = coefficients()
    if target not in coef:
        raise ConfigError(f"no analytic model for target {target!r}; calibrated: "
                          f"{', '.join(sorted(k for k in coef if '/' not in k))}")
    feats, dsp, bram = features(graph, options, nodsp, target)
    # DSPs allowed but none used: Yosys builds the netlist it builds without them
    c = coef.get(f"{target}/dsp", coef[target]) if not nodsp and dsp else coef[target]
    lut, ff = predict(feats, c["lut"]), predict(feats, c["ff"])
    return Resources(lut=lut, ff=ff, dsp=int(dsp), bram=int(bram), carry=predict(feats, c["carry"]),
                     source="analytic")
