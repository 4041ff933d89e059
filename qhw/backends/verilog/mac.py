"""dense / conv1d / conv2d as multiply-accumulate arrays with constant weights.

Every output is ``acc = bias; acc = accum.cast(acc + x[idx] * w)`` over its terms in golden
order (conv taps (kh, kw, cin) found by running the op's own im2col on index codes, padded taps
dropped; zero weights dropped: adding 0 to a value already in ``accum`` changes nothing).

Three exact implementations, chosen per node:

* ``tree``: terms land on the accumulator grid and every partial sum provably fits ``accum``
  (or ``accum`` wraps, and wrapping commutes with addition): an exact adder tree in a wide signed
  width, then (if needed) one wrap into ``accum``, then the cast to ``result``.
* ``tree`` with per-term casts: products that must be rounded onto the accumulator grid with a
  separable rounding mode (TRN, RND, RND_MIN_INF) or cast by ``product_cast``: each product goes
  through its own unary block first.
* ``chain``: anything else (saturating ``accum`` that may overflow mid-sum, non-separable
  rounding): the literal per-step sequence of adders and casts (combinational, R = 1 only).

Constant products in ``tree`` mode are ``x * c`` (``multipliers="auto"``; shifts for powers of
two; Yosys or a DSP builds the rest) or, with ``multipliers="csd"``, one shift-add network per
layer whose common subexpressions are shared across outputs (:mod:`.shiftadd`). Each ``x * c``
with c = m * 2^k (m odd) is an instance of the design's ``<top>_cmul`` module computing x * m at
its natural width (the shift is wiring): a synthesizer that keeps the hierarchy maps every
distinct (input width, m) once. Yosys' ``synth`` spends minutes in ABC on a layer whose thousands
of constant multipliers sit in one flat netlist, and seconds on the same products as modules.

Folding by the reuse factor R (``attrs["reuse_factor"]``): the terms of every output are split
into R ordered chunks; one chunk per cycle is multiplied and added into an accumulator
register, so each multiplier is used R times and II = R. Its products are instances of
``<top>_mul`` (one parameter set per layer, so synthesized once). The weights of a step come
from one of two places (:func:`fold_schedule`):

* a weight table (FINN's MVAU with decoupled weights, hls4ml's weights in BRAM for large R),
  when the layer's weights per step times R hold at least :data:`WEIGHT_ROM_MIN_BITS`: a
  ``reg`` array of R words, word c holding every multiplier's weight of step c, initialised in
  an ``initial`` block and read synchronously at the counter's *next* value, so its register
  holds step ``cnt``'s weights on the cycle they are used (latency and II unchanged). Each
  output reads weight row c * chunk + s (dense input, conv tap; zero weights kept) on step c,
  so every output of one input vector shares one input select per slot. Yosys sees a memory:
  block RAM or LUT RAM where its target's cost rule prefers them, else logic (a shallow table
  is one LUT per live bit and its register; see :func:`mac_cost`). The Verilog grows with the
  multipliers and the distinct weight bits, not with R legs per weight.
* below that size, a ``cnt``-compare select per multiplier over its R weights, each output's
  non-zero terms packed (fewest multipliers, no table register for a handful of bits).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qhw.backends.verilog.datapath import Datapath, tree_nodes
from qhw.backends.verilog.lowering import BRAM, Lowering, bits, counts, live, lowering, popcount
from qhw.backends.verilog.render import signed_literal
from qhw.backends.verilog.requant import UnarySpec, signed_bits
from qhw.backends.verilog.signal import Signal
from qhw.backends.verilog.shiftadd import Adder, Pass, ShiftAddNetwork, plan_shift_add
from qhw.errors import ConfigError
from qhw.fixed import FixedFormat, mul_format
from qhw.ops import get as get_op
from qhw.ops.dense import Dense
from qhw.ops.traits import Trait

_SEPARABLE = {"TRN", "RND", "RND_MIN_INF"}
#: DSP48E1 signed multiplier operand limits (bits)
DSP_A, DSP_B = 25, 18
#: smallest product width Yosys' synth_xilinx puts into a DSP48E1 (its DSP_Y_MINWIDTH)
DSP_Y_MIN = 9
#: a folded layer whose weight table (R words of every multiplier's weight bits) holds at least
#: this many bits reads its weights from a table (one word per fold step) instead of a
#: ``cnt``-compare mux per multiplier: Verilog grows with the distinct weights, not R legs each
WEIGHT_ROM_MIN_BITS = 1024
#: the fewest words of a weight table Yosys puts into block RAM rather than logic (measured on
#: 64-bit wide tables: xilinx 256 words logic, 512 one RAMB36; ECP5 and iCE40 64 words logic,
#: 128 block RAM)
WEIGHT_ROM_BRAM_DEPTH = {"xilinx": 512, "ecp5": 128, "ice40": 128}
#: widest word of one weight table (bits); wider steps use more tables (Verilator reads
#: literals up to 65,536 bits)
WEIGHT_ROM_WORD_BITS = 16384


def mac_terms(node, in_shape: tuple[int, ...], aligned: bool = False
              ) -> tuple[list[list[tuple[int, int]]], np.ndarray]:
    """Per output element (flattened channels-last): the ordered list of (input index, weight
    code) with non-zero weight; and the weight codes array for reporting. ``aligned``: every
    weight row (dense input, conv tap) kept, as (-1, 0) for a padded tap and with its zero
    weights, so term t of every output is row t."""
    w = node.param_raw("weight")
    n_in = int(np.prod(in_shape))
    op = get_op(node.op, node.name)
    if isinstance(op, Dense):
        k, m = w.shape
        lead = n_in // k
        idx = np.arange(n_in).reshape(lead, k)
        wmat = w
        cols = idx  # (lead, K)
    else:
        codes = (np.arange(n_in, dtype=np.int64) + 1).reshape((1,) + tuple(in_shape))
        cols = op._im2col(node, codes)[0] - 1  # (*out_spatial, T), -1 = padding
        cols = cols.reshape(-1, cols.shape[-1])
        wmat = w.reshape(-1, w.shape[-1])
    terms = []
    for p in range(cols.shape[0]):
        for j in range(wmat.shape[1]):
            if aligned:
                terms.append([(int(cols[p, t]), int(wmat[t, j])) if cols[p, t] >= 0 else (-1, 0)
                              for t in range(wmat.shape[0])])
                continue
            terms.append([(int(cols[p, t]), int(wmat[t, j])) for t in range(wmat.shape[0])
                          if cols[p, t] >= 0 and wmat[t, j] != 0])
    return terms, wmat


def const_product(xs: str, c: int, width: int) -> tuple[str, str]:
    """Verilog expression for xs * c (both ``width``-bit signed), and its kind (shift, mul).
    Shift-add (``multipliers="csd"``) products are built by :mod:`.shiftadd` instead."""
    if c == 0:
        return f"{width}'sd0", "zero"
    a = abs(c)
    if a & (a - 1) == 0:
        k = a.bit_length() - 1
        e = f"({xs} <<< {k})" if k else xs
        return (e if c > 0 else f"(-{e})"), "shift"
    return f"({xs} * {signed_literal(c, width)})", "mul"


class MacPlan:
    """Formats, bounds and the chosen implementation for one dense/conv node."""

    def __init__(self, node, in_fmt: FixedFormat, terms: list[list[tuple[int, int]]]) -> None:
        f = node.formats
        self.node, self.x, self.w, self.acc, self.res = node, in_fmt, f["weight"], f["accum"], f["result"]
        self.p = mul_format(in_fmt, self.w)
        self.product_cast = bool(node.attrs.get("product_cast"))
        self.terms = terms
        acc = self.acc
        if "bias" in node.params:
            b = acc.cast(node.param_raw("bias"), f["bias"])
            lead = len(terms) // b.size
            self.b0 = [int(v) for v in np.tile(b, lead)]
        else:
            self.b0 = [0] * len(terms)
        self.term_cast: UnarySpec | None = None
        if self.product_cast and not _holds(acc, self.p):
            self.term_cast = lambda wc: UnarySpec(in_fmt, acc, self.p, multiplier=wc)  # noqa: E731
            grid_ok, tfmt = True, acc
        elif self.p.frac_bits <= acc.frac_bits:
            grid_ok, tfmt = True, None
        elif acc.rounding in _SEPARABLE:
            grid = FixedFormat(min(64, self.p.width + 2), min(64, self.p.width + 2) - acc.frac_bits,
                               True, acc.rounding, "WRAP")
            self.term_cast = lambda wc: UnarySpec(in_fmt, grid, self.p, multiplier=wc)  # noqa: E731
            grid_ok, tfmt = True, grid
        else:
            grid_ok, tfmt = False, None
        self.tfmt = tfmt
        self.shift = acc.frac_bits - (self.p.frac_bits if tfmt is None else tfmt.frac_bits)
        # exact range of every partial sum on the accumulator grid
        lo_all, hi_all, big = 0, 0, 0
        for j, tl in enumerate(terms):
            lo = hi = self.b0[j]
            for _, wc in tl:
                a, b = self._term_range(wc)
                lo += min(0, a)
                hi += max(0, b)
                big = max(big, abs(a), abs(b))
            lo_all, hi_all = min(lo_all, lo), max(hi_all, hi)
        fits = acc.raw_min <= lo_all and hi_all <= acc.raw_max
        if acc.overflow == "SAT_SYM" and acc.signed:
            fits = fits and lo_all > acc.raw_min
        self.fits = fits
        self.mode = "tree" if grid_ok and (fits or acc.overflow == "WRAP") else "chain"
        self.sum_width = signed_bits(min(lo_all, -big, acc.raw_min), max(hi_all, big, acc.raw_max)) + 1

    def _term_range(self, wc: int) -> tuple[int, int]:
        ends = [self.x.raw_min * wc, self.x.raw_max * wc]
        if self.term_cast is not None:
            spec = self.term_cast(wc)
            v = spec.dst.cast(np.array(ends, np.int64), self.p)
            v = v << max(0, self.acc.frac_bits - spec.dst.frac_bits)
            return int(v.min()), int(v.max())
        ends = [e << self.shift for e in ends] if self.shift >= 0 else ends
        return min(ends), max(ends)

    def sum_format(self) -> FixedFormat:
        w = self.sum_width
        return FixedFormat(w, w - self.acc.frac_bits, True)


def _holds(outer: FixedFormat, inner: FixedFormat) -> bool:
    from qhw.ops.base import holds

    return holds(outer, inner)


def lower_mac(node, in_fmt: FixedFormat, in_shape, module: str, prefix: str,
              options: dict) -> Datapath:
    """The Datapath of a dense/conv node (see module docstring)."""
    terms, _ = mac_terms(node, tuple(in_shape))
    plan = MacPlan(node, in_fmt, terms)
    r = int(node.attrs.get("reuse_factor", 1) or 1)
    if r < 1:
        raise ConfigError(f"node {node.name!r}: reuse_factor must be >= 1, got {r}")
    n_in = int(np.prod(in_shape))
    res = plan.res
    dp = Datapath(module, f"{node.op} {node.name!r}", n_in * in_fmt.width, len(terms) * res.width)
    dp.flavour = options.get("flavour", "synth")
    if dp.flavour not in ("synth", "sim"):
        raise ConfigError(f"options['flavour'] must be 'synth' or 'sim', got {dp.flavour!r}")
    dp.header += [f"node: {node.name} ({node.op}), {len(terms)} outputs, mode {plan.mode}, reuse {r}",
                  f"in: {in_fmt}  weight: {plan.w}  accum: {plan.acc}  result: {res}",
                  f"product: {plan.p}  exact sum width: {plan.sum_width} bits"]
    if plan.mode == "chain":
        if r > 1:
            raise ConfigError(
                f"node {node.name!r}: reuse_factor {r} needs an accumulator whose per-step casts "
                f"are exact or wrapping (accum {plan.acc} is not); use reuse_factor 1")
        _chain(dp, plan, in_fmt, n_in, prefix)
    elif r == 1 and plan.term_cast is None and options.get("multipliers", "auto") == "csd":
        _shift_add_parallel(dp, plan, in_fmt, prefix, options)
    elif r == 1:
        _tree_parallel(dp, plan, in_fmt, n_in, prefix, options)
    else:
        cuts = options.get("cuts") or ()
        sched = fold_schedule(plan, mac_terms(node, tuple(in_shape), aligned=True)[0], r)
        _tree_folded(dp, plan, in_fmt, n_in, prefix, sched, 0 in cuts, "sum" in cuts)
    dp.header.append("multipliers: " + ", ".join(f"{k} {v}" for k, v in sorted(dp_stats(dp).items())))
    return dp


def dp_stats(dp: Datapath) -> dict[str, int]:
    return getattr(dp, "stats", {})


def _count(dp: Datapath, kind: str) -> None:
    if not hasattr(dp, "stats"):
        dp.stats = {}
    dp.stats[kind] = dp.stats.get(kind, 0) + 1


def _input_wire(dp: Datapath, in_fmt: FixedFormat, i: int, width: int, cache: dict) -> str:
    """Input element i sign-extended (or zero-extended) to ``width`` signed bits."""
    if i in cache:
        return cache[i]
    cache[i] = dp.wire(f"xs{i}", width, dp.x.element(i, in_fmt.width, in_fmt.signed).extend(width))
    return cache[i]


def _natural_input(in_fmt: FixedFormat, i: int, bus: Signal) -> tuple[int, str]:
    """Input element i of ``bus`` as a signed operand of its natural width: (width, expression)."""
    part = bus.element(i, in_fmt.width, in_fmt.signed)
    return (part.width, part.expr) if in_fmt.signed else (part.width + 1, f"{{1'b0, {part}}}")


def _fit(name: str, w_from: int, w_to: int) -> str:
    """Signed ``name`` (w_from bits) on ``w_to`` bits: sign-extended, or its low bits when its
    value is known to fit (an exact product whose range is narrower than its generic width)."""
    s = Signal(name, w_from, True)
    return str(s.sext(w_to) if w_to >= w_from else s.slice(w_to - 1, 0))


def _term_wire(dp, plan, in_fmt, j, n, i, wc, ws, xcache, prefix, options,
               inline: bool = False) -> str:
    """One term on the accumulator grid, ``ws`` bits signed: the wire ``t<j>_<n>``, or with
    ``inline`` its expression (exactly ``ws`` bits wide also where self-determined, as in the
    concatenation of an adder tree's input: no wire and assign per term)."""
    name = f"t{j}_{n}"

    def term(expr) -> str:
        return str(expr) if inline else dp.wire(name, ws, expr)

    if plan.term_cast is None:
        c = wc << plan.shift
        # the simulation flavour (write_verilog's sim twin): a plain product on the sum width,
        # which Verilator evaluates ~3x faster than inlined multiplier and adder-tree modules
        if c == 0 or abs(c) & (abs(c) - 1) == 0 or options.get("flavour") == "sim":
            xs = _input_wire(dp, in_fmt, i, ws, xcache)
            expr, kind = const_product(xs, c, ws)
            _count(dp, kind)
            return term(expr)
        # odd multiple m of a power of two 2^k: the shared multiplier module computes x * m at
        # its natural width, the shift and the sign extension happen here
        k = (abs(c) & -abs(c)).bit_length() - 1
        m = c >> k
        wx, xn = _natural_input(in_fmt, i, dp.x)
        if ("n", i) not in xcache:  # one natural-width wire per input, shared by its products
            xcache[("n", i)] = dp.wire(f"xn{i}", wx, xn)
        xn = xcache[("n", i)]
        wm = signed_bits(min(m, 0), max(m, 0))
        p = dp.mul(name + "_p", xn, wx, m, wm, prefix)
        _count(dp, "mul")
        e = _fit(p, wx + wm, ws)
        return term(f"({e} <<< {k})" if k else e)
    spec = plan.term_cast(wc)
    dp.unary(spec, dp.x.element(i, in_fmt.width), name + "_c", prefix)
    _count(dp, "mul")
    d = spec.dst
    ext = Signal(name + "_c", d.width, d.signed).extend(ws)
    sh = plan.acc.frac_bits - d.frac_bits
    return term(f"({ext} <<< {sh})" if sh else ext)


def _finish(dp: Datapath, plan: MacPlan, j: int, sum_expr: str, prefix: str) -> str:
    """Cast an exact sum (sum_width bits on the accum grid) into accum (if it may wrap) and then
    into result; returns the result wire."""
    sf = plan.sum_format()
    acc, res = plan.acc, plan.res
    if plan.fits:
        src = FixedFormat(sf.width, sf.integer_bits, acc.signed)
        return dp.unary(UnarySpec(sf, res, src), sum_expr, f"r{j}", prefix)
    a = dp.unary(UnarySpec(sf, acc, sf), sum_expr, f"a{j}", prefix)
    return dp.unary(UnarySpec.requant(acc, res), a, f"r{j}", prefix)


def _tree(dp: Datapath, leaves: list[str], ws: int, name: str, reg_levels: set[int],
          depth: int) -> str:
    """Pairwise adder tree padded to ``depth`` levels, inline in the layer; registers after
    levels in reg_levels."""
    nodes, root = tree_nodes(list(leaves) or [f"{ws}'sd0"], depth, reg_levels, f"{name}_l")
    for nd in nodes:
        (dp.reg if nd["reg"] else dp.wire)(nd["name"], ws, nd["expr"])
    return root


def _tree_parallel(dp, plan, in_fmt, n_in, prefix, options) -> None:
    ws = plan.sum_width
    every = int(options.get("tree_stage_levels", 0) or 0)
    xcache: dict = {}
    reg_products = options.get("cuts") is not None and 0 in options["cuts"]
    # the synthesis flavour's trees take their terms as expressions (the simulation flavour and
    # registered products keep one named wire per term)
    inline = options.get("flavour") != "sim" and not reg_products
    leaves_all = []
    for j, tl in enumerate(plan.terms):
        leaves = [_term_wire(dp, plan, in_fmt, j, n, i, wc, ws, xcache, prefix, options, inline)
                  for n, (i, wc) in enumerate(tl)]
        if plan.b0[j]:
            leaves.append(signed_literal(plan.b0[j], ws))
        leaves_all.append(leaves)
    depth = max((math.ceil(math.log2(len(lv))) if len(lv) > 1 else 0) for lv in leaves_all)
    depth = max(depth, 1)
    reg_levels = {lv for lv in range(1, depth + 1) if every and lv % every == 0}
    if options.get("cuts") is not None:  # chosen for a clock period (qhw.backends.verilog.timing)
        reg_levels = {lv for lv in options["cuts"] if 0 < lv <= depth}
    if reg_products:  # a register after every product (constant leaves need none)
        leaves_all = [[lf if lf[0].isdigit() else dp.reg(f"{lf}_q", ws, lf) for lf in leaves]
                      for leaves in leaves_all]
    for j, leaves in enumerate(leaves_all):
        s = (dp.adder_tree(f"s{j}", leaves, ws, depth, reg_levels, prefix)
             if leaves and options.get("flavour") != "sim"
             else _tree(dp, leaves, ws, f"s{j}", reg_levels, depth))
        r = _finish(dp, plan, j, s, prefix)
        dp.y_parts.append(dp.reg(f"y{j}", plan.res.width, r, signed=False))
    dp.latency = 1 + len(reg_levels) + int(reg_products)
    dp.ii = 1


def _tree_folded(dp, plan, in_fmt, n_in, prefix, sched: FoldSchedule, reg_products: bool = False,
                 reg_sum: bool = False) -> None:
    """Folded by ``sched.r`` (see the module docstring). ``reg_products``: a register after the
    products (for a clock period); the accumulator then runs one cycle behind the counter on
    delayed ``start``/``busy``/``last``, and the latency is one more. ``reg_sum``: the final
    sum registered before the result cast (one more cycle; the cast on a delayed ``last``)."""
    ws, r = plan.sum_width, sched.r
    cb = max(1, (r - 1).bit_length())
    dp.reg("busy", 1, "1'b1", cond="start", signed=False, reset="1'b0")
    dp.regs[-1]["next"] = "start ? 1'b1 : (last ? 1'b0 : busy)"
    dp.regs[-1]["cond"] = ""
    dp.wire("last", 1, f"busy && (cnt == {cb}'d{r - 1})", signed=False)
    dp.reg("cnt", cb, f"(start || last) ? {cb}'d0 : (busy ? cnt + {cb}'d1 : cnt)", signed=False,
           reset=f"{cb}'d0")
    dp.reg("xr", n_in * in_fmt.width, "x", cond="start", signed=False)
    # products at their natural widths through the shared two-operand multiplier module (one
    # parameter set per layer); the selected weights are the raw codes, the grid shift follows
    wx = in_fmt.width + (0 if in_fmt.signed else 1)
    wb = sched.wb
    xsel_cache: dict = {}
    st, bz, ls = "start", "busy", "last"
    if reg_products:  # the accumulator's controls, one cycle behind the registered products
        st = dp.reg("start_d", 1, "start", signed=False, reset="1'b0")
        bz = dp.reg("busy_d", 1, "busy", signed=False, reset="1'b0")
        ls = dp.reg("last_d", 1, "last", signed=False, reset="1'b0")
    ls_out = dp.reg("last_q", 1, ls, signed=False, reset="1'b0") if reg_sum else ls
    wrom: dict = {}
    if sched.rom:
        # the counter's next value addresses the table, so the registered word holds the
        # weights of step cnt exactly while cnt is current (same latency and II; the word
        # register and cnt share ce, so a stall holds both)
        cnt = next(rg for rg in dp.regs if rg["name"] == "cnt")
        cnt["next"] = wa = dp.wire("waddr", cb, cnt["next"], signed=False)
        wrom = _weight_rom(dp, sched, wa)
    by_out: dict[int, list] = {}
    for j, s, slots in sched.slots:
        by_out.setdefault(j, []).append((s, slots))
    for j in range(len(plan.terms)):
        prods = []
        for s, slots in by_out.get(j, []):
            idxs = tuple(i for i, _ in slots)
            if idxs not in xsel_cache:
                parts = [f"{wx}'sd0" if i < 0 else _natural_input(in_fmt, i, Signal("xr", dp.in_bits))[1] for i in idxs]
                expr = parts[-1]
                for c in range(r - 2, -1, -1):
                    expr = f"(cnt == {cb}'d{c}) ? {parts[c]} : {expr}"
                xsel_cache[idxs] = dp.wire(f"xsel{len(xsel_cache)}", wx, expr)
            if wrom:
                wexpr = wrom[(j, s)]
            else:
                wexpr = signed_literal(slots[-1][1], wb)
                for c in range(r - 2, -1, -1):
                    wexpr = f"(cnt == {cb}'d{c}) ? {signed_literal(slots[c][1], wb)} : {wexpr}"
            wsel = dp.wire(f"w{j}_{s}", wb, wexpr)
            pm = dp.mul(f"m{j}_{s}", xsel_cache[idxs], wx, wsel, wb, prefix)
            e = _fit(pm, wx + wb, ws)
            pe = f"({e} <<< {plan.shift})" if plan.shift else e
            prods.append(dp.reg(f"p{j}_{s}", ws, pe) if reg_products else dp.wire(f"p{j}_{s}", ws, pe))
            _count(dp, "mul")
        depth = max(1, math.ceil(math.log2(len(prods))) if len(prods) > 1 else 0)
        cs = _tree(dp, prods, ws, f"c{j}", set(), depth)
        dp.decls.append(dict(kind="reg", name=f"acc{j}", width=ws, signed=True))
        dp.regs.append(dict(name=f"acc{j}", cond="",
                            next=f"{st} ? {signed_literal(plan.b0[j], ws)} : ({bz} ? acc{j} + {cs} : acc{j})"))
        nxt = dp.wire(f"an{j}", ws, f"acc{j} + {cs}")
        if reg_sum:  # the final sum, kept until the cast one cycle later reads it
            nxt = dp.reg(f"sq{j}", ws, nxt, cond=ls)
        rr = _finish(dp, plan, j, nxt, prefix)
        dp.y_parts.append(dp.reg(f"y{j}", plan.res.width, rr, cond=ls_out, signed=False))
    dp.latency = r + 1 + int(reg_products) + int(reg_sum)
    dp.ii = r


@dataclass(frozen=True)
class FoldSchedule:
    """What a layer folded by ``r`` multiplies on each of its r steps. ``slots``: one
    multiplier each, (output j, slot s, [(input index or -1, weight code) per step]), slots
    whose weights are all zero left out; ``chunk``: slots per output; ``wb``: weight bits;
    ``rom``: weights read from a table (:func:`_weight_rom`), else a ``cnt``-compare mux each."""

    r: int
    chunk: int
    wb: int
    rom: bool
    slots: list

    @property
    def xsels(self) -> int:
        """Distinct input selects (a mux of r inputs each; shared by the slots reading the same
        input on every step)."""
        return len({tuple(i for i, _ in sl) for _, _, sl in self.slots})


def _slots(terms, r: int) -> tuple[int, list]:
    """Output j's terms cut into r ordered chunks of ``ceil(max terms / r)``: slot s of step c
    is term ``c * chunk + s`` (zero beyond the output's last term)."""
    chunk = max(1, math.ceil(max((len(t) for t in terms), default=0) / r))
    out = []
    for j, tl in enumerate(terms):
        padded = list(tl) + [(-1, 0)] * (chunk * r - len(tl))
        for s in range(chunk):
            steps = [padded[c * chunk + s] for c in range(r)]
            if any(wc for _, wc in steps):
                out.append((j, s, steps))
    return chunk, out


def fold_schedule(plan: MacPlan, aligned, r: int) -> FoldSchedule:
    """The schedule of ``plan`` folded by ``r``. With a weight table (at least
    :data:`WEIGHT_ROM_MIN_BITS`, the layout of FINN's MVAU): every output reads weight row
    ``c * chunk + s`` (``aligned`` terms: dense input, conv tap, zero weights kept) on step c,
    so all outputs of one input vector share one input select per slot and the table's words
    are the weight matrix's rows. Otherwise each output's non-zero terms packed (fewest
    multipliers), weights and inputs muxed by ``cnt`` per slot."""
    codes = [wc for tl in plan.terms for _, wc in tl]
    wb = signed_bits(min(codes + [0]), max(codes + [0]))
    if r >= 2:
        chunk, slots = _slots(aligned, r)
        if r * len(slots) * wb >= WEIGHT_ROM_MIN_BITS:
            return FoldSchedule(r, chunk, wb, True, slots)
    chunk, slots = _slots(plan.terms, r)
    return FoldSchedule(r, chunk, wb, False, slots)


def _weight_rom(dp: Datapath, sched: FoldSchedule, addr: str) -> dict[tuple[int, int], str]:
    """The folded layer's weights as tables of ``r`` words (step c's word holds every slot's
    weight code of step c, slot k at bits ``k * wb``), in banks of at most
    :data:`WEIGHT_ROM_WORD_BITS` bits, read at ``addr`` (:meth:`Datapath.rom`).
    {(j, s): the slot's ``wb``-bit slice of its bank's word}."""
    wb, mask = sched.wb, (1 << sched.wb) - 1
    per = max(1, WEIGHT_ROM_WORD_BITS // wb)
    out = {}
    for b, at in enumerate(range(0, len(sched.slots), per)):
        bank = sched.slots[at:at + per]
        words = [sum((steps[c][1] & mask) << (k * wb) for k, (_, _, steps) in enumerate(bank))
                 for c in range(sched.r)]
        q = dp.rom(f"wrom{b}", f"wq{b}", words, len(bank) * wb, addr,
                   f"weight codes of {len(bank)} multipliers per fold step")
        for k, (j, s, _) in enumerate(bank):
            out[(j, s)] = f"{q}[{k * wb + wb - 1}:{k * wb}]"
    return out


def _chain(dp, plan, in_fmt, n_in, prefix) -> None:
    """acc = accum.cast(acc + t) step by step (combinational), then the result cast."""
    from qhw.fixed import add_format

    acc, w = plan.acc, in_fmt.width
    for j, tl in enumerate(plan.terms):
        a_name = dp.wire(f"a{j}_0", acc.width, f"{acc.width}'h{plan.b0[j] & ((1 << acc.width) - 1):x}",
                         signed=False)
        for n, (i, wc) in enumerate(tl):
            if plan.product_cast:
                tspec = UnarySpec(in_fmt, acc, plan.p, multiplier=wc)
                t = dp.unary(tspec, dp.x.element(i, w), f"t{j}_{n}", prefix)
                tfmt = acc
            else:
                pw = plan.p.width + 1
                xs_name = f"xq{j}_{n}"
                xs = dp.wire(xs_name, pw, dp.x.element(i, w, in_fmt.signed).extend(pw))
                t = dp.wire(f"t{j}_{n}", pw, f"{xs} * {signed_literal(wc, pw)}")
                tfmt = FixedFormat(pw, pw - plan.p.frac_bits, True)
                _count(dp, "mul")
            sfmt = add_format(acc, tfmt)
            f = sfmt.frac_bits
            ws = sfmt.width + 1

            def ext(nm, fmt, ws=ws, f=f):
                base = nm if fmt.signed else f"{{1'b0, {nm}}}"
                sign = f"{nm}[{fmt.width - 1}]" if fmt.signed else "1'b0"
                sh = f - fmt.frac_bits
                pad = ws - fmt.width - (0 if fmt.signed else 1) - sh
                parts = ([f"{{{pad}{{{sign}}}}}"] if pad else []) + [base] + ([f"{sh}'d0"] if sh else [])
                return "{" + ", ".join(parts) + "}" if len(parts) > 1 else base

            s_name = dp.wire(f"sum{j}_{n}", ws, f"{ext(a_name, acc)} + {ext(t, tfmt)}")
            sf = FixedFormat(ws, ws - f, True)
            src = FixedFormat(ws, ws - f, sfmt.signed)
            a_name = dp.unary(UnarySpec(sf, acc, src), s_name, f"a{j}_{n + 1}", prefix)
        r = dp.unary(UnarySpec.requant(acc, plan.res), a_name, f"r{j}", prefix)
        dp.y_parts.append(dp.reg(f"y{j}", plan.res.width, r, signed=False))
    dp.latency, dp.ii = 1, 1



def shift_add_network(plan: MacPlan, in_fmt: FixedFormat, options: dict,
                      x_range: tuple[int, int] | None = None) -> ShiftAddNetwork:
    """The shared shift-add network of a ``multipliers="csd"`` node (weights on the accumulator
    grid, inputs as raw codes in ``x_range``, default the input format's); see
    :mod:`qhw.backends.verilog.shiftadd`."""
    cols = [[(i, wc << plan.shift) for i, wc in tl] for tl in plan.terms]
    every = int(options.get("tree_stage_levels", 0) or 0)
    lo, hi = x_range or (in_fmt.raw_min, in_fmt.raw_max)
    cuts = options.get("cuts")
    return plan_shift_add(cols, lo, hi, every=every,
                          reg_levels=None if cuts is None else {lv for lv in cuts if lv > 0})


def _shift_add_parallel(dp: Datapath, plan: MacPlan, in_fmt: FixedFormat, prefix: str,
                        options: dict) -> None:
    """R = 1 with shift-add constant multipliers: the network's adders as exact-width wires
    (registers at the tree levels ``tree_stage_levels`` asks for), then bias and result cast."""
    net = shift_add_network(plan, in_fmt, options)
    ws = plan.sum_width
    xw = in_fmt.width + (0 if in_fmt.signed else 1)
    name: dict[int, str] = {}
    xcache: dict = {}
    for v, i in enumerate(net.inputs):
        name[v] = _input_wire(dp, in_fmt, i, xw, xcache)
    for st in net.steps:
        w = net.width(st.out)
        nm = f"v{st.out}"
        if isinstance(st, Pass):
            name[st.out] = dp.reg(nm, w, _fit(name[st.src], net.width(st.src), w))
            continue
        left, right = name[st.left], name[st.right]
        op = "+" if st.sign > 0 else "-"
        lw, rw = net.width(st.left), net.width(st.right)
        # every operand on the result's width (sign-extended, or its low bits: the arithmetic is
        # exact modulo 2^w and the result fits w bits), so no operator widens or truncates
        if st.split(lw):
            d = st.shift
            top = dp.wire(f"{nm}_t", lw - d, f"{left}[{lw - 1}:{d}]")
            hi = dp.wire(f"{nm}_h", w - d, f"{_fit(top, lw - d, w - d)} {op} {_fit(right, rw, w - d)}")
            expr = f"{{{hi}, {left}[{d - 1}:0]}}"
        else:
            r = _fit(right, rw, w)
            r = f"({r} <<< {st.shift})" if st.shift else r
            expr = f"{_fit(left, lw, w)} {op} {r}"
        name[st.out] = dp.reg(nm, w, expr) if st.level in net.reg_levels else dp.wire(nm, w, expr)
        _count(dp, "adder")
    for j, root in enumerate(net.roots):
        parts = []
        if root is not None:
            v, sh, g = root
            e = _fit(name[v], net.width(v), ws)
            e = f"({e} <<< {sh})" if sh else e
            parts.append(e if g > 0 else f"-{e}")
        if plan.b0[j]:
            parts.append(signed_literal(plan.b0[j], ws))
        s = dp.wire(f"s{j}", ws, " + ".join(parts) if parts else f"{ws}'sd0")
        r = _finish(dp, plan, j, s, prefix)
        dp.y_parts.append(dp.reg(f"y{j}", plan.res.width, r, signed=False))
    dp.latency = 1 + len(net.reg_levels)
    dp.ii = 1


@lowering(Trait.MAC)
class MacLowering(Lowering):
    """dense / conv1d / conv2d (``Trait.MAC``), see the module docstring."""

    def lower(self, ctx):
        return lower_mac(ctx.node, ctx.x, ctx.in_shapes[0], ctx.module, ctx.prefix, ctx.options)

    def live_span(self, ctx):
        return mac_cost(ctx)[0]

    def cost(self, ctx):
        return mac_cost(ctx)[1]

    def delay(self, ctx):
        return mac_delay(ctx)


def mac_delay(ctx) -> list:
    """The combinational blocks of one dense/conv layer (see :mod:`.timing`). Parallel trees:
    the products (a register possible after them: cut 0), every adder-tree level (cut = its
    level), the result cast. Shift-add networks: the shared subexpressions, then the tree levels
    (cuts). Folded layers: the products (cut 0), the accumulate (cut "sum": the final sum
    registered), the result cast. Chain layers: one block (no pipeline register inside)."""
    from qhw.backends.verilog import timing

    m = timing.model(ctx.target)
    node, in_fmt, options = ctx.node, ctx.x, ctx.options
    terms, _ = mac_terms(node, tuple(ctx.in_shapes[0]))
    plan = MacPlan(node, in_fmt, terms)
    r = int(node.attrs.get("reuse_factor") or options.get("reuse_factor") or 1)
    ws, bx = plan.sum_width, in_fmt.width + (0 if in_fmt.signed else 1)
    use_dsp = ctx.target == "xilinx" and not ctx.nodsp and in_fmt.width <= DSP_A and plan.w.width <= DSP_B
    sf = plan.sum_format()
    if plan.fits:
        finish = timing.unary(m, UnarySpec(sf, plan.res, FixedFormat(sf.width, sf.integer_bits, plan.acc.signed)))
    else:
        finish = timing.unary(m, UnarySpec(sf, plan.acc, sf)) + timing.unary(m, UnarySpec.requant(plan.acc, plan.res))
    codes = [wc for tl in terms for _, wc in tl]
    if plan.mode == "chain":
        n = max((len(t) for t in terms), default=0)
        step = m.mul(bx, plan.w.width, use_dsp) + m.adder(ws) + m.adder(plan.acc.width) + m.luts(1)
        return [timing.Block("accumulation chain", n * step), timing.Block("result cast", finish)]
    if r > 1:
        sched = fold_schedule(plan, mac_terms(node, tuple(ctx.in_shapes[0]), aligned=True)[0], r)
        chunk, wb = sched.chunk, sched.wb
        levels = max(1, math.ceil(math.log2(chunk))) if chunk > 1 else 1
        # the input select is on the path; a table's weights come from its register
        return [timing.Block("folded products", m.mux(r) + m.mul(bx, wb, use_dsp), cut=0),
                timing.Block("folded accumulate", levels * m.adder(ws) + m.adder(ws), cut="sum"),
                timing.Block("result cast", finish)]
    if options.get("multipliers", "auto") == "csd" and plan.term_cast is None:
        net = shift_add_network(plan, in_fmt, dict(options, cuts=None))
        depth0: dict[int, int] = {}
        for st in net.steps:
            if isinstance(st, Adder) and st.level == 0:
                depth0[st.out] = 1 + max(depth0.get(st.left, 0), depth0.get(st.right, 0))
        top = max((st.level for st in net.steps), default=0)
        blocks = [timing.Block("shared subexpressions", max(depth0.values(), default=0) * m.adder(ws))]
        blocks += [timing.Block(f"adder level {lv}", m.adder(ws), cut=lv) for lv in range(1, top + 1)]
        return blocks + [timing.Block("bias and result cast", m.adder(ws) + finish)]
    prod = 0.0
    for wc in set(codes):
        c = wc << plan.shift
        if plan.term_cast is not None:
            prod = max(prod, timing.unary(m, plan.term_cast(wc)))
        elif use_dsp and abs(c) & (abs(c) - 1) and bx + signed_bits(min(c, 0), max(c, 0)) >= DSP_Y_MIN:
            prod = max(prod, m.dsp)
        else:
            prod = max(prod, m.cmul(bx, c))
    depth = max([1] + [max(1, (len(t) + (1 if plan.b0[j] else 0) - 1).bit_length()) for j, t in enumerate(terms)])
    return ([timing.Block("products", prod, cut=0)]
            + [timing.Block(f"adder level {lv}", m.adder(ws), cut=lv) for lv in range(1, depth + 1)]
            + [timing.Block("result cast", finish)])


#: Yosys ``mul2dsp`` limits per target, as each ``synth_<target>`` passes them: (A max, B max,
#: A/B min, Y min, signed only). synth_xilinx -family xc7: DSP48E1 25 x 18, Y >= 9, signed
#: only; synth_ecp5 (synth_lattice): MULT18X18D 18 x 18, no Y minimum; synth_ice40 -dsp (the
#: flag qhw passes with DSPs allowed): SB_MAC16 16 x 16, Y >= 11.
DSP_RULES = {"xilinx": (25, 18, 2, 9, True), "ecp5": (18, 18, 2, 0, False),
             "ice40": (16, 16, 2, 11, False)}


def dsp_count(target: str, a: int, b: int, signed: bool = True, y: int | None = None) -> int:
    """DSP blocks Yosys uses for an ``a`` x ``b`` bit multiplier on ``target`` (0: LUTs), whose
    product keeps ``y`` bits (default a + b; ``wreduce`` drops the top bits nothing reads, before
    ``mul2dsp`` tests its Y minimum)."""
    amax, bmax, mn, ymin, signed_only = DSP_RULES[target]
    y = a + b if y is None else min(y, a + b)
    if signed_only and not signed:
        a, b = a + 1, b + 1
    a, b = max(a, b), min(a, b)
    if b < mn or y < max(1, ymin):
        return 0
    return math.ceil(a / amax) * math.ceil(b / bmax)


def _read_sum_bits(plan: MacPlan) -> int:
    """Bits of a layer's exact sum (from the accumulator grid's LSB) that its result cast reads:
    a wrapping cast reads nothing above the format it wraps into, so Yosys narrows the adders
    and products below it (``wreduce``); a saturating one reads them all."""
    acc_lsb, ws = -plan.acc.frac_bits, plan.sum_width
    top = ws - 1 + acc_lsb
    for f in ((plan.res,) if plan.fits else (plan.acc, plan.res)):
        if f.overflow == "WRAP":
            top = min(top, f.width - f.frac_bits - 1)
            break
    return min(ws, top - acc_lsb + 1)


def _const_products(plan: MacPlan, terms, wx: int) -> dict:
    """The layer's constant multipliers as Yosys keeps them: one per (input, odd factor m) (the
    lowering multiplies x by m and shifts; equal cells merge), with the bits of the product
    read downstream: {(i, m): (m bits, product bits)}."""
    read = _read_sum_bits(plan)
    out: dict = {}
    for tl in terms:
        for i, wc in tl:
            c = wc << plan.shift
            if c == 0 or abs(c) & (abs(c) - 1) == 0:
                continue
            k = (abs(c) & -abs(c)).bit_length() - 1
            m = c >> k
            wm = signed_bits(min(m, 0), max(m, 0))
            y = min(wx + wm, read - k)
            out[(i, m)] = (wm, max(y, out.get((i, m), (0, 0))[1]))
    return out


def mac_cost(ctx) -> tuple[tuple[int, int], dict]:
    """(live span of the result, features) of one dense/conv node, counted on the MAC plan and
    shift-add network :func:`lower_mac` builds (memoized in ``ctx``). The input's constant bits
    (below its live LSB; the sign of a non-negative input) are left out of operand widths, as
    Yosys removes them."""
    if "mac_cost" not in ctx.memo:
        ctx.memo["mac_cost"] = _mac_cost(ctx)
    return ctx.memo["mac_cost"]


def _mac_cost(ctx) -> tuple[tuple[int, int], dict]:
    node, in_fmt, options = ctx.node, ctx.x, ctx.options
    in_span, nonneg = ctx.in_spans[0], ctx.in_nonneg[0]
    terms, _ = mac_terms(node, tuple(ctx.in_shapes[0]))
    plan = MacPlan(node, in_fmt, terms)
    r = int(node.attrs.get("reuse_factor") or options.get("reuse_factor") or 1)
    ws, res, n_out, bw = plan.sum_width, plan.res, len(terms), plan.w.width
    k = max(0, in_span[0] + in_fmt.frac_bits)
    x_range = (0 if nonneg else in_fmt.raw_min >> k, in_fmt.raw_max >> k)
    bx = signed_bits(*x_range)
    acc_lsb = -plan.acc.frac_bits
    prod_lsb = max(acc_lsb, in_span[0] - plan.w.frac_bits)
    span = live(res, min(prod_lsb, acc_lsb if any(plan.b0) else prod_lsb), acc_lsb + ws - 2)
    cnt = counts(cast_bits=n_out * bits(span), reg_bits=n_out * bits(span), dsp=0)
    wx = in_fmt.width + (0 if in_fmt.signed else 1)  # the multipliers' input operand (natural)
    n_terms = sum(len(t) for t in terms)
    bias_adds = sum(1 for b in plan.b0 if b)
    cuts = _clock_cuts(ctx)
    if plan.mode == "chain" or (r == 1 and plan.term_cast is not None):
        # a multiplier and a cast per term (a DSP where the target's rule puts it), then adders
        per = [0 if ctx.nodsp or abs(wc) & (abs(wc) - 1) == 0
               else dsp_count(ctx.target, wx, signed_bits(min(wc, 0), max(wc, 0)))
               for tl in terms for _, wc in tl]
        mult = counts(dsp=sum(per), mul_bits=sum(1 for n in per if not n) * bx * bw)
        return span, counts(cnt, mult, cast_bits=n_terms * plan.acc.width, add_bits=n_terms * ws)
    if r == 1:
        every = int(options.get("tree_stage_levels", 0) or 0)
        if options.get("multipliers", "auto") == "csd":
            net = shift_add_network(plan, in_fmt, options if cuts is None else dict(options, cuts=cuts),
                                    x_range)
            return span, counts(cnt, sa_bits=net.cost_bits(), add_bits=bias_adds * ws,
                                reg_bits=sum(net.width(s.out) for s in net.steps
                                             if not isinstance(s, Adder) or s.level in net.reg_levels))
        depth = 0
        # with DSPs allowed: the products Yosys maps to DSP blocks (the target's mul2dsp rule on
        # the natural input width, once per merged cell); a DSP48E1's post-adder absorbs one
        # adder of the tree per product (xilinx_dsp; fitted as dsp_tree_bits)
        on_dsp = {}
        # the tree's adders as Yosys narrows them: no wider than the sum bits the cast reads
        tw = _read_sum_bits(plan)
        if not ctx.nodsp:
            on_dsp = {key: n for key, (wm, y) in _const_products(plan, terms, wx).items()
                      if (n := dsp_count(ctx.target, wx, wm, y=y))}
            cnt = counts(cnt, dsp=sum(on_dsp.values()))
        for j, tl in enumerate(terms):
            w = np.array([wc << plan.shift for _, wc in tl], np.int64)
            leaves = len(w) + (1 if plan.b0[j] else 0)
            depth = max(depth, max(1, (leaves - 1).bit_length()))
            a = np.abs(w)
            odd = w // np.maximum(a & -a, 1)
            dsp_term = np.array([(i, int(m)) in on_dsp for (i, _), m in zip(tl, odd)], bool)
            nonpow2 = a[((a & (a - 1)) != 0) & ~dsp_term]
            n_dsp = int(np.sum(dsp_term))
            absorbed = min(n_dsp, max(0, leaves - 1)) if ctx.target == "xilinx" else 0
            cnt = counts(cnt, tree_bits=(max(0, leaves - 1) - absorbed) * tw,
                         dsp_tree_bits=absorbed * tw, macc_bits=int(np.sum(popcount(nonpow2) - 1)) * bx)
        if cuts is not None:
            # the registers a clock period places: after the products, after tree levels
            regs = sum(max(1, len(tl) >> lv) for tl in terms for lv in cuts if lv > 0)
            cnt = counts(cnt, reg_bits=(regs + (n_terms if 0 in cuts else 0)) * ws)
        elif every:
            # registers after every `every`-th level: about half the operands per level
            regs = sum(max(1, len(tl) >> lv) for tl in terms for lv in range(every, depth + 1, every))
            cnt = counts(cnt, reg_bits=regs * ws)
        return span, cnt
    sched = fold_schedule(plan, mac_terms(node, tuple(ctx.in_shapes[0]), aligned=True)[0], r)
    if sched.rom:
        return span, counts(cnt, _folded_rom_cost(ctx, plan, sched, bx, wx, cuts))
    # folded by r: one multiplier per chunk slot, muxed weights and inputs, an accumulator
    chunk = max(1, math.ceil(max((len(t) for t in terms), default=0) / r))
    n_mul = n_out * chunk
    codes = [wc for tl in terms for _, wc in tl]
    per = 0 if ctx.nodsp else dsp_count(ctx.target, wx, signed_bits(min(codes + [0]), max(codes + [0])))
    mult = counts(dsp=n_mul * per) if per else counts(mul_bits=n_mul * bx * bw)
    piped = n_mul * ws + 3 if cuts and 0 in cuts else 0  # registered products, delayed controls
    piped += n_out * ws + 1 if cuts and "sum" in cuts else 0  # the registered final sums, last
    return span, counts(cnt, mult, mux_bits=n_mul * (r - 1) * (bx + bw), add_bits=n_out * chunk * ws,
                        reg_bits=n_out * ws + int(np.prod(ctx.in_shapes[0])) * bx
                        + max(1, (r - 1).bit_length()) + 1 + piped)


def _folded_rom_cost(ctx, plan: MacPlan, sched: FoldSchedule, bx: int, wx: int, cuts) -> dict:
    """A layer folded with a weight table (:func:`_tree_folded`): a multiplier per slot, an
    r-input select per distinct input schedule, the product tree and accumulator per output,
    and the table: in block RAM from :data:`WEIGHT_ROM_BRAM_DEPTH` words (its own output
    register; blocks by the target's shapes), else logic: :func:`weight_rom_luts` LUTs per
    live bit (one that differs between steps; Yosys drops the constant ones) and the word
    register."""
    r, n_mul, ws = sched.r, len(sched.slots), plan.sum_width
    per = 0 if ctx.nodsp else dsp_count(ctx.target, wx, sched.wb)
    mult = counts(dsp=n_mul * per) if per else counts(mul_bits=n_mul * bx * plan.w.width)
    codes = np.array([[wc for _, wc in steps] for _, _, steps in sched.slots], np.int64)
    planes = (codes[:, None, :] >> np.arange(sched.wb)[None, :, None]) & 1  # slot, bit, step
    live = int(np.count_nonzero(planes.min(axis=2) != planes.max(axis=2)))
    table = counts()
    if r >= WEIGHT_ROM_BRAM_DEPTH[ctx.target]:
        # the target's block shapes; a read-only ECP5 DP16KD also reads 512 x 36 (measured:
        # 128 x 64 and 256 x 64 two blocks, 1024 x 64 four)
        modes = BRAM[ctx.target]["modes"] + (((512, 36),) if ctx.target == "ecp5" else ())
        width = n_mul * sched.wb
        table = counts(bram=min(math.ceil(r / d) * math.ceil(width / w) for d, w in modes))
    elif live:
        table = counts(lut_cells=live * weight_rom_luts(ctx.target, r), reg_bits=live)
    piped = n_mul * ws + 3 if cuts and 0 in cuts else 0  # registered products, delayed controls
    piped += len(plan.terms) * ws + 1 if cuts and "sum" in cuts else 0  # registered sums, last
    return counts(mult, table, mux_bits=sched.xsels * (r - 1) * bx, add_bits=n_mul * ws,
                  reg_bits=len(plan.terms) * ws + int(np.prod(ctx.in_shapes[0])) * bx
                  + max(1, (r - 1).bit_length()) + 1 + piped)


def weight_rom_luts(target: str, depth: int) -> int:
    """LUTs per output bit of a ``depth``-word table in logic (measured with Yosys on 64-bit
    wide tables: xilinx one LUT6 per 64 words, the F7/F8 muxes free; ECP5 one LUT4 per 16
    words, PFUMX/L6MUX free; iCE40 LUT4s for 16 words each and for the mux tree after them:
    64 words 518 LUTs for 64 bits)."""
    if target == "xilinx":
        return math.ceil(depth / 64)
    n = math.ceil(depth / 16)
    return n if target == "ecp5" else 2 * n - 1


def _clock_cuts(ctx):
    """The pipeline registers a ``clock_period`` option places in this layer (as
    :func:`qhw.backends.verilog.top.write_verilog` does: the delays of ``options["target"]``),
    or None without a period."""
    period = ctx.options.get("clock_period")
    if period is None:
        return None
    from dataclasses import replace

    from qhw.backends.verilog import timing

    target = ctx.options.get("target") or "xilinx"
    return timing.plan(mac_delay(replace(ctx, target=target, nodsp=False, memo={})),
                       float(period), target).cuts
