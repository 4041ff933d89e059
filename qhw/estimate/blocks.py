"""Costs of the blocks the analytic estimator had no (or a wrong) count for: softmax (qhw's and
hls4ml's, argmax), hard_sigmoid, embedding, pools, threshold, gathers (upsample, depth_to_space,
concat and the other copies), requantize, add/mul, sigmoid/tanh tables (with block RAM per target) and
the top's output FIFO.

Each ``cost_*`` function is pure: it takes a :class:`CostContext` and returns a :class:`Cost`
(feature counts in the units of :data:`qhw.estimate.analytic.FEATURES`, DSP and block RAM
counts for the context's target, and the live bit span of the output). The counts follow what
the Verilog lowering builds (``qhw/backends/verilog/{softmax,lut,embedding,elementwise}.py``,
``templates/verilog/{unary,rom,top}.v.j2``): every requantizer is counted from the same
:func:`~qhw.backends.verilog.requant.unary_context` the template renders, every ROM from the
same table codes, every multiplier by the target's DSP rule (Yosys ``mul2dsp`` limits).

Features added for these blocks (all in bits):

* ``arith_bits``: carry-chain arithmetic of these blocks: adders, subtractors and comparisons
  of two variables (max chains, rounding increments, window sums, offsets), in bits. (The dense layers' ``add_bits`` are adders merged into adder trees: a
  different price per bit.)
* ``arith_odd``: how many of those chains have an odd width (ECP5 counts a CCU2C, two bits
  of a chain, as two LUTs: an odd chain costs its width plus one).
* ``ccmp_bits``: comparisons with a constant (clamps, saturation checks, address clamps,
  thresholds, PWL breakpoints): cheaper than a subtractor; the constant-or-value select that
  follows folds into the same LUTs.
* ``sel_bits``: 2:1 selects between two variables (the running maximum, PWL segments).
* ``csel_bits``: output bits of a saturating cast (a select between the value and constants),
  and the bits of a clamped value read downstream (the clamp's select).
* ``cmul_bits``: these blocks' constant multiplies in LUTs (requantize, avgpool's 1/N,
  PWL slopes; hard_sigmoid's slope is ``hsig_bits``): input bits per set bit of the constant
  beyond the first.
* ``msum_bits``: the adders beyond the first of a sum of three or more values (window sums):
  Yosys builds them as a multi-operand adder, dearer than a chain of adders on LUT4 families.
* ``bram_addr_bits``: address bits computed in front of a table in block RAM (offset, clamp).
* ``vmul_bits``: variable-by-variable multipliers of these blocks in LUTs (softmax's e * 1/sum,
  embedding's code * scale), a * b bits each (small and unsigned-heavy: cheaper per bit than
  the folded layers' ``mul_bits``).
* ``hsig_bits``: hard_sigmoid's multiply by its slope in LUTs: input bits times result bits
  per element. The slope (0.2 or 1/6 in an 18-bit scale) has a dense bit pattern, so it is not
  the few shifted adds of a sparse constant (``cmul_bits``); measured on iCE40 with the clamps
  removed: 48 LUTs per element at 6 x 6 bits, 80 at 8 x 8, where 6 and 8 bits per set bit of
  0x6666 predict 42 and 56.
* ``lut_cells`` / ``ff_cells``: cells counted directly (distributed RAM of the output FIFO and
  its flip-flop fallback on iCE40); their coefficient is 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from qhw.backends.verilog.lowering import BRAM  # noqa: F401 (the targets' block RAM, re-exported)
from qhw.backends.verilog.mac import DSP_RULES, dsp_count  # noqa: F401 (the multipliers' rule)
from qhw.fixed import FixedFormat, add_format, mul_format

#: smallest output FIFO (bits) Yosys puts into iCE40 block RAM (between 136 and 208, measured)
ICE40_FIFO_BRAM_BITS = 160
#: inputs of one LUT per target (xilinx LUT6, ECP5 LUT4, iCE40 SB_LUT4)
LUT_INPUTS = {"xilinx": 6, "ecp5": 4, "ice40": 4}


@dataclass(frozen=True)
class CostContext:
    """What a block's cost depends on.

    node: the graph node (op, attrs, params, formats["result"] and its other slots, shape).
    in_fmts / in_shapes: formats and shapes of its inputs, in order.
    in_spans: live (lsb, msb) bit positions of each input (constant bits excluded), as the
        analytic estimator tracks them; None = the whole format.
    options: Verilog backend options (``multipliers``, ``reuse_factor``, ``output_fifo``...).
    target: "xilinx" | "ecp5" | "ice40" (DSP and block RAM rules).
    nodsp: DSP blocks forbidden.
    in_distinct: how many distinct values each input holds (an upsampled tensor repeats its
        source's); None = as many as elements.
    """

    node: object
    in_fmts: tuple
    in_shapes: tuple
    in_spans: tuple | None = None
    options: Mapping = field(default_factory=dict)
    target: str = "xilinx"
    nodsp: bool = True
    in_distinct: tuple | None = None

    def span(self, i: int = 0) -> tuple[int, int]:
        if self.in_spans is not None and self.in_spans[i] is not None:
            return self.in_spans[i]
        f = self.in_fmts[i]
        return -f.frac_bits, f.width - f.frac_bits - 1


@dataclass
class Cost:
    """Feature counts (bits), DSP blocks, block RAMs (the target's unit), the output's live span
    and how many distinct values the output holds (None: one per element)."""

    features: dict = field(default_factory=dict)
    dsp: int = 0
    bram: int = 0
    span: tuple[int, int] | None = None
    distinct: int | None = None

    def add(self, **kw) -> "Cost":
        for k, v in kw.items():
            self.features[k] = self.features.get(k, 0) + int(v)
        return self

    def chains(self, n: int, width: int) -> "Cost":
        """``n`` carry chains of ``width`` bits: ``arith_bits`` and ``arith_odd`` (the chains
        of odd width: ECP5's CCU2C holds two bits, so such a chain's last cell is half used)."""
        return self.add(arith_bits=n * width, arith_odd=n * (width % 2))

    def merge(self, other: "Cost", times: int = 1) -> "Cost":
        for k, v in other.features.items():
            self.features[k] = self.features.get(k, 0) + times * int(v)
        self.dsp += times * other.dsp
        self.bram += times * other.bram
        return self


def _full(fmt: FixedFormat) -> tuple[int, int]:
    return -fmt.frac_bits, fmt.width - fmt.frac_bits - 1


def _bits(span) -> int:
    return span[1] - span[0] + 1


def _popcount(v: int) -> int:
    return bin(abs(int(v))).count("1")


def _trailing_zeros(v: int, width: int) -> int:
    """Trailing zero bits of ``v`` (``width`` for 0)."""
    return width if v == 0 else (v & -v).bit_length() - 1


def _signed_bits(v: int) -> int:
    return max(1, (v if v >= 0 else ~v).bit_length() + 1)


def multiplier(ctx: CostContext, a: int, b: int, signed: bool = True) -> Cost:
    """A variable a x b multiplier: DSP blocks when allowed and Yosys would use them, else
    ``vmul_bits`` (a * b partial-product bits)."""
    n = 0 if ctx.nodsp else dsp_count(ctx.target, a, b, signed)
    return Cost(dsp=n) if n else Cost().add(vmul_bits=a * b)


def const_multiplier(ctx: CostContext, a: int, c: int, y: int | None = None) -> Cost:
    """x (a bits) times the constant c: a shift for a power of two, else a DSP (when Yosys maps
    it; ``y``: the product bits read downstream) or ``cmul_bits`` (a bits per set bit of c
    beyond the first)."""
    c = abs(int(c))
    if c == 0 or c & (c - 1) == 0:
        return Cost()
    n = 0 if ctx.nodsp else dsp_count(ctx.target, a, _signed_bits(c), y=y)
    return Cost(dsp=n) if n else Cost().add(cmul_bits=a * (_popcount(c) - 1))


def unary(ctx: CostContext, spec, clamps=("clamp_lo", "clamp_hi")) -> Cost:
    """The shared unary block (templates/verilog/unary.v.j2) for ``spec``: clamps, constant
    multiply, rounding incrementer, saturation checks and selects (wires when none apply).
    ``clamps``: the clamp sides that are logic; a caller that knows the input's real range
    passes it as ``spec.lo``/``spec.hi`` and names only the sides that clamp."""
    from qhw.backends.verilog.requant import unary_context

    u = unary_context("u", spec)
    c = Cost()
    # x < lo and x > hi compare only the bits above the constant's trailing zeros (lo, hi + 1):
    # x < 0 is the sign bit, free (Yosys folds the rest of the comparison)
    for side, const in (("clamp_lo", spec.lo), ("clamp_hi", None if spec.hi is None else spec.hi + 1)):
        if side in clamps and u[side]:
            c.add(ccmp_bits=u["wx"] - min(u["wx"], _trailing_zeros(const, u["wx"])))
    if any(side in clamps and u[side] for side in ("clamp_lo", "clamp_hi")):
        # the select of a constant or x on the bits of the clamped value read downstream: all
        # of them into a multiply; else from the rounding's lowest bit (half for RND, the LSB
        # kept for TRN, every bit for the modes with a sticky bit) up to the clamp range's top
        top = max(_signed_bits(v) for v in (spec.lo, spec.hi) if v is not None)
        if u["mult"] or u["rounding"] == "NONE":
            low = 0
        else:
            low = {"TRN": u["k"], "RND": u["k"] - 1}.get(u["rounding"], 0)
        c.add(csel_bits=u["wx"] if u["mult"] else max(0, min(u["wx"], top) - low))
    if u["mult"]:
        # without a saturation check the cast reads the product's bits up to the result's top
        # only (Yosys narrows the product to them before its DSP rule)
        sat = u["need_over"] or u["need_under"]
        read = u["wv"] if sat else min(u["wv"], spec.dst.width - u["d"])
        c.merge(const_multiplier(ctx, u["wx"], spec.multiplier, y=read))
    if u["rounding"] not in ("NONE", "TRN"):
        c.chains(1, u["wr"])
    checks = int(u["need_over"]) + int(u["need_under"])
    if checks:
        c.add(ccmp_bits=checks * u["wc"], csel_bits=u["wo"])  # one select level per output bit
    return c


def requant(ctx: CostContext, src: FixedFormat, dst: FixedFormat) -> Cost:
    from qhw.backends.verilog.requant import UnarySpec

    return unary(ctx, UnarySpec.requant(src, dst))


def rom(codes, fmt: FixedFormat, ports: int = 1) -> Cost:
    """A ROM in logic (templates/verilog/rom.v.j2) read through ``ports`` ports: entries times
    the bits that vary (Yosys drops constant bits) and the bit transitions between neighbouring
    addresses (a smooth table costs its transitions rather than its size)."""
    out = np.asarray(codes, np.int64) & ((1 << fmt.width) - 1)
    planes = (out[None, :] >> np.arange(fmt.width)[:, None]) & 1
    live = int(np.count_nonzero(planes.min(axis=1) != planes.max(axis=1)))
    flips = int(np.count_nonzero(np.diff(planes, axis=1)))
    return Cost().add(rom_bits=ports * out.size * live, rom_flips=ports * flips)


def bram_blocks(target: str, entries: int, width: int, ports: int) -> int:
    """Block RAMs holding an ``entries`` x ``width`` ROM read through ``ports`` ports, or 0 when
    Yosys keeps it in logic (smaller than the target's threshold)."""
    spec = BRAM[target]
    if entries * width < spec["min_bits"]:
        return 0
    per_copy = min(math.ceil(entries / d) * math.ceil(width / w) for d, w in spec["modes"])
    return per_copy * math.ceil(ports / spec["ports"])


def narrow(ctx: CostContext, n: int, in_bits: int, out_bits: int,
           mult: tuple[int, int] | None = None) -> Cost | None:
    """n elements whose output bits are functions of ``in_bits`` input bits only: when that fits
    a LUT of the target, Yosys' mapper collapses whatever logic computes them into a few LUTs per
    output bit (measured on xilinx: 1 per bit with 3-4 input bits, 4 with 6), else None (the
    logic is costed as built). The output register follows. ``mult``: the (a, b) operand bits
    of a multiplier in that logic: with DSPs allowed Yosys maps it to a DSP block first, and
    nothing collapses (measured)."""
    k = LUT_INPUTS[ctx.target]
    if in_bits > k or (mult and not ctx.nodsp and dsp_count(ctx.target, *mult)):
        return None
    per_bit = 1 if in_bits <= k - 2 else 1 << (in_bits - k + 2)
    res = ctx.node.formats["result"]
    return Cost().add(lut_cells=n * out_bits * per_bit).merge(_out_reg(ctx, n))


def _clamped_index(width: int, aw: int) -> Cost:
    """``_clamped_index``: t < 0 is its sign bit; t > n - 1 a comparison; two selects."""
    return Cost().add(ccmp_bits=width)


def _max_chain(n: int, ws: int, iw: int) -> Cost:
    """N - 1 comparisons of ws-bit values, each selecting the maximum and its index."""
    return Cost().chains(n - 1, ws).add(sel_bits=(n - 1) * (ws + iw))


def _out_reg(ctx: CostContext, n: int, span=None) -> Cost:
    res = ctx.node.formats["result"]
    return Cost(span=span or _full(res)).add(reg_bits=n * _bits(span or _full(res)))


# --- softmax ------------------------------------------------------------------------------------

def cost_softmax(ctx: CostContext) -> Cost:
    """softmax (qhw's stable variant, hls4ml's implementations) and argmax, as
    :mod:`qhw.backends.verilog.softmax` builds them."""
    from qhw.ops import get as get_op

    node, x = ctx.node, ctx.in_fmts[0]
    n = int(ctx.in_shapes[0][0])
    res = node.formats["result"]
    ws, iw = x.width + 1, max(1, math.ceil(math.log2(n)))
    a = node.attrs
    if a["variant"] == "hls4ml":
        return _softmax_hls4ml(ctx, n)
    c = _max_chain(n, ws, iw)
    if a["variant"] == "argmax":
        return c.merge(_out_reg(ctx, 1))
    op = get_op(node.op, node.name)
    ex, inv = op.tables(node, x, n)
    ef, rf, acc = (node.formats[k] for k in ("exp_table", "inv_table", "accum"))
    eaw = max(1, math.ceil(math.log2(len(ex.values))))
    iaw = max(1, math.ceil(math.log2(len(inv.values))))
    wi = ws + 2 + max(0, -ex.shift) + max(0, abs(ex.lo_raw).bit_length())
    # per element: d = x - max (ws + 1 bits of value; Yosys narrows the declared wi), the offset
    # index (its address bits; the bits above only feed the clamp), the exp ROM read
    c.chains(n, ws + 1 + eaw).merge(_clamped_index(wi, eaw), n)
    c.merge(rom(ex.values, ef, n))
    c.chains(n - 1, acc.width)  # the exact sum
    ws2 = acc.width + 2 + max(0, -inv.shift)
    c.merge(_clamped_index(ws2, iaw)).merge(rom(inv.values, rf, 1))
    pf = mul_format(ef, rf)
    c.merge(multiplier(ctx, ef.width, rf.width, signed=False), n)
    c.merge(requant(ctx, pf, res), n)
    return c.merge(_out_reg(ctx, n))


def _softmax_hls4ml(ctx: CostContext, n: int) -> Cost:
    from qhw.ops import get as get_op
    from qhw.tables import hls4ml as h4

    node, x = ctx.node, ctx.in_fmts[0]
    a, f = node.attrs, node.formats
    impl, res = a["implementation"], f["result"]
    ws, iw = x.width + 1, max(1, math.ceil(math.log2(n)))
    if a["skip"]:
        return _out_reg(ctx, n)
    c = Cost()
    if impl in ("argmax", "stable"):
        c.merge(_max_chain(n, ws, iw))
    if impl == "argmax":  # one-hot: an index comparison per element
        return c.chains(n, iw).merge(_out_reg(ctx, n))
    t = get_op(node.op, node.name).hls4ml_tables(node, x)
    if impl == "legacy":
        return c.merge(_softmax_legacy(ctx, n, t))
    ef, acc, ii, tf = f["exp_table"], f["accum"], f["inv_inp"], f["inv_table"]
    if impl == "stable":
        dfm = FixedFormat(ws + 1, ws + 1 - x.frac_bits, True)
        # x - max: Yosys narrows the subtractor to the bits the cast to inp_norm reads
        c.chains(n, _read_bits(dfm, f["inp_norm"]))
        c.merge(requant(ctx, dfm, f["inp_norm"]), n)
    c.merge(rom(t["exp"], ef, n)).merge(requant(ctx, ef, acc), n)
    # every value as Yosys narrows it: an exp entry widened into accum keeps the entry's bits
    # (the rest are constant), and the pairwise sums (hls4ml's tree order) grow from there
    e = _live(ef, acc)

    def tree(node_) -> FixedFormat:
        if isinstance(node_, int):
            return e
        sf = add_format(tree(node_[0]), tree(node_[1]))
        c.chains(1, sf.width).merge(requant(ctx, sf, acc))
        return _live(sf, acc)

    total = tree(h4.reduce_order(n))
    c.merge(requant(ctx, total, ii)).merge(rom(t["inv"], tf, 1))
    c.merge(multiplier(ctx, acc.width, tf.width, acc.signed or tf.signed), n)
    c.merge(requant(ctx, mul_format(e, tf), res), n)
    return c.merge(_out_reg(ctx, n))


def _read_bits(src: FixedFormat, dst: FixedFormat) -> int:
    """How many of ``src``'s bits, from its LSB, the cast to ``dst`` reads: all of them when it
    saturates, else those up to ``dst``'s top bit (a wrapping cast drops the rest)."""
    from qhw.backends.verilog.requant import UnarySpec, unary_context

    u = unary_context("u", UnarySpec.requant(src, dst))
    if u["need_over"] or u["need_under"]:
        return src.width
    return max(1, min(src.width, dst.width - u["d"]))


def _live(src: FixedFormat, dst: FixedFormat) -> FixedFormat:
    """The format of the bits that vary after casting ``src`` to ``dst``: ``src`` when ``dst``
    holds every value of ``src`` exactly (a widening cast: the added bits are constant or copies
    of the sign, which Yosys removes), else ``dst``."""
    exact = (dst.frac_bits >= src.frac_bits and src.signed <= dst.signed
             and dst.raw_min <= src.raw_min << (dst.frac_bits - src.frac_bits)
             and src.raw_max << (dst.frac_bits - src.frac_bits) <= dst.raw_max)
    return src if exact else dst


def _softmax_legacy(ctx: CostContext, n: int, t: dict) -> Cost:
    """hls4ml's legacy softmax: n (n - 1) exp reads and adds (a requantizer each), n reciprocal
    reads."""
    node, x = ctx.node, ctx.in_fmts[0]
    tf, res = node.formats["table"], node.formats["result"]
    ws = x.width + 2
    eaw = max(1, math.ceil(math.log2(t["exp_n"])))
    iaw = max(1, math.ceil(math.log2(t["inv_n"])))
    pairs = n * (n - 1)
    sf = add_format(tf, tf)
    c = Cost().chains(2 * pairs, ws).merge(_clamped_index(ws + 2, eaw), pairs)
    c.merge(rom(t["exp"], tf, pairs)).chains(pairs, sf.width).merge(requant(ctx, sf, tf), pairs)
    c.merge(_clamped_index(tf.width + 3, iaw), n).merge(rom(t["inv"], tf, n))
    return c.merge(requant(ctx, tf, res), n).merge(_out_reg(ctx, n))


# --- element-wise tables ------------------------------------------------------------------------

def cost_hard_sigmoid(ctx: CostContext) -> Cost:
    """Per element (``lut._hard_sigmoid``): x * slope (a constant multiply), + offset, the clamp
    to [0, 1] and the cast. Counted as Yosys keeps it: a clamp the input range never reaches is
    a constant comparison (removed), and adding the offset touches only the bits from its
    lowest set bit up (below it the product passes through)."""
    from qhw.backends.verilog.requant import UnarySpec
    from qhw.ops.activation import bound_codes

    node, x = ctx.node, ctx.in_fmts[0]
    n = int(np.prod(node.shape))
    sf, res = node.formats["scale"], node.formats["result"]
    slope = int(sf.quantize(node.attrs["slope"]))
    offset = int(sf.quantize(node.attrs["offset"]))
    small = narrow(ctx, n, x.width, res.width, (x.width, _signed_bits(slope)))
    if small is not None:
        return small
    pf = mul_format(x, sf)
    sum_fmt = add_format(pf, sf)
    ws = sum_fmt.width + (0 if sum_fmt.signed else 1)
    k1, k2 = sum_fmt.frac_bits - pf.frac_bits, sum_fmt.frac_bits - sf.frac_bits
    ends = [(v * slope << k1) + (offset << k2) for v in (x.raw_min, x.raw_max)]
    lo, hi = bound_codes(sum_fmt, 0.0, 1.0)
    mul = const_multiplier(ctx, x.width, slope)
    # the unary block works on the sum's real range (its saturation checks follow from it);
    # only the clamps that range reaches are logic
    spec = UnarySpec(FixedFormat(ws, ws - sum_fmt.frac_bits, True), res,
                     FixedFormat(ws, ws - sum_fmt.frac_bits, sum_fmt.signed),
                     lo=max(lo, min(ends)), hi=min(hi, max(ends)))
    clamps = tuple(side for side, real in (("clamp_lo", min(ends) < lo), ("clamp_hi", max(ends) > hi))
                   if real)
    # with the product in a DSP block, xilinx and iCE40 netlists keep every clamp (Yosys does
    # not see the product's range through the block); ECP5's do not (measured on the calibration
    # set: a 5-bit hard_sigmoid whose clamps are never reached, +5% / +2% / +40% against Yosys
    # with every clamp counted)
    if mul.dsp and ctx.target != "ecp5":
        spec = UnarySpec(spec.src_in, res, spec.cast_src, lo=lo, hi=hi)
        clamps = ("clamp_lo", "clamp_hi")
    off = offset << k2
    add = ws - _trailing_zeros(off, ws)
    if not mul.dsp and mul.features:  # a dense slope in LUTs (hsig_bits, module docstring)
        mul = Cost().add(hsig_bits=x.width * res.width)
    c = Cost().merge(mul, n).chains(n, add)
    return c.merge(unary(ctx, spec, clamps), n).merge(_out_reg(ctx, n))


def cost_table(ctx: CostContext) -> Cost:
    """sigmoid/tanh as :mod:`qhw.backends.verilog.lut` builds them: a ROM (full, half with the
    mirror, hls4ml's index) or a piecewise-linear function per element.

    Block RAM: a full table whose entry is the result (the cast is wires, so the output register
    merges into the ROM's read port: a synchronous ROM) goes to block RAM when it holds at least
    the target's threshold; it then absorbs the output register."""
    from qhw.ops import get as get_op

    node, x = ctx.node, ctx.in_fmts[0]
    n = int(np.prod(node.shape))
    res = node.formats["result"]
    t = get_op(node.op, node.name).table(node, x)
    w = x.width + 1
    small = narrow(ctx, n, x.width, res.width)
    if small is not None:
        return small
    # tables keep the features their xilinx coefficients were fitted with on 20+ table designs
    # (benchmarks/RESULTS.md): adders as add_bits, comparisons/selects/casts as cast_bits
    if node.attrs.get("variant") == "pwl":
        sf = t.sum_format()
        segs = len(t.breakpoints_raw)
        slopes = [abs(int(m)) for m in t.slopes_raw][: max(segs - 1, 0)]
        macc = sum(w * _popcount(m) for m in slopes if m & (m - 1))
        c = Cost().add(macc_bits=n * macc, add_bits=n * (2 * w + 2 * (segs - 1) * sf.width),
                       cast_bits=n * ((segs - 1) * (w + sf.width) + res.width))
        return c.merge(_out_reg(ctx, n))
    entries, tf = len(t.values), t.table_fmt
    c = Cost().add(add_bits=n * w * (2 if t.half else 1))  # the offset, or |x| (as fitted before)
    direct = not t.half and tf == res and not _cast_logic(ctx, tf, res)
    blocks = bram_blocks(ctx.target, entries, tf.width, n) if direct else 0
    if blocks:
        c.bram += blocks  # the offset and clamp of the address, in front of the block
        return c.add(bram_addr_bits=n * w).merge(Cost(span=_full(res)))
    aw = max(1, (entries - 1).bit_length())
    if t.convention == "hls4ml":
        span = 16 if t.function == "sigmoid" else 8
        drop = span.bit_length() - 1 + x.frac_bits - (t.size.bit_length() - 1)
    else:
        drop = t.shift
    extra = max(0, x.width - int(t.half) - max(drop, 0) - aw)
    # the entries as the cast leaves them (Yosys folds the cast into the table's logic)
    r = rom(res.cast(np.asarray(t.values, np.int64), tf), res, n)
    live = r.features["rom_bits"] // max(1, n * entries)
    c.merge(r).add(rom_clamp_bits=n * live * extra)
    if t.half:
        c.add(add_bits=n * (tf.width + 2))  # the mirrored entry
    return c.add(cast_bits=n * res.width).merge(_out_reg(ctx, n))


def _cast_logic(ctx: CostContext, src: FixedFormat, dst: FixedFormat) -> bool:
    return any(requant(ctx, src, dst).features.values())


# --- embedding ----------------------------------------------------------------------------------

def _varying_bits(codes, fmt: FixedFormat) -> int:
    out = np.asarray(codes, np.int64) & ((1 << fmt.width) - 1)
    planes = (out[None, ...] >> np.arange(fmt.width).reshape((-1,) + (1,) * out.ndim)) & 1
    return int(np.count_nonzero(planes.min(axis=-1) != planes.max(axis=-1)))


def cost_embedding(ctx: CostContext) -> Cost:
    """Per index: a clamped row address, one read of each column ROM and of the scale ROM, the
    product code * scale per column, the cast.

    Every output bit is a function of the index bits only: when the index fits one LUT of the
    target (6 inputs on xilinx, 4 on ECP5/iCE40), Yosys' mapper collapses the ROMs, products and
    casts into one LUT per output bit that varies (measured: an 8 x 2 table, 2 indices, 54 LUTs)."""
    from qhw.ops import get as get_op

    node, x = ctx.node, ctx.in_fmts[0]
    codes, scales = get_op(node.op, node.name).rows(node)
    code_f, scale_f, res = node.formats["table"], node.formats["scale"], node.formats["result"]
    rows, dim = codes.shape
    length = int(node.shape[0])
    aw = max(1, math.ceil(math.log2(rows)))
    pf = mul_format(code_f, scale_f)
    values = res.cast(np.asarray(codes, np.int64) * np.asarray(scales, np.int64)[:, None], pf)
    live = _varying_bits(values.T, res)  # over the rows, summed over the columns
    k = LUT_INPUTS[ctx.target]
    on_dsp = not ctx.nodsp and dsp_count(ctx.target, code_f.width + int(not code_f.signed),
                                         scale_f.width + 1)
    if x.width <= k and not on_dsp:  # one LUT per bit below the LUT size, two at it (measured)
        return Cost(span=_full(res)).add(lut_cells=length * live * (1 if x.width < k else 2),
                                         reg_bits=length * live)
    c = Cost()
    if (1 << x.width) - 1 > rows - 1 or x.signed:
        c.add(ccmp_bits=length * x.width)
    for j in range(dim):
        c.merge(rom(codes[:, j], code_f, length))
    c.merge(rom(scales, scale_f, length))
    c.merge(multiplier(ctx, code_f.width + int(not code_f.signed), scale_f.width + 1), length * dim)
    c.merge(requant(ctx, mul_format(code_f, scale_f), res), length * dim)
    return c.merge(_out_reg(ctx, length * dim))


# --- pools ----------------------------------------------------------------------------------------

def cost_pool(ctx: CostContext) -> Cost:
    """max: a compare-and-select chain over the window, then the cast(s); avg: the window sum,
    the cast to accum, the multiply by 1/N (a shift for a power of two) and the cast."""
    from qhw.backends.verilog.requant import UnarySpec
    from qhw.ops import get as get_op

    node, x = ctx.node, ctx.in_fmts[0]
    res = node.formats["result"]
    opdef = get_op(node.op, node.name)
    taps = opdef.taps(node)
    n = int(np.prod(node.shape))
    wx = x.width + (0 if x.signed else 1)
    lsb, msb = ctx.span()
    live = min(wx, msb - lsb + 2)
    c = Cost()
    if not hasattr(opdef, "sum_format"):  # max
        c.chains(n * (taps - 1), live).add(sel_bits=n * (taps - 1) * live)
        sf = FixedFormat(wx, wx - x.frac_bits, True)
        cast_src = FixedFormat(wx, wx - x.frac_bits, x.signed)
        if "accum" in node.formats:
            acc = node.formats["accum"]
            c.merge(unary(ctx, UnarySpec(sf, acc, cast_src)), n)
            c.merge(unary(ctx, UnarySpec(acc, res, acc)), n)
        else:
            c.merge(unary(ctx, UnarySpec(sf, res, cast_src)), n)
        lo, hi = max(lsb, -res.frac_bits), min(msb, res.width - res.frac_bits - 1)
        return c.merge(_out_reg(ctx, n, (lo, max(lo, hi))))
    acc, scale = node.formats["accum"], node.formats["scale"]
    sumf = opdef.sum_format(node, x)
    ws = wx + max(1, math.ceil(math.log2(taps))) + 1
    width = live + max(1, math.ceil(math.log2(taps)))
    c.chains(n, width).add(msum_bits=n * (taps - 2) * width)  # a multi-operand sum
    c.merge(unary(ctx, UnarySpec(FixedFormat(ws, ws - x.frac_bits, True), acc,
                                 FixedFormat(ws, ws - x.frac_bits, sumf.signed))), n)
    recip = int(scale.quantize(1.0 / taps))
    c.merge(unary(ctx, UnarySpec(acc, res, mul_format(acc, scale), multiplier=recip)), n)
    return c.merge(_out_reg(ctx, n))


# --- add, mul ------------------------------------------------------------------------------------

def cost_merge(ctx: CostContext) -> Cost:
    """add / mul of two tensors element by element: an adder (or a variable multiplier) at the
    exact width, then the cast (qhw/backends/verilog/elementwise.py)."""
    from qhw.backends.verilog.requant import UnarySpec, unary_context
    from qhw.ops import get as get_op

    node = ctx.node
    fa, fb = ctx.in_fmts[:2]
    res = node.formats["result"]
    n = int(np.prod(node.shape))
    opdef = get_op(node.op, node.name)
    exact = opdef.exact_format(fa, fb)
    ws = exact.width + 1
    c = Cost()
    spec = UnarySpec(FixedFormat(ws, ws - exact.frac_bits, True), res,
                     FixedFormat(ws, ws - exact.frac_bits, exact.signed))
    # without a saturation check the cast reads the exact value's bits up to the result's top
    # only, and Yosys narrows the adder or the product to them (wreduce)
    u = unary_context("u", spec)
    read = None if u["need_over"] or u["need_under"] else res.width - u["d"]
    if opdef.exact_format is add_format:
        c.chains(n, ws if read is None else max(1, min(ws, read)))
    else:  # a signed array multiplier: the folded layers' price per bit (mul_bits)
        d = 0 if ctx.nodsp else dsp_count(ctx.target, fa.width, fb.width, y=read)
        c.merge(Cost(dsp=d) if d else Cost().add(mul_bits=fa.width * fb.width), n)
    return c.merge(unary(ctx, spec), n).merge(_out_reg(ctx, n))


# --- threshold, requantize, gathers ---------------------------------------------------------------

def cost_threshold(ctx: CostContext) -> Cost:
    """Per element: a comparison with each threshold inside the input range, their count, and a
    (T + 1)-way choice of constants (a small ROM on the count)."""
    from qhw.ops import get as get_op

    node, x = ctx.node, ctx.in_fmts[0]
    op = get_op(node.op, node.name)
    res = node.formats["result"]
    codes = op.codes(node, x)
    n = int(np.prod(node.shape))
    small = narrow(ctx, n, x.width, res.width)
    if small is not None:
        return small
    steps = codes.shape[1]
    wc = max(1, steps.bit_length())
    c = Cost()
    for e in range(n):
        row = codes[e % codes.shape[0]]
        live = int(sum(1 for v in row if x.raw_min < v <= x.raw_max))
        c.chains(max(0, live - 1), wc).add(ccmp_bits=live * (x.width + 1))
    table = op.outputs(node, res)
    return c.merge(rom(table, res, n)).merge(_out_reg(ctx, n))


def cost_requantize(ctx: CostContext) -> Cost:
    """x * M (per element or per channel), then the rounding cast: the unary block per element."""
    from qhw.backends.verilog.requant import UnarySpec
    from qhw.ops import get as get_op

    node, x = ctx.node, ctx.in_fmts[0]
    res = node.formats["result"]
    n = int(np.prod(node.shape))
    m = np.atleast_1d(np.asarray(node.attrs["multiplier"], np.int64))
    pf = get_op(node.op, node.name).product_format(node, x)
    big = max((int(v) for v in np.abs(m)), default=0)
    small = narrow(ctx, n, x.width, res.width,
                   (x.width, _signed_bits(big)) if big & (big - 1) else None)
    if small is not None:
        return small
    c = Cost()
    for e in range(n):
        c.merge(unary(ctx, UnarySpec(x, res, pf, multiplier=int(m[e % m.size]))))
    return c.merge(_out_reg(ctx, n))


def cost_gather(ctx: CostContext) -> Cost:
    """upsample, depth_to_space, concat (and flatten/reshape/output): wires, a cast per output
    element when the formats differ, the output register. Registers fed by the same input
    element are merged by Yosys, so the flip-flops count distinct sources."""
    node = ctx.node
    res = node.formats["result"]
    n = int(np.prod(node.shape))
    sources = sum(ctx.in_distinct) if ctx.in_distinct else sum(int(np.prod(s)) for s in ctx.in_shapes)
    c = Cost()
    for i, f in enumerate(ctx.in_fmts):
        k = int(np.prod(ctx.in_shapes[i]))
        c.merge(requant(ctx, f, res), min(k, n))
    lsb = min(ctx.span(i)[0] for i in range(len(ctx.in_fmts)))
    msb = max(ctx.span(i)[1] for i in range(len(ctx.in_fmts)))
    lo, hi = max(lsb, -res.frac_bits), min(msb, res.width - res.frac_bits - 1)
    span = (lo, max(lo, hi))
    out = c.merge(_out_reg(ctx, min(n, sources), span))
    out.distinct = min(n, sources)
    return out


# --- the top's output FIFO -----------------------------------------------------------------------

def fifo_depth(latency: int, ii: int) -> int:
    """The top's FIFO depth (templates/verilog/top.v.j2 via top.py)."""
    need = -(-(latency + 1) // ii) + 1
    return 1 << max(1, (need - 1).bit_length())


def cost_output_fifo(ctx: CostContext, out_bits: int, latency: int, ii: int = 1) -> Cost:
    """The output FIFO: ``depth`` x (out_bits + 1) with an asynchronous read, its pointers and
    counters. xilinx: distributed RAM (a RAM32M/RAM64M holds 32/64 deep x 6 bits in 4 LUTs);
    ECP5: TRELLIS_DPR16X4 (16 deep x 4 bits, counted as 4 LUTs); iCE40 has no distributed RAM:
    Yosys moves the read pointer register into a block RAM's read port when the FIFO holds at
    least ICE40_FIFO_BRAM_BITS (measured: 8 x 17 bits stay in flip-flops and read multiplexers,
    8 x 26 bits take two SB_RAM40_4K)."""
    depth = fifo_depth(latency, ii)
    fb = max(1, (depth - 1).bit_length())
    width = out_bits + 1
    c = Cost().add(reg_bits=2 * fb + 2 * (fb + 1), ccmp_bits=2 * (fb + 1))
    c.chains(2, fb).chains(4, fb + 1)
    if ctx.target == "xilinx":
        c.add(lut_cells=4 * math.ceil(depth / 64) * math.ceil(width / 6) if depth > 32 else
              4 * math.ceil(width / 6))
    elif ctx.target == "ecp5":
        c.add(lut_cells=4 * math.ceil(depth / 16) * math.ceil(width / 4))
    elif depth * width >= ICE40_FIFO_BRAM_BITS:
        c.bram += math.ceil(depth / 256) * math.ceil(width / 16)
    else:
        c.add(ff_cells=depth * width, sel_bits=(depth - 1) * width)
    return c


def cost_of(ctx: CostContext) -> Cost | None:
    """The block cost of ``ctx.node`` when this module models its op (None otherwise). The
    dispatch is by op class (no op names); the Verilog registry's per-family ``cost()`` can call
    the ``cost_*`` functions directly instead."""
    from qhw.ops import get as get_op
    from qhw.ops.base import GatherOp
    from qhw.ops.elementwise import _Binary
    from qhw.ops.embedding import Embedding
    from qhw.ops.io import Output
    from qhw.ops.lut import HardSigmoid, _Lut
    from qhw.ops.pool import _Pool
    from qhw.ops.requantize import Requantize
    from qhw.ops.reshape import Concat
    from qhw.ops.softmax import Softmax
    from qhw.ops.threshold import Threshold

    table: list[tuple[type, Callable[[CostContext], Cost]]] = [
        (Softmax, cost_softmax), (HardSigmoid, cost_hard_sigmoid), (_Lut, cost_table),
        (Embedding, cost_embedding), (_Pool, cost_pool), (Threshold, cost_threshold),
        (Requantize, cost_requantize), (GatherOp, cost_gather), (Concat, cost_gather),
        (Output, cost_gather), (_Binary, cost_merge)]
    opdef = get_op(ctx.node.op, ctx.node.name)
    for cls, fn in table:
        if isinstance(opdef, cls):
            return fn(ctx)
    return None


__all__ = ["BRAM", "DSP_RULES", "Cost", "CostContext", "bram_blocks", "cost_embedding",
           "cost_gather", "cost_hard_sigmoid", "cost_merge", "cost_of", "cost_output_fifo", "cost_pool",
           "cost_requantize", "cost_softmax", "cost_table", "cost_threshold", "dsp_count",
           "fifo_depth"]


def pipeline_timing(graph, options: Mapping) -> tuple[int, int]:
    """(latency, II) of the top as :func:`qhw.backends.verilog.write_verilog` schedules it:
    element-wise layers take one cycle, a dense/conv layer 1 plus its pipeline registers (or
    r + 1 folded by r, which sets the II)."""
    from qhw.ops import Trait, has

    t: dict[str, int] = {}
    ii = 1
    for node in graph.nodes():
        if not node.inputs:
            t[node.name] = 0
            continue
        lat = 1
        if has(node.op, Trait.MAC):
            r = int(node.attrs.get("reuse_factor") or options.get("reuse_factor") or 1)
            every = int(options.get("tree_stage_levels", 0) or 0)
            if r > 1:
                lat, ii = r + 1, max(ii, r)
            elif every:
                fan_in = int(np.prod(node.params["weight"].shape[:-1]))
                lat = 1 + max(1, (fan_in - 1).bit_length()) // every
        t[node.name] = max(t[s] for s in node.inputs) + lat
    return max([t[n] for n in graph.output_names] + [1]), ii
