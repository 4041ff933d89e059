"""Constant matrix-vector products as shift-add networks with shared subexpressions.

Every output ``y[j] = sum_i c[i][j] * x[i]`` starts as a list of signed digits ``(var, shift,
sign)`` from the canonical signed digits of its constants. A greedy pass (Hartley-style common
subexpression elimination, the idea behind da4ml's CMVM) then repeatedly takes the two-digit
pattern ``a + g * (b << d)`` that occurs most often across all outputs, builds it once as a new
variable and substitutes it everywhere it occurs without overlap, until no pattern occurs twice.
What is left of each output is summed by a balanced adder tree.

Every adder is ``n = L + g * (H << d)`` with ``d >= 0``: its low ``d`` bits are ``L``'s and only
the upper part is added, so an adder costs ``width(n) - d`` bits (LUT + carry per bit on
7-series). Widths come from exact integer intervals of every variable, so the same network gives
the Verilog (:mod:`qhw.backends.verilog.mac`) and the analytic cost (:mod:`qhw.estimate`).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from qhw.backends.verilog.requant import signed_bits

#: skip the sharing search when the outputs hold more digit pairs than this (time guard)
MAX_PAIRS = 400_000


def csd_digits(c: int) -> list[tuple[int, int]]:
    """Canonical signed digits of c as [(sign, shift)], lowest first, no two adjacent."""
    out, k = [], 0
    while c:
        if c & 1:
            d = 2 - (c & 3)  # +1 or -1
            out.append((d, k))
            c -= d
        c >>= 1
        k += 1
    return out


@dataclass(frozen=True)
class Adder:
    """``out = left + sign * (right << shift)``; ``lo``..``hi`` bound ``out`` (integers);
    ``level`` 0 for shared subexpressions, 1.. for adder-tree levels."""

    out: int
    left: int
    right: int
    shift: int
    sign: int
    lo: int
    hi: int
    level: int

    @property
    def width(self) -> int:
        return signed_bits(self.lo, self.hi)

    def split(self, left_width: int) -> bool:
        """Whether only the upper ``width - shift`` bits are added (the low bits are ``left``'s)."""
        return 0 < self.shift < min(left_width, self.width)

    def cost_bits(self, left_width: int) -> int:
        return self.width - self.shift if self.split(left_width) else self.width


@dataclass(frozen=True)
class Pass:
    """``out`` = ``src`` carried through tree level ``level`` unchanged (a pipeline register)."""

    out: int
    src: int
    level: int


@dataclass
class ShiftAddNetwork:
    """Variables 0..n_inputs-1 are the inputs (``inputs[v]`` = input index); the others are
    made by ``steps`` (adders and register pass-throughs) in order. ``roots[j]`` = (var, shift, sign) with
    ``y[j] = sign * (var << shift)``, or None when output j has no terms."""

    inputs: list[int]
    lo: list[int]
    hi: list[int]
    steps: list[Adder | Pass] = field(default_factory=list)
    roots: list[tuple[int, int, int] | None] = field(default_factory=list)
    depth: int = 0
    shared: int = 0
    reg_levels: frozenset[int] = frozenset()

    @property
    def adders(self) -> list[Adder]:
        return [a for a in self.steps if isinstance(a, Adder)]

    def width(self, var: int) -> int:
        return signed_bits(self.lo[var], self.hi[var])

    def cost_bits(self) -> int:
        """Adder bits of the whole network (see module docstring)."""
        return sum(a.cost_bits(self.width(a.left)) for a in self.adders)

    def _new(self, left: int, right: int, shift: int, sign: int, level: int) -> int:
        s = 1 << shift
        rl, rh = (self.lo[right] * s, self.hi[right] * s) if sign > 0 else \
            (-self.hi[right] * s, -self.lo[right] * s)
        v = len(self.lo)
        self.lo.append(self.lo[left] + rl)
        self.hi.append(self.hi[left] + rh)
        self.steps.append(Adder(v, left, right, shift, sign, self.lo[v], self.hi[v], level))
        return v

    def _pass(self, src: int, level: int) -> int:
        v = len(self.lo)
        self.lo.append(self.lo[src])
        self.hi.append(self.hi[src])
        self.steps.append(Pass(v, src, level))
        return v


def _share(net: ShiftAddNetwork, outs: list[dict[tuple[int, int], int]]) -> None:
    """Greedy common-subexpression elimination over the digit sets ``outs`` (in place):
    ``outs[j]`` maps (var, shift) -> sign. Pattern counts are updated incrementally: removing or
    adding one digit touches only the pairs it forms with its output's other digits."""
    count: dict[tuple, int] = {}
    where: dict[tuple, set[int]] = {}
    byvar: list[dict[int, set[int]]] = []
    for j, d in enumerate(outs):
        bv: dict[int, set[int]] = {}
        ds = list(d.items())
        for n, ((v, s), g) in enumerate(ds):
            bv.setdefault(v, set()).add(s)
            for (v2, s2), g2 in ds[:n]:
                k = (v, v2, s2 - s, g * g2) if (s, v) < (s2, v2) else (v2, v, s - s2, g * g2)
                count[k] = count.get(k, 0) + 1
                where.setdefault(k, set()).add(j)
        byvar.append(bv)
    heap = [(-c, k[2], k) for k, c in count.items() if c > 1]
    heapq.heapify(heap)

    def pairs(d, v, s, g):
        for (v2, s2), g2 in d.items():
            yield (v, v2, s2 - s, g * g2) if (s, v) < (s2, v2) else (v2, v, s - s2, g * g2)

    while heap:
        negc, _, key = heapq.heappop(heap)
        c = count.get(key, 0)
        if c != -negc:
            if c > 1:
                heapq.heappush(heap, (-c, key[2], key))
            continue
        if c < 2:
            break
        lv, hv, dsh, g = key
        new = None
        touched: set = set()
        for j in sorted(where.pop(key)):
            d, bv = outs[j], byvar[j]
            hits = []
            for s in sorted(bv.get(lv, ())):
                hb = (hv, s + dsh)
                sg = d.get((lv, s))
                if sg is None or hb == (lv, s) or d.get(hb) != sg * g:
                    continue
                hits.append((s, sg))
                for vs in ((lv, s), hb):
                    sign = d.pop(vs)
                    bv[vs[0]].discard(vs[1])
                    for k in pairs(d, vs[0], vs[1], sign):
                        count[k] -= 1
            if not hits:
                continue
            if new is None:
                new = net._new(lv, hv, dsh, g, level=0)
                net.shared += 1
            for s, sg in hits:
                for k in pairs(d, new, s, sg):
                    count[k] = count.get(k, 0) + 1
                    where.setdefault(k, set()).add(j)
                    touched.add(k)
                d[(new, s)] = sg
                bv.setdefault(new, set()).add(s)
        count.pop(key, None)
        for k in touched:
            if count.get(k, 0) > 1:
                heapq.heappush(heap, (-count[k], k[2], k))


def _tree(net: ShiftAddNetwork, digits: list[tuple[int, int, int]], depth: int,
          reg_levels: set[int]) -> tuple[int, int, int] | None:
    """Balanced adder tree over ``digits`` sorted by shift, padded to ``depth`` levels; an
    operand carried through a level in ``reg_levels`` gets a :class:`Pass` (register)."""
    level = sorted(digits, key=lambda t: (t[1], t[0]))
    if not level:
        return None
    for lv in range(1, depth + 1):
        nxt = []
        for k in range(0, len(level), 2):
            if k + 1 == len(level):
                v, sh, g = level[k]
                nxt.append((net._pass(v, lv), sh, g) if lv in reg_levels else level[k])
                continue
            a, b = level[k], level[k + 1]
            if (a[1], a[0]) > (b[1], b[0]):
                a, b = b, a
            v = net._new(a[0], b[0], b[1] - a[1], a[2] * b[2], level=lv)
            nxt.append((v, a[1], a[2]))
        level = nxt
    return level[0]


def plan_shift_add(columns: list[list[tuple[int, int]]], x_lo: int, x_hi: int,
                   share: bool = True, every: int = 0,
                   reg_levels: set[int] | None = None) -> ShiftAddNetwork:
    """The shift-add network of ``y[j] = sum(c * x[i] for i, c in columns[j])`` for inputs in
    [x_lo, x_hi] (integers), with a register after every ``every``-th tree level (0: none)."""
    coefs = []
    for col in columns:
        coef: dict[int, int] = {}
        for i, c in col:  # an input listed twice in one column: its constants add
            coef[i] = coef.get(i, 0) + int(c)
        coefs.append({i: c for i, c in coef.items() if c})
    used = sorted({i for coef in coefs for i in coef})
    var_of = {i: v for v, i in enumerate(used)}
    net = ShiftAddNetwork(inputs=used, lo=[x_lo] * len(used), hi=[x_hi] * len(used))
    outs = [{(var_of[i], k): sign for i, c in coef.items() for sign, k in csd_digits(c)}
            for coef in coefs]
    if share and sum(len(d) * (len(d) - 1) // 2 for d in outs) <= MAX_PAIRS:
        _share(net, outs)
    digit_lists = [[(v, s, g) for (v, s), g in d.items()] for d in outs]
    depth = max([max(1, (len(dl) - 1).bit_length()) for dl in digit_lists] + [1])
    net.depth = depth
    if reg_levels is None:
        reg_levels = {lv for lv in range(1, depth + 1) if every and lv % every == 0}
    reg_levels = {lv for lv in reg_levels if 0 < lv <= depth}
    net.reg_levels = frozenset(reg_levels)
    net.roots = [_tree(net, dl, depth, reg_levels) for dl in digit_lists]
    return net
