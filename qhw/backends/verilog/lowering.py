"""The registry of Verilog lowerings: one :class:`Lowering` per op family, found by op traits or
op classes, never by op names.

A lowering turns one graph node into a layer module (:meth:`Lowering.lower`, a
:class:`~qhw.backends.verilog.datapath.Datapath`) and counts, beside it, what that module costs in
the analytic estimator's features (:meth:`Lowering.cost`, summed by :mod:`qhw.estimate.analytic`).
Families register themselves with :func:`lowering`::

    @lowering(Trait.CLAMP)              # every op with this trait
    @lowering(Shift, Requantize)        # these op classes (and their subclasses)
    @lowering({Trait.TABLE, Trait.ELEMENTWISE})   # ops with all of these traits

An op named by its class wins over one matched by a trait; two lowerings matching an op equally
are an error (found by :func:`supported_ops` and on lookup). Adding an op to a family is then a
matter of its traits; a new family is one module listed in ``_FAMILIES``.
"""
from __future__ import annotations

import importlib
import importlib.util
import threading
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from qhw import ops
from qhw.backends.verilog.datapath import Datapath
from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.ops.base import OpDef
from qhw.ops.traits import Trait

#: block RAM of each target: {(depth, width) modes}, read ports per block, and the smallest ROM
#: (bits) Yosys' memory_libmap puts there rather than in logic (xilinx: measured, 6,144 bits stay
#: in LUTs, 10,240 do not; iCE40: 1,024 stay; ecp5: the block cost over the ROM logic cost of
#: 1/16 per bit)
BRAM = {
    "xilinx": dict(modes=((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)),
                   ports=2, min_bits=8192),
    "ecp5": dict(modes=((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18)), ports=2,
                 min_bits=2048),
    "ice40": dict(modes=((2048, 2), (1024, 4), (512, 8), (256, 16)), ports=1, min_bits=2048),
}

#: the modules that register lowerings (imported on first lookup)
_FAMILIES = ("mac", "clamp", "rescale", "move", "pool", "merge", "lut", "softmax", "embedding",
             "code_table", "code_softmax", "fsum_pool",
             "qlinear_add")

#: the analytic estimator's features (bits; see qhw.estimate.analytic); cost() may add "dsp"
#: (DSP blocks) and "bram" (18 Kb block RAM units)
FEATURES = ("sa_bits", "add_bits", "tree_bits", "dsp_tree_bits", "macc_bits", "mul_bits", "mux_bits",
            "cast_bits", "rom_bits", "rom_flips", "rom_clamp_bits", "reg_bits",
            # the block costs of qhw.estimate.blocks
            "arith_bits", "ccmp_bits", "sel_bits", "csel_bits", "cmul_bits", "vmul_bits",
            "msum_bits", "bram_addr_bits", "lut_cells", "ff_cells", "hsig_bits", "arith_odd")


@dataclass
class Context:
    """What a lowering sees of one node: the node, its inputs' formats and shapes (in input
    order), the backend options, and for :meth:`Lowering.lower` the module name and the design's
    prefix for shared units. ``memo`` lets ``cost``/``live_span``/``lower`` share work."""

    node: object
    in_fmts: tuple[FixedFormat, ...]
    in_shapes: tuple[tuple[int, ...], ...]
    options: dict = field(default_factory=dict)
    module: str = ""
    prefix: str = ""
    memo: dict = field(default_factory=dict)

    @classmethod
    def of(cls, node, graph, **kw) -> "Context":
        srcs = [graph.node(s) for s in node.inputs]
        return cls(node, tuple(s.formats["result"] for s in srcs), tuple(tuple(s.shape) for s in srcs), **kw)

    @property
    def op(self) -> OpDef:
        return ops.get(self.node.op, self.node.name)

    @property
    def res(self) -> FixedFormat:
        return self.node.formats["result"]

    @property
    def x(self) -> FixedFormat:
        """The first input's format."""
        return self.in_fmts[0]

    @cached_property
    def sizes(self) -> list[int]:
        """Elements of every input."""
        return [int(np.prod(s)) for s in self.in_shapes]

    @cached_property
    def offsets(self) -> list[int]:
        """Bit offset of every input in the layer's ``x`` bus (and its total width last)."""
        return np.cumsum([0] + [n * f.width for n, f in zip(self.sizes, self.in_fmts)]).tolist()

    @property
    def n_out(self) -> int:
        return int(np.prod(self.node.shape))


@dataclass
class CostContext(Context):
    """A :class:`Context` for :meth:`Lowering.cost`, with what the estimator knows of the inputs:
    their live bit spans ``(lsb, msb)`` (bit positions, powers of two; constant bits left out),
    whether each is never negative, the DSP rule (``nodsp``) and the ``target`` family."""

    in_spans: tuple[tuple[int, int], ...] = ()
    in_nonneg: tuple[bool, ...] = ()
    nodsp: bool = False
    target: str = "xilinx"


# ------------------------------------------------------------------ live-bit arithmetic
def span(fmt: FixedFormat) -> tuple[int, int]:
    """(lsb, msb) bit positions (powers of two) a format can hold; msb is the top bit."""
    return -fmt.frac_bits, fmt.width - fmt.frac_bits - 1


def live(res: FixedFormat, lsb: int, msb: int) -> tuple[int, int]:
    """Live (lsb, msb) of a value with bit positions lsb..msb stored in ``res``."""
    rl, rm = span(res)
    lo, hi = max(rl, lsb), min(rm, msb)
    return lo, max(lo, hi)


def bits(s: tuple[int, int]) -> int:
    return s[1] - s[0] + 1


def popcount(a: np.ndarray) -> np.ndarray:
    """Set bits of non-negative int64 values (vectorized)."""
    a = a.astype(np.uint64)
    n = np.zeros(a.shape, np.int64)
    while np.any(a):
        n += (a & np.uint64(1)).astype(np.int64)
        a = a >> np.uint64(1)
    return n


def counts(*parts: dict, **kw: int) -> dict[str, int]:
    """A cost dict: every feature (0 unless given), plus any ``dsp``/``bram`` given; ``parts``
    (other cost dicts) and ``kw`` are summed."""
    out = dict.fromkeys(FEATURES, 0)
    for d in parts + (kw,):
        for k, v in d.items():
            out[k] = out.get(k, 0) + int(v)
    return out


class Lowering:
    """One op family's Verilog lowering and its cost.

    ``lower(ctx)`` builds the layer's :class:`Datapath`; ``cost(ctx)`` returns the features
    (:data:`FEATURES`, plus ``dsp``/``bram``) of exactly that datapath; ``live_span(ctx)`` the
    live bits of the layer's output and ``nonneg(ctx)`` whether it is never negative (what the
    estimator propagates to the next layer). The defaults describe a per-element cast into a
    result register."""

    def lower(self, ctx: Context) -> Datapath:
        raise NotImplementedError

    def live_span(self, ctx: CostContext) -> tuple[int, int]:
        lsb = min(s[0] for s in ctx.in_spans)
        msb = max(s[1] for s in ctx.in_spans)
        return live(ctx.res, lsb, msb)

    def nonneg(self, ctx: CostContext) -> bool:
        return not ctx.res.signed

    def cost(self, ctx: CostContext) -> dict[str, int]:
        """A cast and a register per output element, over the live bits."""
        b = ctx.n_out * bits(self.live_span(ctx))
        return counts(reg_bits=b, cast_bits=b)

    def delay(self, ctx: CostContext) -> list:
        """The layer's combinational blocks from its input register to its output register, in
        order, with their estimated delays on ``ctx.target`` (a list of
        :class:`~qhw.backends.verilog.timing.Block`; see :mod:`qhw.backends.verilog.timing`).
        The default reads the features :meth:`cost` counts: a variable multiplier
        (``mul_bits``), a table lookup (``rom_bits``), an adder (``add_bits``), then a cast or
        comparison (``cast_bits``), none of them followed by a possible pipeline register."""
        from qhw.backends.verilog.timing import Block, model

        m, got = model(ctx.target), self.cost(ctx)
        wx, wr = max(f.width for f in ctx.in_fmts), ctx.res.width
        out = []
        if got.get("mul_bits"):
            out.append(Block("multiplier", m.mul(wx, wx)))
        if got.get("rom_bits") or got.get("bram"):
            out.append(Block("table", m.rom(wx)))
        if got.get("add_bits") or got.get("sa_bits") or got.get("tree_bits"):
            out.append(Block("adder", m.adder(max(wx, wr) + 1)))
        if got.get("cast_bits") or not out:
            out.append(Block("cast", m.adder(max(wx, wr)) + m.luts(1)))
        return out


_REGISTRY: list[tuple[tuple, Lowering]] = []
_loaded = False
_LOAD_LOCK = threading.RLock()  # re-entrant: a family module may look a lowering up on import


def lowering(*serves):
    """Class decorator registering a :class:`Lowering` for the ops it ``serves``: a
    :class:`Trait` (ops with it), a set of traits (ops with all of them) or an op class."""
    for s in serves:
        if not (isinstance(s, (Trait, frozenset, set)) or (isinstance(s, type) and issubclass(s, OpDef))):
            raise TypeError(f"a lowering serves traits, trait sets or op classes, not {s!r}")

    def register(cls):
        _REGISTRY.append((serves, cls()))
        return cls
    return register


def _load() -> None:
    """Import the family modules once. Marked loaded only when all are in, under a lock: a
    second thread asking meanwhile waits rather than seeing a half-filled registry (it did:
    "op 'softmax' has no Verilog lowering" from a threaded calibration run)."""
    global _loaded
    if _loaded:
        return
    with _LOAD_LOCK:
        if not _loaded:
            for mod in _FAMILIES:
                importlib.import_module(f"qhw.backends.verilog.{mod}")
            _loaded = True


def _match(serves: tuple, op: OpDef) -> int:
    """2: the op's class is named; 1: its traits match; 0: no match."""
    best = 0
    for s in serves:
        if isinstance(s, type):
            best = max(best, 2 * isinstance(op, s))
        elif isinstance(s, Trait):
            best = max(best, int(s in op.traits))
        else:
            best = max(best, int(set(s) <= op.traits))
    return best


def find(op_name: str) -> Lowering | None:
    """The lowering of ``op_name``, or None when no lowering serves it."""
    _load()
    op = ops.get(op_name)
    scored = [(m, low) for serves, low in _REGISTRY if (m := _match(serves, op))]
    if not scored:
        return None
    top = max(m for m, _ in scored)
    found = [low for m, low in scored if m == top]
    if len(found) > 1:
        raise ModelError(f"op {op_name!r} matches {len(found)} Verilog lowerings: "
                         f"{', '.join(type(f).__name__ for f in found)}")
    return found[0]


def get(node) -> Lowering:
    """The lowering of ``node``; ModelError naming the node and the supported ops otherwise."""
    low = find(node.op)
    if low is None:
        raise ModelError(f"node {node.name!r}: op {node.op!r} has no Verilog lowering yet; "
                         f"supported: {', '.join(supported_ops())}")
    return low


def supported_ops() -> tuple[str, ...]:
    """Every registered op the Verilog backend can build: graph inputs and the ops a lowering
    serves."""
    return tuple(n for n in ops.names() if ops.has(n, Trait.IO) or find(n) is not None)


def cost_context(node, graph, **kw) -> CostContext:
    """A :class:`CostContext` whose input spans and signs come from the input formats alone
    (what the delay model needs; the estimator propagates live bits instead)."""
    srcs = [graph.node(s).formats["result"] for s in node.inputs]
    return CostContext.of(node, graph, in_spans=tuple(span(f) for f in srcs),
                          in_nonneg=tuple(not f.signed for f in srcs), **kw)


__all__ = ["Context", "CostContext", "cost_context", "Lowering", "lowering", "find", "get", "supported_ops",
           "FEATURES", "counts", "popcount", "span", "live", "bits"]
