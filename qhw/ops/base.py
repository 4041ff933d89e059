"""OpDef: what every op module provides, and the contexts passes give it.

An op is one small class: its attributes and constants, its shape rule, its format rule (lossless
by default, user slots win) and its golden semantics on raw codes, plus a float twin for accuracy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from qhw.errors import ModelError
from qhw.fixed import MAX_WIDTH, FixedFormat


# ------------------------------------------------------------------ format inference context
@dataclass
class FormatContext:
    """What format inference knows beyond the node.

    default: the format of any slot that is neither set nor derivable losslessly (a result after
    bit growth, a constant): hls4ml's default ``ap_fixed<16,6>``.
    lookup(node, slot): a user's choice (hls4ml-style config) or None.
    notes: every slot narrower than lossless, reported (never silent).
    """

    default: FixedFormat = field(default_factory=lambda: FixedFormat(16, 6))
    lookup: Callable[[Any, str], FixedFormat | None] = lambda node, slot: None
    notes: list[str] = field(default_factory=list)

    def choose(self, node, slot: str, lossless: FixedFormat | None,
               fallback: FixedFormat | None = None) -> FixedFormat:
        """The format for ``slot``: the user's config (the latest, most specific instruction),
        then the node's own (given in code or stored in the model file), then ``fallback``, then
        ``lossless``, then the default. Narrower than lossless is noted."""
        chosen = self.lookup(node, slot) or node.formats.get(slot)
        if chosen is None:
            chosen = fallback or lossless or self.default
            node.inferred.add(slot)
        if lossless is not None and not holds(chosen, lossless):
            self.notes.append(f"{node.name}.{slot}: {chosen} is narrower than lossless {lossless}")
        return chosen


def holds(outer: FixedFormat, inner: FixedFormat) -> bool:
    """True when every value of ``inner`` is exactly representable in ``outer``."""
    if outer.frac_bits < inner.frac_bits or (inner.signed and not outer.signed):
        return False
    return outer.integer_bits >= inner.integer_bits + (outer.signed and not inner.signed)


def capped(width: int, integer_bits: int, signed: bool, what: str) -> FixedFormat:
    """A lossless format, or the 64-bit format keeping its integer bits when it is wider."""
    if width > MAX_WIDTH:
        width = MAX_WIDTH
    return FixedFormat(width, integer_bits, signed)


def format_for_values(values: np.ndarray, width: int, signed: bool | None = None) -> FixedFormat:
    """A ``width``-bit format whose integer bits just hold max|values| (constants' default)."""
    v = np.asarray(values, np.float64)
    if signed is None:
        signed = bool((v < 0).any()) or v.size == 0
    m = float(np.abs(v).max(initial=0.0))
    ib = (math.floor(math.log2(m)) + 1 if m > 0 else 1) + (1 if signed else 0)
    return FixedFormat(width, ib, signed)


# ------------------------------------------------------------------ golden model context
@dataclass
class OverflowCount:
    """Elements of one tensor whose exact value left its format's range, by what happened."""

    saturated: int = 0
    wrapped: int = 0
    zeroed: int = 0
    total: int = 0
    min_value: float = math.inf
    max_value: float = -math.inf

    def add(self, other: "OverflowCount") -> None:
        self.saturated += other.saturated
        self.wrapped += other.wrapped
        self.zeroed += other.zeroed
        self.total += other.total
        self.min_value = min(self.min_value, other.min_value)
        self.max_value = max(self.max_value, other.max_value)


class GoldenContext:
    """Passed to ``OpDef.golden``: assignment into a format, with overflow bookkeeping."""

    def __init__(self, count_overflow: bool = True) -> None:
        self.count_overflow = count_overflow
        self.overflow: dict[str, OverflowCount] = {}

    def assign(self, node_name: str, dst: FixedFormat, raw: np.ndarray, src: FixedFormat) -> np.ndarray:
        out = dst.cast(raw, src)
        if self.count_overflow:
            exact = src.to_float(raw)
            c = OverflowCount(total=int(raw.size))
            if raw.size:
                c.min_value, c.max_value = float(exact.min()), float(exact.max())
                # beyond the range by more than the rounding can explain: an overflow happened
                out_of_range = (exact > dst.max + dst.lsb) | (exact < dst.min - dst.lsb)
                n = int(out_of_range.sum())
                if dst.overflow == "WRAP":
                    c.wrapped = n
                elif dst.overflow == "SAT_ZERO":
                    c.zeroed = n
                else:
                    c.saturated = n
            self.overflow.setdefault(node_name, OverflowCount()).add(c)
        return out


# ------------------------------------------------------------------ the op interface
class OpDef:
    """Base class of every op. Subclasses set the class attributes and override the rules."""

    name: str = ""
    #: what the op is (qhw.ops.traits.Trait); passes and backends ask ``qhw.ops.group``/``has``
    traits: frozenset = frozenset()
    #: number of inputs (None: one or more)
    arity: int | None = 1
    #: attribute defaults; attributes not listed here are rejected
    attrs: dict[str, Any] = {}
    #: required attributes (no default)
    required: tuple[str, ...] = ()
    #: optional attributes without a default (absent unless given)
    optional_attrs: tuple[str, ...] = ()
    #: constants the node must carry
    params: tuple[str, ...] = ()
    #: optional constants
    optional_params: tuple[str, ...] = ()
    #: hls4ml: the layer class this op is (a LayerType key names it, case-insensitively); None: none
    hls4ml_class: str | None = None
    #: further LayerType keys (lower case) that name this op: the source frameworks' spellings qhw
    #: accepted before (hls4ml itself matches only ``hls4ml_class``)
    hls4ml_names: tuple[str, ...] = ()
    #: the precision slots hls4ml's layer class types from its config (others: qhw decides)
    hls4ml_slots: tuple[str, ...] = ()

    def check(self, node) -> None:
        """Validate and complete the node's attributes; ModelError naming the node otherwise."""
        if self.arity is not None and len(node.inputs) != self.arity:
            raise ModelError(f"node {node.name!r} ({self.name}) takes {self.arity} input(s), "
                             f"got {len(node.inputs)}")
        if self.arity is None and not node.inputs:
            raise ModelError(f"node {node.name!r} ({self.name}) needs at least one input")
        unknown = set(node.attrs) - set(self.attrs) - set(self.required) - set(self.optional_attrs) \
            - _COMMON_ATTRS
        if unknown:
            raise ModelError(f"node {node.name!r} ({self.name}): unknown attribute(s) "
                             f"{sorted(unknown)}; valid: {sorted(set(self.attrs) | set(self.required))}")
        for key in self.required:
            if key not in node.attrs:
                raise ModelError(f"node {node.name!r} ({self.name}) needs attribute {key!r}")
        for key, value in self.attrs.items():
            node.attrs.setdefault(key, value)
        for p in self.params:
            if p not in node.params:
                raise ModelError(f"node {node.name!r} ({self.name}) needs constant {p!r}")

    def configure(self, node, config) -> None:
        """Take this op's settings from an hls4ml-layout config (qhw.config.ModelConfig), after
        ``check``; the default takes none. (ReuseFactor/Strategy: qhw.passes.hardware.)"""

    def infer_shape(self, node, in_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        return in_shapes[0]

    def infer_formats(self, node, in_fmts: list[FixedFormat], ctx: FormatContext) -> None:
        """Fill node.formats (every slot, ``result`` last)."""
        node.formats["result"] = ctx.choose(node, "result", in_fmts[0])

    def golden(self, node, inputs: list[np.ndarray], in_fmts: list[FixedFormat],
               ctx: GoldenContext) -> np.ndarray:
        raise NotImplementedError

    def hls4ml_auto(self, node, slot: str, in_fmts: list[FixedFormat], default: FixedFormat | None,
                    maximum: FixedFormat | None) -> FixedFormat | None:
        """The type hls4ml's ``auto`` (``InferPrecisionTypes``) gives ``slot`` of ``node`` (None: qhw
        infers it); see :mod:`qhw.config.infer`. Inputs, activations and the rest: the Model default."""
        return default

    def is_identity(self, node, src) -> bool:
        """True when the node's output equals its input ``src`` (a node), value for value and
        shape for shape, before the cast into its result format (see qhw.passes.fold)."""
        return False

    def output_range(self, node) -> tuple[float, float] | None:
        """The real interval every output value lies in whatever the input (None: not bounded by
        the op itself); a sweep fits such a result format to it."""
        return None

    def float_eval(self, node, inputs: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError


#: attributes any node may carry (hardware options read by backends)
_COMMON_ATTRS = frozenset({"reuse_factor", "strategy", "product_cast", "comment", "io"})


class GatherOp(OpDef):
    """An op whose every output element copies one input element (upsample, depth_to_space):
    ``move(node, x)`` rearranges a batch (N, *shape); the golden model assigns the moved codes to
    the result format (the input's by default) and the backends read the same map through
    :meth:`source_index`."""

    def move(self, node, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def infer_formats(self, node, in_fmts, ctx):
        node.formats["result"] = ctx.choose(node, "result", in_fmts[0])

    def source_index(self, node, in_shape: tuple[int, ...]) -> np.ndarray:
        """For each output element (row-major), the flat index of the input element it copies."""
        idx = np.arange(int(np.prod(in_shape)), dtype=np.int64).reshape((1,) + tuple(in_shape))
        return self.move(node, idx).reshape(-1)

    def golden(self, node, inputs, in_fmts, ctx):
        return ctx.assign(node.name, node.formats["result"], self.move(node, inputs[0]), in_fmts[0])

    def float_eval(self, node, inputs):
        return self.move(node, inputs[0])
