"""Analytic resource model: counts what the Verilog backend builds (from the same MAC plan and
shift-add network the backend uses) and turns the counts into LUT/FF/CARRY with linear
coefficients fitted against Yosys (``benchmarks/calibrate_estimate.py`` writes
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
* ``arith_bits``, ``ccmp_bits``, ``sel_bits``, ``csel_bits``, ``cmul_bits``, ``vmul_bits``, ``msum_bits``, ``bram_addr_bits``, ``lut_cells``, ``ff_cells``: counted by
  :mod:`qhw.estimate.blocks` for softmax, hard_sigmoid, embedding, pools, threshold, gathers,
  requantize, sigmoid/tanh tables (block RAM per target) and the output FIFO.
"""
from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources as ilr

import numpy as np

from qhw.backends.verilog.requant import signed_bits
from qhw.errors import ConfigError
from qhw.estimate.resources import Resources
from qhw.fixed import FixedFormat

FEATURES = ("sa_bits", "add_bits", "tree_bits", "dsp_tree_bits", "macc_bits", "mul_bits", "mux_bits", "cast_bits", "rom_bits", "rom_flips", "rom_clamp_bits", "reg_bits",
            "arith_bits", "ccmp_bits", "sel_bits", "csel_bits", "cmul_bits", "vmul_bits",
            "msum_bits", "bram_addr_bits", "lut_cells", "ff_cells")  # last ten: estimate.blocks
#: DSP48E1 signed multiplier operand limits (bits)
DSP_A, DSP_B = 25, 18
#: smallest product width Yosys' synth_xilinx puts into a DSP48E1 (its DSP_Y_MINWIDTH)
DSP_Y_MIN = 9
MAC_OPS = ("dense", "conv1d", "conv2d")
TABLE_OPS = ("sigmoid", "tanh")
#: ROMs of at least this many bits whose output feeds a register directly go to block RAM (2 read
#: ports per 18 Kb block); measured with synth_xilinx: 6,144 bits stay in LUTs, 10,240 do not
BRAM_MIN_BITS = 8192
BRAM_BITS = 18432


@lru_cache(maxsize=1)
def coefficients() -> dict:
    """Fitted coefficients: {target: {"lut"|"ff"|"carry": {feature | "const": value}}}."""
    return json.loads(ilr.files("qhw.estimate").joinpath("coefficients.json").read_text())


def popcount(a: np.ndarray) -> np.ndarray:
    """Set bits of non-negative int64 values (vectorized)."""
    a = a.astype(np.uint64)
    n = np.zeros(a.shape, np.int64)
    while np.any(a):
        n += (a & np.uint64(1)).astype(np.int64)
        a = a >> np.uint64(1)
    return n


def _span(fmt: FixedFormat) -> tuple[int, int]:
    """(lsb, msb) bit positions (powers of two) a format can hold; msb is the top bit."""
    return -fmt.frac_bits, fmt.width - fmt.frac_bits - 1


def _live(res: FixedFormat, lsb: int, msb: int) -> tuple[int, int]:
    """Live (lsb, msb) of a value with bit positions lsb..msb stored in ``res``."""
    rl, rm = _span(res)
    lo, hi = max(rl, lsb), min(rm, msb)
    return lo, max(lo, hi)


def _bits(span: tuple[int, int]) -> int:
    return span[1] - span[0] + 1


class _Counter:
    """Accumulates features, DSPs and BRAM over the nodes of one graph."""

    def __init__(self, target: str = "xilinx") -> None:
        self.target = target
        self.distinct: dict[str, int] = {}  # distinct values per node, where fewer than elements
        self.f = dict.fromkeys(FEATURES, 0)
        self.dsp = 0
        self.bram = 0

    def add(self, **kw: int) -> None:
        for k, v in kw.items():
            self.f[k] += int(v)


def _table(cnt: _Counter, node, x: FixedFormat, n: int) -> bool:
    """sigmoid/tanh, as :mod:`qhw.backends.verilog.lut` builds them, ``n`` elements.

    ROM: the address (an offset and a clamp, or |x| for a half table) and the table. A table whose
    entries go straight to the output register (full table, entry format = result) and holds at
    least BRAM_MIN_BITS becomes block RAM; otherwise it is logic (``rom_bits``). PWL: |x|, per
    segment a subtraction, a constant multiply (``x * m`` written as ``*``: ``macc_bits``, none
    for a power-of-two slope), an intercept add, a comparison and a select, then the mirror.
    Returns True when the table went to block RAM (which absorbs the output register)."""
    from qhw.ops import get as get_op

    t = get_op(node.op, node.name).table(node, x)
    w = x.width + 1
    res = node.formats["result"]
    if node.attrs.get("variant") == "pwl":
        sf = t.sum_format()
        segs = len(t.breakpoints_raw)
        slopes = [abs(int(m)) for m in t.slopes_raw][: max(segs - 1, 0)]
        macc = sum(w * int(popcount(np.array([m]))[0]) for m in slopes if m & (m - 1))
        cnt.add(macc_bits=n * macc, add_bits=n * (2 * w + 2 * (segs - 1) * sf.width),
                cast_bits=n * (segs - 1) * (w + sf.width))
        return False
    entries = len(t.values)
    tf = t.table_fmt
    bits = entries * tf.width
    direct = not t.half and tf == res
    cnt.add(add_bits=n * w * (2 if t.half else 1))  # offset or |x| (the clamp: rom_clamp_bits)
    if direct and bits >= BRAM_MIN_BITS:
        cnt.bram += math.ceil(n / 2) * math.ceil(bits / BRAM_BITS)
        return True
    else:
        out = res.cast(np.asarray(t.values, np.int64), tf) & ((1 << res.width) - 1)
        planes = (out[None, :] >> np.arange(res.width)[:, None]) & 1  # (bit, address)
        flips = int(np.count_nonzero(np.diff(planes, axis=1)))
        live = int(np.count_nonzero(planes.min(axis=1) != planes.max(axis=1)))
        aw = max(1, (entries - 1).bit_length())
        if t.convention == "hls4ml":  # index = x * size / (span * 2**f)
            span = 16 if t.function == "sigmoid" else 8
            drop = span.bit_length() - 1 + x.frac_bits - (t.size.bit_length() - 1)
        else:
            drop = t.shift
        extra = max(0, x.width - int(t.half) - max(drop, 0) - aw)
        cnt.add(rom_bits=n * entries * live, rom_flips=n * flips, rom_clamp_bits=n * live * extra)
    if t.half:
        cnt.add(add_bits=n * (tf.width + 2))  # the mirrored entry
    return False


def _mac(cnt: _Counter, node, in_fmt: FixedFormat, in_span, nonneg: bool, in_shape,
         options: dict, nodsp: bool) -> tuple[int, int]:
    """Count one dense/conv node with the backend's own MAC plan; returns its live span. The
    input's constant bits (below its live LSB; the sign of a non-negative input) are left out of
    operand widths, as Yosys removes them."""
    from qhw.backends.verilog.mac import MacPlan, mac_terms, shift_add_network

    terms, _ = mac_terms(node, tuple(in_shape))
    plan = MacPlan(node, in_fmt, terms)
    r = int(node.attrs.get("reuse_factor") or options.get("reuse_factor") or 1)
    ws, res, n_out, bw = plan.sum_width, plan.res, len(terms), plan.w.width
    k = max(0, in_span[0] + in_fmt.frac_bits)
    x_range = (0 if nonneg else in_fmt.raw_min >> k, in_fmt.raw_max >> k)
    bx = signed_bits(*x_range)
    acc_lsb = -plan.acc.frac_bits
    prod_lsb = max(acc_lsb, in_span[0] - plan.w.frac_bits)
    span = _live(res, min(prod_lsb, acc_lsb if any(plan.b0) else prod_lsb), acc_lsb + ws - 2)
    cnt.add(cast_bits=n_out * _bits(span), reg_bits=n_out * _bits(span))
    use_dsp = not nodsp and in_fmt.width <= DSP_A and bw <= DSP_B
    n_terms = sum(len(t) for t in terms)
    bias_adds = sum(1 for b in plan.b0 if b)
    if plan.mode == "chain" or (r == 1 and plan.term_cast is not None):
        # a multiplier and a cast per term, then adders
        if use_dsp:
            cnt.dsp += n_terms
        else:
            cnt.add(mul_bits=n_terms * bx * bw)
        cnt.add(cast_bits=n_terms * plan.acc.width, add_bits=n_terms * ws)
        return span
    if r == 1:
        every = int(options.get("tree_stage_levels", 0) or 0)
        if options.get("multipliers", "auto") == "csd":
            from qhw.backends.verilog.shiftadd import Adder

            net = shift_add_network(plan, in_fmt, options, x_range)
            cnt.add(sa_bits=net.cost_bits(), add_bits=bias_adds * ws)
            cnt.add(reg_bits=sum(net.width(s.out) for s in net.steps
                                 if not isinstance(s, Adder) or s.level in net.reg_levels))
            return span
        depth = 0
        for j, tl in enumerate(terms):
            w = np.array([wc << plan.shift for _, wc in tl], np.int64)
            leaves = len(w) + (1 if plan.b0[j] else 0)
            depth = max(depth, max(1, (leaves - 1).bit_length()))
            a = np.abs(w)
            nonpow2 = a[(a & (a - 1)) != 0]
            n_dsp = 0
            if nonpow2.size and use_dsp:
                # Yosys maps x * c to a DSP48E1 when the product has >= DSP_Y_MIN bits
                cbits = np.floor(np.log2(nonpow2)).astype(np.int64) + 2
                on_dsp = (bx + cbits >= DSP_Y_MIN) & (cbits <= DSP_B)
                n_dsp = int(np.sum(on_dsp))
                nonpow2 = nonpow2[~on_dsp]
            cnt.dsp += n_dsp
            absorbed = min(n_dsp, max(0, leaves - 1))
            cnt.add(tree_bits=(max(0, leaves - 1) - absorbed) * ws, dsp_tree_bits=absorbed * ws,
                    macc_bits=int(np.sum(popcount(nonpow2) - 1)) * bx)
        if every:
            # registers after every `every`-th level: about half the operands per level
            regs = sum(max(1, len(tl) >> lv) for tl in terms for lv in range(every, depth + 1, every))
            cnt.add(reg_bits=regs * ws)
        return span
    # folded by r: one multiplier per chunk slot, muxed weights and inputs, an accumulator
    chunk = max(1, math.ceil(max((len(t) for t in terms), default=0) / r))
    n_mul = n_out * chunk
    if use_dsp:
        cnt.dsp += n_mul
    else:
        cnt.add(mul_bits=n_mul * bx * bw)
    cnt.add(mux_bits=n_mul * (r - 1) * (bx + bw), add_bits=n_out * chunk * ws,
            reg_bits=n_out * ws + int(np.prod(in_shape)) * bx + max(1, (r - 1).bit_length()) + 1)
    return span


def _block(cnt: _Counter, node, srcs, spans: dict, options: dict, nodsp: bool):
    """Count ``node`` with its :mod:`qhw.estimate.blocks` cost, if it has one; returns its live
    output span (None: not a block kind there)."""
    from qhw.estimate import blocks

    ctx = blocks.CostContext(node, tuple(s.formats["result"] for s in srcs),
                             tuple(tuple(s.shape) for s in srcs), tuple(spans[s.name] for s in srcs),
                             options, cnt.target, nodsp,
                             tuple(cnt.distinct.get(s.name, int(np.prod(s.shape))) for s in srcs))
    cost = blocks.cost_of(ctx)
    if cost is None:
        return None
    if cost.distinct is not None:
        cnt.distinct[node.name] = cost.distinct
    cnt.add(**cost.features)
    cnt.dsp += cost.dsp
    cnt.bram += cost.bram
    return cost.span or _span(node.formats["result"])


def _nonneg(node, graph, nonneg: dict) -> bool:
    """Whether every value of ``node`` is >= 0 (its sign bit, if any, is constant)."""
    res = node.formats["result"]
    if not res.signed or node.op in ("relu", "relu6"):
        return True
    if node.op == "clip":
        return node.attrs.get("min_value") is not None and node.attrs["min_value"] >= 0
    if node.op in ("flatten", "reshape", "output", "concat", "maxpool1d", "maxpool2d", "upsample", "depth_to_space"):
        return all(nonneg[s] for s in node.inputs)
    return False


def _node(cnt: _Counter, node, graph, spans: dict, nonneg: dict, options: dict,
          nodsp: bool) -> tuple[int, int]:
    """Count one node; returns the live (lsb, msb) span of its output."""
    res = node.formats["result"]
    if node.op == "input":
        return _span(res)
    srcs = [graph.node(s) for s in node.inputs]
    in_fmt, in_span = srcs[0].formats["result"], spans[srcs[0].name]
    if node.op in MAC_OPS:
        return _mac(cnt, node, in_fmt, in_span, nonneg[srcs[0].name], srcs[0].shape, options,
                    nodsp)
    block = _block(cnt, node, srcs, spans, options, nodsp)  # qhw.estimate.blocks (issue 16.5)
    if block is not None:
        return block
    n = int(np.prod(node.shape))
    lsb = min(spans[s.name][0] for s in srcs)
    msb = max(spans[s.name][1] for s in srcs)
    if node.op == "add":
        span = _live(res, lsb, msb + 1)
        cnt.add(add_bits=n * _bits(span))
    elif node.op == "mul":
        span = _live(res, sum(spans[s.name][0] for s in srcs), sum(spans[s.name][1] + 1 for s in srcs))
        cnt.add(mul_bits=n * in_fmt.width * srcs[-1].formats["result"].width)
    elif node.op.startswith("avgpool"):
        taps = int(np.prod(np.atleast_1d(node.attrs.get("kernel_size", 2))))
        span = _live(res, -res.frac_bits, msb)
        cnt.add(add_bits=n * (taps - 1) * (_bits(in_span) + 1))
    elif node.op.startswith("maxpool"):
        taps = int(np.prod(np.atleast_1d(node.attrs.get("kernel_size", 2))))
        span = _live(res, lsb, msb)
        cnt.add(cast_bits=n * (taps - 1) * _bits(in_span))
    elif node.op in TABLE_OPS:
        span = _span(res)
        if _table(cnt, node, in_fmt, n):  # block RAM: its output register is the layer's
            cnt.add(cast_bits=n * _bits(span))
            return span
    elif node.op == "threshold":  # T comparators per element, then a (T+1)-way select
        steps = int(node.params["thresholds"].shape[1])
        span = _span(res)
        cnt.add(add_bits=n * steps * (in_fmt.width + 1), rom_bits=n * (steps + 1) * res.width)
    elif node.op in ("requantize", "shift"):
        span = _span(res)
    else:  # clamps (relu, clip), casts (output, flatten, reshape, concat, upsample)
        span = _live(res, lsb, msb)
    copy = node.op in ("flatten", "reshape", "output", "concat", "upsample", "depth_to_space") and all(
        s.formats["result"] == res for s in srcs)
    cnt.add(reg_bits=n * _bits(span), cast_bits=0 if copy else n * _bits(span))
    return span


def features(graph, options: dict | None = None, nodsp: bool = False,
             target: str = "xilinx") -> tuple[dict, int, int]:
    """Summed feature counts (module docstring), DSPs and block RAMs of a graph for ``target``
    (the output FIFO included when ``options["output_fifo"]``)."""
    options = dict(options or {})
    mult = options.get("multipliers", "auto")
    if mult not in ("auto", "csd"):
        raise ConfigError(f"options['multipliers'] must be 'auto' or 'csd', got {mult!r}")
    cnt = _Counter(target)
    spans: dict[str, tuple[int, int]] = {}
    nonneg: dict[str, bool] = {}
    layers = 0
    for node in graph.nodes():
        spans[node.name] = _node(cnt, node, graph, spans, nonneg, options, nodsp)
        nonneg[node.name] = _nonneg(node, graph, nonneg)
        layers += node.op != "input"
    cnt.add(reg_bits=2 * layers)  # the top's valid/last pipeline (about one stage per layer)
    if options.get("output_fifo"):
        from qhw.estimate import blocks

        out_bits = sum(int(np.prod(graph.node(n).shape)) * graph.node(n).formats["result"].width
                       for n in graph.output_names)
        lat, ii = blocks.pipeline_timing(graph, options)
        ctx = blocks.CostContext(None, (), (), None, options, target, nodsp)
        fifo = blocks.cost_output_fifo(ctx, out_bits, lat, ii)
        cnt.add(**fifo.features)
        cnt.bram += fifo.bram
    return cnt.f, cnt.dsp, cnt.bram


def predict(feats: dict, coef: dict) -> int:
    """A linear model ``const + sum(coef[k] * feats[k])``, rounded, at least 0."""
    v = coef.get("const", 0.0) + sum(coef.get(k, 0.0) * feats[k] for k in FEATURES)
    return max(0, int(round(v)))


def analytic(graph, *, target: str = "xilinx", options: dict | None = None,
             nodsp: bool = False) -> Resources:
    """Estimated resources of the RTL ``write_verilog(graph, options=options)`` writes (options:
    ``multipliers`` "auto"|"csd", ``reuse_factor``, ``tree_stage_levels``), as Yosys
    ``synth_<target> -flatten`` counts them; ``nodsp`` forbids DSP blocks. Calibrated targets:
    the keys of ``coefficients.json`` (``<target>/dsp`` holds the coefficients fitted with DSPs
    allowed, when there are any). Block costs use each target's DSP and block RAM rules; the
    dense/conv layers' DSP count follows the DSP48E1 rule on every target (a rough guide on
    ECP5 and iCE40)."""
    coef = coefficients()
    if target not in coef:
        raise ConfigError(f"no analytic model for target {target!r}; calibrated: "
                          f"{', '.join(sorted(k for k in coef if '/' not in k))}")
    c = coef.get(f"{target}/dsp", coef[target]) if not nodsp else coef[target]
    feats, dsp, bram = features(graph, options, nodsp, target)
    lut, ff = predict(feats, c["lut"]), predict(feats, c["ff"])
    return Resources(lut=lut, ff=ff, dsp=int(dsp), bram=int(bram), carry=predict(feats, c["carry"]),
                     source="analytic")
