"""Precision strings in every spelling hls4ml 1.3.0 reads or prints, and hls4ml's spelling back.

hls4ml reads ``ap_fixed<W,I[,Q[,O[,N]]]>``, ``ap_ufixed<…>``, ``ap_int<W>``, ``ap_uint<W>`` and the
same without the ``ap_`` prefix; it prints ``fixed<16,6,TRN,WRAP,0>`` / ``ufixed<…>``. Mode names
are accepted with or without ``AP_`` and in any case, as hls4ml's ``RoundingMode.from_string`` does.
The saturation-bit count N only changes the WRAP modes in ap_types; qhw refuses N > 0 with WRAP
(it does not model it) and accepts it, without effect, with the SAT modes.
"""
from __future__ import annotations

import re

from qhw.fixed import FixedFormat
from qhw.fixed.format import OVERFLOW_MODES, ROUNDING_MODES

#: qhw-only precision value: qhw's lossless inference for this slot (no hls4ml equivalent)
LOSSLESS = "lossless"
AUTO = "auto"

_AP = re.compile(r"^\s*(?:ap_)?(?P<kind>u?fixed|u?int)\s*<(?P<args>[^<>]*)>\s*$", re.IGNORECASE)
_VALID = ("ap_fixed<W,I[,Q[,O[,N]]]>, ap_ufixed<…>, ap_int<W>, ap_uint<W>, fixed<W,I,Q,O,N> or "
          "ufixed/int/uint<…> (hls4ml's spelling), 'auto', or qhw's 'lossless'")


def _mode(text: str, valid: tuple[str, ...], what: str) -> str:
    m = text.strip().upper().removeprefix("AP_").removeprefix("AC_")
    if m not in valid:
        raise ValueError(f"unknown {what} mode {text.strip()!r}; valid: {', '.join(valid)} "
                         "(with or without AP_)")
    return m


def parse_precision(value) -> FixedFormat | str:
    """A FixedFormat, ``"auto"`` or ``"lossless"``; ValueError saying what is valid otherwise."""
    if isinstance(value, FixedFormat):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a precision is a string such as 'ap_fixed<16,6>', got {value!r}")
    low = value.strip().lower()
    if low in (AUTO, LOSSLESS):
        return low
    m = _AP.match(value)
    if not m:
        if low.startswith(("ac_", "float", "double", "half", "bfloat", "ap_float", "std_float")):
            raise ValueError(f"{value!r} is not a fixed-point type; qhw computes in ap_fixed/ap_int "
                             f"types only: {_VALID}")
        raise ValueError(f"malformed precision {value!r}; valid: {_VALID}")
    kind = m.group("kind").lower()
    args = [a.strip() for a in m.group("args").split(",")]
    signed = not kind.startswith("u")
    try:
        if kind.endswith("int"):
            if len(args) != 1:
                raise ValueError("takes exactly one argument (the width)")
            width = int(args[0])
            return FixedFormat(width, width, signed)
        if not 2 <= len(args) <= 5:
            raise ValueError("takes 2 to 5 arguments <W,I[,Q[,O[,N]]]>")
        width, integer = int(args[0]), int(args[1])
        rounding = _mode(args[2], ROUNDING_MODES, "rounding") if len(args) > 2 else "TRN"
        overflow = _mode(args[3], OVERFLOW_MODES, "overflow") if len(args) > 3 else "WRAP"
        n = int(args[4]) if len(args) > 4 else 0
        if n < 0:
            raise ValueError(f"saturation bits N must be >= 0, got {n}")
        if n and overflow == "WRAP":
            raise ValueError(f"saturation bits N={n} with WRAP are not supported by qhw (use N=0)")
        return FixedFormat(width, integer, signed, rounding, overflow)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"malformed precision {value!r}: {exc}") from None


def hls4ml_spelling(fmt: FixedFormat) -> str:
    """The string hls4ml prints for a type: ``fixed<16,6,TRN,WRAP,0>``, ``uint<8>``."""
    if fmt.is_integer and fmt.rounding == "TRN" and fmt.overflow == "WRAP":
        return f"{'' if fmt.signed else 'u'}int<{fmt.width}>"
    return (f"{'' if fmt.signed else 'u'}fixed<{fmt.width},{fmt.integer_bits},"
            f"{fmt.rounding},{fmt.overflow},0>")


__all__ = ["parse_precision", "hls4ml_spelling", "AUTO", "LOSSLESS"]
