"""Delay model of the Verilog lowerings and pipeline-register placement for a clock period.

Each lowering describes, beside its ``cost()``, the combinational blocks a layer's data passes
through from its input register (the previous layer's output register) to its output register,
in order (:meth:`qhw.backends.verilog.lowering.Lowering.delay`): a list of :class:`Block`, each
with its estimated delay in ns on a target and a ``cut`` label when the lowering can put a
register after it. A MAC layer: after the products (0), after every adder-tree level (its
number), a folded layer after its final sum ("sum"). Element layers
(:func:`qhw.backends.verilog.elementwise.element_delay`): after a table's clamped address
("addr"), after the table read / pool window / threshold comparisons ("pre": the unary block's
input registered), between a unary block's clamp or multiply and its cast ("mid"). Streamed
layers get their kernel block's registers (:func:`qhw.backends.verilog.top.kernel_clock`).
:func:`plan` places the fewest such registers so that every register-to-register path of the
layer fits the period (greedy: a chain is cut as late as possible, which is optimal for a chain),
and reports the longest remaining path.

The delays are **estimates** from primitive counts (LUT levels, carry-chain bits, DSP blocks),
with one :class:`TargetModel` per target:

* ``xilinx``: 7-series (-1 speed grade) figures of the order the data sheets publish —
  DS181 (Artix-7) / DS182 (Kintex-7) "CLB switching characteristics" (LUT6 ``T_ILO`` about
  0.1 ns, CARRY4 about 0.1 ns per 4 bits plus its entry), "DSP48E1 switching characteristics"
  (an unregistered multiply A/B -> P in the 4 ns range), flip-flop clock-to-out and setup;
  the net delay per LUT hop (about 0.4 ns) is a typical routed value, not a data-sheet number.
  UltraScale (DS892/DS923; CARRY8, DSP48E2) is faster; the 7-series numbers are kept as the
  conservative case. No open place-and-route exists for these parts, so this model is not
  measured here.
* ``ecp5``: LUT4 / CCU2C delays (routing included) scaled by one factor fitted against
  nextpnr-ecp5's Fmax of pipelined designs (``benchmarks/calibrate_timing.py``, table in
  benchmarks/RESULTS.md), then x1.2 after a larger held-out design missed 10 ns: pipelined
  stages are now predicted 15-30 % slow (on the safe side; 10 ns met by all five measured
  designs); long unpipelined adder trees, which Yosys sums carry-save, are over-predicted ~2x.
* ``ice40``: the ECP5 model times 1.15, one scale fitted against nextpnr-ice40 (HX8K) on one
  pipelined design; the held-out one measured 5 % slower than predicted (still met 10 ns).

Multipliers in LUTs (Yosys ``maccmap``): a constant ``x * c`` is a sum of one partial product
per set bit of ``c``: full-adder levels (one LUT each, rows shrink by 3:2) and a final carry
chain; a variable ``x * w`` the same with one row per bit of the narrower operand.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from qhw.errors import ConfigError

TARGETS = ("xilinx", "ecp5", "ice40")


@dataclass(frozen=True)
class TargetModel:
    """Primitive delays of one target, in ns. ``lut``: one LUT level including its input net;
    ``carry``: per bit of a carry chain; ``carry0``: entering and leaving a chain (a LUT and a
    net); ``reg``: clock-to-out plus setup (plus the clock enable's share); ``dsp``: an
    unregistered hard multiply (0: none used); ``k``: LUT inputs."""

    name: str
    lut: float
    carry: float
    carry0: float
    reg: float
    dsp: float
    k: int

    def adder(self, width: int) -> float:
        """A ``width``-bit carry-chain adder (or comparator)."""
        return self.carry0 + self.carry * max(1, width)

    def luts(self, levels: float) -> float:
        return self.lut * max(0.0, levels)

    def mux(self, inputs: int) -> float:
        """A select of one of ``inputs`` values (a LUT tree)."""
        if inputs <= 1:
            return 0.0
        return self.luts(math.ceil(math.log(inputs, 2) / math.log(self.k - 1 if self.k > 4 else 2, 2)))

    def rows_sum(self, rows: int, width: int) -> float:
        """Sum of ``rows`` partial products of ``width`` bits: 3:2 compressor levels (a LUT
        each) down to two rows, then one carry chain."""
        if rows <= 1:
            return 0.0
        levels = 0
        while rows > 2:
            rows = rows - rows // 3
            levels += 1
        return self.luts(levels) + self.adder(width)

    def cmul(self, x_bits: int, c: int) -> float:
        """``x * c`` for a constant ``c`` in LUTs (0 for a power of two: wiring)."""
        a = abs(int(c))
        if a & (a - 1) == 0:
            return 0.0
        return self.rows_sum(bin(a).count("1"), x_bits + a.bit_length())

    def mul(self, a_bits: int, b_bits: int, dsp: bool = False) -> float:
        """A variable ``a_bits`` x ``b_bits`` multiplier: a DSP block when ``dsp`` and the
        target has one, else LUT rows."""
        if dsp and self.dsp:
            return self.dsp
        return self.rows_sum(min(a_bits, b_bits), a_bits + b_bits)

    def rom(self, addr_bits: int) -> float:
        """A ROM of 2**addr_bits entries in LUTs: a ``k``-input LUT, then a mux tree."""
        extra = max(0, addr_bits - self.k)
        return self.luts(1 + math.ceil(extra / 2))  # a LUT level per 2 more address bits (MUXF*/PFU)


#: per-target models (see the module docstring for where the numbers come from)
MODELS = {
    # 7-series -1: T_ILO ~0.12 + ~0.40 net per LUT level; CARRY4 ~0.11 per 4 bits;
    # chain entry/exit ~0.5 (LUT + T_OPCYC/T_COUTx); T_CKO ~0.5 + setup ~0.1 + CE ~0.3;
    # DSP48E1 A/B -> P through the multiplier, unregistered: ~4.0
    "xilinx": TargetModel("xilinx", lut=0.52, carry=0.03, carry0=0.55, reg=0.9, dsp=4.0, k=6),
    # LUT4 + routing per level, CCU2C per bit, fitted against nextpnr-ecp5 by one scale
    # (benchmarks/calibrate_timing.py, RESULTS.md): first scaled to the unpipelined mlp 8-8-4
    # (x0.56), then x1.7 = the largest measured/predicted ratio of the pipelined stages (a stage
    # of a few tree levels is slower per level than a whole tree, which Yosys sums carry-save):
    # conservative for pipelined stages, pessimistic for long unpipelined trees
    # then x1.2: the held-out MLP 16-16-8 a8w6 (10.8k LUTs, twice the others) measured 93.8 MHz
    # at 10 ns where 110.7 MHz was predicted (measured/predicted path 1.18; larger designs route
    # longer), so every coefficient took the largest ratio seen
    "ecp5": TargetModel("ecp5", lut=1.37, carry=0.114, carry0=1.37, reg=1.72, dsp=0.0, k=4),
    # iCE40 HX8K: the ecp5 model times 1.15, fitted on nextpnr-ice40 (benchmarks/calibrate_timing.py
    # --target ice40, RESULTS.md): the first guess (x1.5) predicted mlp 12-8-4 at 10 ns 113 MHz,
    # nextpnr measured 149 MHz (x0.76); unpipelined it was 2x pessimistic, as ECP5's is
    "ice40": TargetModel("ice40", lut=1.31, carry=0.109, carry0=1.31, reg=1.64, dsp=0.0, k=4),
}


def model(target: str) -> TargetModel:
    if target not in MODELS:
        raise ConfigError(f"unknown timing target {target!r}; valid: {', '.join(TARGETS)}")
    return MODELS[target]


def unary(m: TargetModel, spec) -> float:
    """The shared unary block (:class:`~qhw.backends.verilog.requant.UnarySpec`): an optional
    clamp (a comparison and a select), an optional constant multiplier, then the cast: a
    rounding add and an overflow check (a comparison) and the select of the result."""
    ns = 0.0
    if spec.lo is not None or spec.hi is not None:
        ns += m.adder(spec.src_in.width) + m.luts(1)
    if spec.multiplier is not None:
        ns += m.cmul(spec.src_in.width, spec.multiplier)
    return ns + cast(m, spec)


def cast(m: TargetModel, spec) -> float:
    """The cast part of the unary block: the rounding add, the overflow check and the select."""
    w = spec.cast_src.width + (spec.multiplier or 1).bit_length()
    return m.adder(w) + m.luts(1)


@dataclass(frozen=True)
class Block:
    """One combinational block of a layer: its name (for reports), estimated delay in ns, and
    the label of the register the lowering can place after it (None: no register possible
    there)."""

    name: str
    ns: float
    cut: object = None


@dataclass
class Plan:
    """Where a layer gets pipeline registers (``cuts``: the labels of the blocks followed by
    one), and its longest register-to-register path after that (``path_ns``, including the
    register overhead; ``block``: the block that path ends in)."""

    cuts: frozenset = field(default_factory=frozenset)
    path_ns: float = 0.0
    block: str = ""
    stages: list = field(default_factory=list)  # [[block names], ns] per register stage


def plan(blocks: list[Block], period: float | None, target: str) -> Plan:
    """The fewest registers at the blocks' cut points so that every stage (register overhead +
    its blocks' delays) fits ``period`` ns; None: no registers (only the analysis). A block
    longer than the period alone stays too long (reported by ``path_ns``)."""
    m = model(target)
    budget = None if period is None else period - m.reg
    cuts: list = []
    stages: list[tuple[list[Block], float]] = []
    cur: list[Block] = []
    t = 0.0
    for b in blocks:
        if budget is not None and cur and t + b.ns > budget + 1e-9:
            # cut at the latest allowed point of the current stage
            k = max((i for i, c in enumerate(cur) if c.cut is not None), default=None)
            if k is not None:
                cuts.append(cur[k].cut)
                stages.append((cur[:k + 1], sum(c.ns for c in cur[:k + 1])))
                cur = cur[k + 1:]
                t = sum(c.ns for c in cur)
        cur.append(b)
        t += b.ns
    stages.append((cur, t))
    worst_blocks, worst = max(stages, key=lambda s: s[1])
    return Plan(frozenset(cuts), round(worst + m.reg, 3),
                worst_blocks[-1].name if worst_blocks else "",
                [[[b.name for b in blk], round(ns + m.reg, 3)] for blk, ns in stages])


__all__ = ["TARGETS", "MODELS", "TargetModel", "Block", "Plan", "model", "plan", "unary", "cast"]
