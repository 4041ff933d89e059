"""Analytic resource model: counts what the Verilog backend will build (from the same MAC plan the
backend uses) and turns the counts into LUT/FF/CARRY/DSP/BRAM with coefficients fitted against
Yosys (``benchmarks/calibrate_estimate.py`` writes ``coefficients.json``). Milliseconds per graph.

The counts ("features") per node, all in bits unless said otherwise:

* ``add_bits``: adder bits: shift-add adders of constant multipliers, adder-tree adders, folded
  accumulators (one adder of ``w`` bits = ``w``).
* ``macc_bits``: bits of the partial products that Yosys itself turns into a multi-operand adder
  (``x * c`` with a constant ``c`` written as ``*`` and no DSP): one row of ``x``'s width per set
  bit of ``c`` beyond the first.
* ``mul_bits``: variable multipliers built from LUTs (folded layers without DSP):
  width(x) * width(w) each.
* ``mux_bits``: multiplexer input bits (folded layers select weights and inputs by a counter).
* ``cast_bits``: bits through a cast / clamp / compare block (result casts, relu, pools).
* ``rom_bits``: ROM contents in LUTs (table ops), per read port.
* ``reg_bits``: flip-flop bits (layer output registers, pipeline registers, accumulators, the
  top's valid/last pipeline and delay lines).
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources as ilr

import numpy as np

from qhw.errors import ConfigError
from qhw.estimate.resources import Resources

FEATURES = ("add_bits", "macc_bits", "mul_bits", "mux_bits", "cast_bits", "rom_bits", "reg_bits")
#: DSP48E1 multiplier operand limits (signed bits)
DSP_A, DSP_B = 25, 18
MAC_OPS = ("dense", "conv1d", "conv2d")
TABLE_OPS = ("sigmoid", "tanh")
#: ROMs at least this many bits per read port go to block RAM (two read ports per 18 Kb block)
BRAM_MIN_BITS = 16384


@lru_cache(maxsize=1)
def coefficients() -> dict:
    """Fitted coefficients per target: {target: {"lut": {feature: c}, "ff": ..., "carry": ...}}."""
    text = ilr.files("qhw.estimate").joinpath("coefficients.json").read_text()
    return json.loads(text)


def _digits(c: np.ndarray, csd: bool) -> np.ndarray:
    """Non-zero digits of |c| (binary popcount or canonical signed digits), vectorized."""
    a = np.abs(c.astype(np.int64))
    if csd:
        # CSD digit count = popcount(a XOR 3a) / 2 ... via the standard identity on a and 3a
        a3 = 3 * a
        x = (a3 ^ a) >> 1
    else:
        x = a
    n = np.zeros_like(x)
    while np.any(x):
        n += x & 1
        x >>= 1
    return n


def _mac_features(node, in_fmt, in_shape, options: dict, nodsp: bool) -> tuple[dict, int]:
    """Feature counts and DSPs of one dense/conv node, from the backend's own MAC plan."""
    from qhw.backends.verilog.mac import MacPlan, mac_terms, shift_add_network
    from qhw.backends.verilog.shiftadd import Adder

    terms, _ = mac_terms(node, tuple(in_shape))
    plan = MacPlan(node, in_fmt, terms)
    f = dict.fromkeys(FEATURES, 0)
    r = int(node.attrs.get("reuse_factor") or options.get("reuse_factor") or 1)
    ws = plan.sum_width
    res = plan.res
    n_out = len(terms)
    bx = in_fmt.width
    f["cast_bits"] += n_out * res.width
    f["reg_bits"] += n_out * res.width
    dsp = 0
    if plan.mode == "chain" or (r == 1 and plan.term_cast is not None):
        # per-term casts: a multiplier (DSP or LUT) and a cast block per term
        n_terms = sum(len(t) for t in terms)
        bw = plan.w.width
        if nodsp or bx > DSP_A or bw > DSP_B:
            f["mul_bits"] += n_terms * bx * bw
        else:
            dsp += n_terms
        f["cast_bits"] += n_terms * plan.acc.width
        f["add_bits"] += n_terms * ws
        return f, dsp
    if r == 1:
        mult = options.get("multipliers", "auto")
        wcs = [np.array([wc << plan.shift for _, wc in t], np.int64) for t in terms]
        if mult == "csd":
            net = shift_add_network(plan, in_fmt, options)
            f["add_bits"] += net.cost_bits() + sum(ws for b in plan.b0 if b)
            f["reg_bits"] += sum(net.width(p.out) for p in net.steps if not isinstance(p, Adder)) + \
                sum(a.width for a in net.adders if a.level in net.reg_levels)
            return f, dsp
        for w in wcs:
            if w.size == 0:
                continue
            a = np.abs(w)
            pow2 = (a & (a - 1)) == 0
            f["add_bits"] += (len(w) - 1) * ws
            nonpow2 = w[~pow2]
            if nonpow2.size == 0:
                continue
            wbits = int(np.max(np.ceil(np.log2(np.abs(nonpow2) + 1)))) + 1
            if not nodsp and bx <= DSP_A and wbits <= DSP_B:
                dsp += int(nonpow2.size)
            else:
                f["macc_bits"] += int(np.sum(_digits(nonpow2, csd=False) - 1)) * bx
        return f, dsp
    # folded by r: one multiplier per chunk slot, muxed weights and inputs, an accumulator
    maxt = max((len(t) for t in terms), default=0)
    chunk = max(1, math.ceil(maxt / r))
    n_mul = n_out * chunk
    bw = plan.w.width
    if nodsp or bx > DSP_A or bw > DSP_B:
        f["mul_bits"] += n_mul * bx * bw
    else:
        dsp += n_mul
    f["mux_bits"] += n_mul * (r - 1) * (bx + bw)
    f["add_bits"] += n_out * chunk * ws
    f["reg_bits"] += n_out * ws + int(np.prod(in_shape)) * bx + max(1, (r - 1).bit_length()) + 1
    return f, dsp


def _node_features(node, graph, options: dict, nodsp: bool) -> tuple[dict, int, int]:
    """(features, dsp, bram) of one node."""
    f = dict.fromkeys(FEATURES, 0)
    if node.op == "input":
        return f, 0, 0
    srcs = [graph.node(s) for s in node.inputs]
    in_fmt = srcs[0].formats["result"]
    if node.op in MAC_OPS:
        feats, dsp = _mac_features(node, in_fmt, srcs[0].shape, options, nodsp)
        return feats, dsp, 0
    res = node.formats["result"]
    n = int(np.prod(node.shape))
    f["reg_bits"] += n * res.width
    bram = 0
    if node.op in ("flatten", "reshape", "output", "concat"):
        f["cast_bits"] += 0 if all(s.formats["result"] == res for s in srcs) else n * res.width
    elif node.op in ("add", "mul"):
        f["add_bits" if node.op == "add" else "mul_bits"] += n * (
            res.width if node.op == "add" else in_fmt.width * srcs[-1].formats["result"].width)
        f["cast_bits"] += n * res.width
    elif node.op.startswith(("maxpool", "avgpool")):
        taps = int(np.prod(np.atleast_1d(node.attrs.get("kernel_size", 2))))
        f["add_bits"] += n * (taps - 1) * (in_fmt.width + 1)
        f["cast_bits"] += n * res.width
    elif node.op in TABLE_OPS and node.attrs.get("variant", "rom") in ("rom", "half_rom", "hls4ml"):
        tfmt = node.formats.get("table", res)
        bits = int(node.attrs.get("table_size", 1024)) * tfmt.width
        if bits >= BRAM_MIN_BITS:
            bram += math.ceil(n / 2) * math.ceil(bits / 18432)
        else:
            f["rom_bits"] += n * bits
        f["cast_bits"] += n * res.width
    else:
        f["cast_bits"] += n * res.width
    return f, 0, bram


def features(graph, options: dict | None = None, nodsp: bool = False) -> tuple[dict, int, int]:
    """Summed feature counts (see module docstring), DSPs and BRAM (18 Kb units) of a graph."""
    options = dict(options or {})
    mult = options.get("multipliers", "auto")
    if mult not in ("auto", "csd"):
        raise ConfigError(f"options['multipliers'] must be 'auto' or 'csd', got {mult!r}")
    total = dict.fromkeys(FEATURES, 0)
    dsp = bram = 0
    depth = 0
    for node in graph.nodes():
        f, d, b = _node_features(node, graph, options, nodsp)
        for k, v in f.items():
            total[k] += int(v)
        dsp += d
        bram += b
        if node.op != "input":
            depth += 1
    total["reg_bits"] += 2 * depth + 2  # the top's valid/last pipeline
    return total, dsp, bram


def analytic(graph, *, target: str = "xilinx", options: dict | None = None,
             nodsp: bool = False) -> Resources:
    """Estimated resources of the RTL that ``write_verilog(graph, options=options)`` would write
    (options: ``multipliers`` "auto"|"csd", ``reuse_factor``, ``tree_stage_levels``), as Yosys
    ``synth_<target> -flatten`` would count them; ``nodsp`` forbids DSP blocks."""
    coef = coefficients()
    if target not in coef:
        raise ConfigError(f"no analytic model for target {target!r}; calibrated: {', '.join(sorted(coef))}")
    c = coef[target]
    feats, dsp, bram = features(graph, options, nodsp)

    def lin(kind: str) -> int:
        cc = c[kind]
        v = cc.get("const", 0.0) + sum(cc.get(k, 0.0) * feats[k] for k in FEATURES)
        return max(0, int(round(v)))

    return Resources(lut=lin("lut"), ff=lin("ff"), dsp=int(dsp), bram=int(bram),
                     carry=lin("carry"), source="analytic")
