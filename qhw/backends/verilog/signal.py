"""A typed Verilog signal: an expression with its width (bits) and signedness, so lowerings write
slices, extensions, shifts and literals through checked methods instead of re-typing braces.

``signed`` says how the bits are read (two's complement or not); a concatenation is unsigned to
Verilog whatever it holds, so :meth:`Signal.as_signed` wraps it in ``$signed(...)`` where an
operator needs a signed operand (``>>>``, ``<``, ``*``)::

    x = Signal("x", 32)                      # a layer's input bus
    e = x.element(3, 8, signed=True)         # x[31:24], 8 bits, read as signed
    e.sext(12)                               # {{4{x[31]}}, x[31:24]}
    literal(-128, 8)                         # 8'sh80
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from qhw.fixed import FixedFormat, verilog_literal

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_$]*)\[(\d+):(\d+)\]")


@dataclass(frozen=True)
class Signal:
    """A Verilog expression ``expr`` of ``width`` bits, read as two's complement when ``signed``."""

    expr: str
    width: int
    signed: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.expr, str) or not self.expr:
            raise ValueError(f"a signal needs a Verilog expression, got {self.expr!r}")
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"signal {self.expr!r}: width must be an int >= 1, got {self.width!r}")

    def __str__(self) -> str:
        return self.expr

    @property
    def is_name(self) -> bool:
        """A plain identifier (only those can be part-selected)."""
        return _IDENT.fullmatch(self.expr) is not None

    def msb(self) -> str:
        """The top bit, as an expression (of a name or a part-select of one)."""
        if self.is_name:
            return f"{self.expr}[{self.width - 1}]"
        m = _PART.fullmatch(self.expr)
        if m:
            return f"{m.group(1)}[{m.group(2)}]"
        raise ValueError(f"cannot take the top bit of the expression {self.expr!r}; name it first")

    def slice(self, hi: int, lo: int, signed: bool = False) -> "Signal":
        """Bits ``hi`` down to ``lo`` of a named signal."""
        if not self.is_name:
            raise ValueError(f"cannot part-select the expression {self.expr!r}; name it first")
        if not 0 <= lo <= hi < self.width:
            raise ValueError(f"{self.expr}[{hi}:{lo}] is outside its {self.width} bits")
        return Signal(f"{self.expr}[{hi}:{lo}]", hi - lo + 1, signed)

    def element(self, i: int, width: int, signed: bool = False, offset: int = 0) -> "Signal":
        """Element ``i`` of ``width`` bits of a bus whose elements start at bit ``offset``
        (element 0 lowest)."""
        lo = offset + i * width
        return self.slice(lo + width - 1, lo, signed)

    def sext(self, width: int) -> "Signal":
        """Sign-extended to ``width`` bits (the top bit replicated)."""
        if width < self.width:
            raise ValueError(f"cannot sign-extend {self.expr} from {self.width} to {width} bits")
        if width == self.width:
            return Signal(self.expr, width, True)
        return Signal(f"{{{{{width - self.width}{{{self.msb()}}}}}, {self.expr}}}", width, True)

    def zext(self, width: int, signed: bool = False) -> "Signal":
        """Zero-extended to ``width`` bits (a sized zero prefix, even when none is needed)."""
        if width < self.width:
            raise ValueError(f"cannot zero-extend {self.expr} from {self.width} to {width} bits")
        return Signal(f"{{{width - self.width}'d0, {self.expr}}}", width, signed)

    def extend(self, width: int) -> "Signal":
        """Sign-extended when signed, else zero-extended: the same value on ``width`` bits."""
        return self.sext(width) if self.signed else self.zext(width)

    def as_signed(self) -> "Signal":
        """``$signed(expr)``: the bits read as two's complement by Verilog operators."""
        return Signal(f"$signed({self.expr})", self.width, True)

    def shl(self, k: int) -> "Signal":
        """Times 2**k by appending ``k`` zero bits (wider by k)."""
        if k < 0:
            raise ValueError(f"shift {k} < 0")
        return self if k == 0 else Signal(f"{{{self.expr}, {k}'d0}}", self.width + k, self.signed)

    def ashift(self, k: int) -> "Signal":
        """Arithmetic shift on the same width: right by k (``>>>``) for k > 0, left by -k
        (``<<<``) for k < 0."""
        if k == 0:
            return self
        op = ">>>" if k > 0 else "<<<"
        return Signal(f"({self.expr} {op} {abs(k)})", self.width, self.signed)


def literal(value: int, width: int, signed: bool = True) -> Signal:
    """A ``width``-bit sized hex literal (never a negative decimal: ``-128`` on 8 bits is
    ``8'sh80``); ValueError when the value does not fit."""
    lo, hi = (-(1 << (width - 1)), 1 << (width - 1)) if signed else (0, 1 << width)
    if not lo <= int(value) < hi:
        raise ValueError(f"{value} does not fit a {width}-bit {'signed' if signed else 'unsigned'} literal")
    return Signal(verilog_literal(int(value), FixedFormat(width, width, signed)), width, signed)


__all__ = ["Signal", "literal"]
