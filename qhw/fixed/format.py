"""`FixedFormat`: an ``ap_fixed<W,I,Q,O>``-style fixed-point type as an immutable value.

A value of format ``(W, I, signed)`` is stored as a W-bit integer ``raw``; its real value is
``raw * 2**-(W - I)``. ``I`` counts the integer bits including the sign bit (as in ap_fixed) and
may be <= 0 or > W. Raw values are held in numpy int64, sign-extended when the format is signed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

MAX_WIDTH = 64
#: |I| bound: 2**(I - W) and the products/sums of such formats stay normal float64 numbers
MAX_INTEGER_BITS = 256

#: ap_fixed quantization (rounding) modes, by their name without the ``AP_`` prefix.
ROUNDING_MODES = ("RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV", "TRN", "TRN_ZERO")
#: ap_fixed overflow modes, by their name without the ``AP_`` prefix.
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")


def _mode(value: str, allowed: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} mode must be a string, got {value!r}")
    name = value.strip().upper()
    if name.startswith("AP_"):
        name = name[3:]
    if name not in allowed:
        raise ValueError(f"unknown {what} mode {value!r}; valid: {', '.join(allowed)}")
    return name


@dataclass(frozen=True)
class FixedFormat:
    """A fixed-point number format.

    width: total bits W (1..64).
    integer_bits: I, bits left of the binary point including the sign bit; any integer.
    signed: two's complement when True.
    rounding: one of ``ROUNDING_MODES`` (``AP_`` prefix accepted), applied when a value has more
        fraction bits than this format.
    overflow: one of ``OVERFLOW_MODES``, applied when a value is out of range.
    """

    width: int
    integer_bits: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self) -> None:
        for name in ("width", "integer_bits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                try:
                    iv = int(v)
                except (TypeError, ValueError):
                    raise TypeError(f"FixedFormat {name} must be an integer, got {v!r}") from None
                if iv != v:
                    raise TypeError(f"FixedFormat {name} must be an integer, got {v!r}")
                object.__setattr__(self, name, iv)
        if not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(
                f"FixedFormat width must be in 1..{MAX_WIDTH} bits, got {self.width}"
            )
        if not -MAX_INTEGER_BITS <= self.integer_bits <= MAX_INTEGER_BITS:
            raise ValueError(f"FixedFormat integer_bits must be in -{MAX_INTEGER_BITS}.."
                             f"{MAX_INTEGER_BITS}, got {self.integer_bits}")
        if not isinstance(self.signed, bool):
            raise TypeError(f"FixedFormat signed must be a bool, got {self.signed!r}")
        object.__setattr__(self, "rounding", _mode(self.rounding, ROUNDING_MODES, "rounding"))
        object.__setattr__(self, "overflow", _mode(self.overflow, OVERFLOW_MODES, "overflow"))

    # ----------------------------------------------------------------- derived properties
    @property
    def frac_bits(self) -> int:
        """Bits right of the binary point, F = W - I (may be negative or exceed W)."""
        return self.width - self.integer_bits

    @property
    def lsb(self) -> float:
        """Value of one least significant bit, 2**-F."""
        return 2.0 ** -self.frac_bits

    @property
    def raw_min(self) -> int:
        """Smallest raw code (``-2**(W-1)`` signed, 0 unsigned)."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def raw_max(self) -> int:
        """Largest raw code (``2**(W-1) - 1`` signed, ``2**W - 1`` unsigned)."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def min(self) -> float:
        """Smallest representable real value."""
        return float(self.raw_min) * self.lsb

    @property
    def max(self) -> float:
        """Largest representable real value."""
        return float(self.raw_max) * self.lsb

    @property
    def is_integer(self) -> bool:
        """True for ap_int/ap_uint-like formats (no fraction bits)."""
        return self.frac_bits == 0

    def with_modes(self, rounding: str | None = None, overflow: str | None = None) -> "FixedFormat":
        """The same bits with other rounding/overflow modes."""
        return FixedFormat(
            self.width,
            self.integer_bits,
            self.signed,
            self.rounding if rounding is None else rounding,
            self.overflow if overflow is None else overflow,
        )

    # ----------------------------------------------------------------- conversions
    def quantize(self, x) -> "np.ndarray":
        """Raw codes (int64) for float values: what assigning a ``double`` to this type gives."""
        from qhw.fixed import convert

        return convert.quantize(self, x)

    def cast(self, raw, src: "FixedFormat") -> "np.ndarray":
        """Raw codes of this format for raw codes of ``src``, with this format's modes."""
        from qhw.fixed import convert

        return convert.cast(self, raw, src)

    def to_float(self, raw) -> "np.ndarray":
        """Real values (float64) of raw codes; exact while width <= 53."""
        from qhw.fixed import convert

        return convert.to_float(self, raw)

    # ----------------------------------------------------------------- text form
    _PATTERN = re.compile(
        r"^\s*(?P<kind>ap_fixed|ap_ufixed|ap_int|ap_uint|fixed|ufixed|int|uint)\s*"
        r"<\s*(?P<args>[^<>]*)>\s*$"
    )

    @classmethod
    def parse(cls, text: str) -> "FixedFormat":
        """Parse the HLS spelling: ``ap_fixed<16,6>``, ``ap_ufixed<8,0,AP_RND,AP_SAT>``,
        ``ap_int<8>``, ``ap_uint<4>`` (``fixed<...>``/``int<...>`` accepted as short forms)."""
        if isinstance(text, FixedFormat):
            return text
        if not isinstance(text, str):
            raise TypeError(f"expected a format string such as 'ap_fixed<16,6>', got {text!r}")
        m = cls._PATTERN.match(text)
        if not m:
            raise ValueError(
                f"malformed fixed-point format {text!r}; expected e.g. 'ap_fixed<16,6>', "
                "'ap_ufixed<8,0,AP_RND,AP_SAT>', 'ap_int<8>' or 'ap_uint<4>'"
            )
        kind = m.group("kind").removeprefix("ap_")
        args = [a.strip() for a in m.group("args").split(",")]
        signed = not kind.startswith("u")
        try:
            if kind in ("int", "uint"):
                if len(args) != 1:
                    raise ValueError("takes exactly one argument (the width)")
                width = int(args[0])
                return cls(width, width, signed)
            if not 2 <= len(args) <= 5:
                raise ValueError("takes 2 to 5 arguments <W,I[,Q[,O[,N]]]>")
            width, integer_bits = int(args[0]), int(args[1])
            rounding = args[2] if len(args) > 2 else "TRN"
            overflow = args[3] if len(args) > 3 else "WRAP"
            if len(args) > 4 and int(args[4]) != 0:
                raise ValueError("saturation bits N other than 0 are not supported")
            return cls(width, integer_bits, signed, rounding, overflow)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"malformed fixed-point format {text!r}: {exc}") from None

    def __str__(self) -> str:
        defaults = self.rounding == "TRN" and self.overflow == "WRAP"
        if defaults and self.is_integer:
            return f"ap_{'' if self.signed else 'u'}int<{self.width}>"
        kind = "ap_fixed" if self.signed else "ap_ufixed"
        if defaults:
            return f"{kind}<{self.width},{self.integer_bits}>"
        return f"{kind}<{self.width},{self.integer_bits},AP_{self.rounding},AP_{self.overflow}>"

    def __repr__(self) -> str:
        return (
            f"FixedFormat(width={self.width}, integer_bits={self.integer_bits}, "
            f"signed={self.signed}, rounding={self.rounding!r}, overflow={self.overflow!r})"
        )

    def c_type(self) -> str:
        """The C++ type name (same as ``str``)."""
        return str(self)
