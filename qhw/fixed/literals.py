"""Writing raw codes as constants in generated Verilog and C++."""
from __future__ import annotations

from qhw.fixed.format import FixedFormat


def _bits(raw: int, fmt: FixedFormat) -> int:
    raw = int(raw)
    if not fmt.raw_min <= raw <= fmt.raw_max and not (fmt.width == 64 and not fmt.signed and raw < 0):
        raise ValueError(f"raw code {raw} is outside {fmt} ({fmt.raw_min}..{fmt.raw_max})")
    return raw & ((1 << fmt.width) - 1)


def verilog_literal(raw: int, fmt: FixedFormat) -> str:
    """A sized hex literal holding the code's W bits, e.g. ``8'shfb`` (signed) or ``4'h3``.

    Never a negative decimal: Yosys reads ``-8'sd128`` as +128.
    """
    digits = (fmt.width + 3) // 4
    return f"{fmt.width}'{'s' if fmt.signed else ''}h{_bits(raw, fmt):0{digits}x}"


def cpp_literal(raw: int, fmt: FixedFormat) -> str:
    """A C++ expression that yields exactly this value when assigned to ``fmt``'s ap type.

    Up to 53 significant bits the value is written as one exactly representable double; wider
    codes are split into two such doubles whose sum is exact in the ap type.
    """
    raw = int(raw)
    if not fmt.signed and fmt.width == 64 and raw < 0:
        raw += 1 << 64
    _bits(raw if fmt.signed or raw < (1 << 63) else raw - (1 << 64), fmt) if fmt.width == 64 else _bits(raw, fmt)
    f = fmt.frac_bits

    def exact(v: int) -> str:
        return repr(float(v) * 2.0**-f) if f <= 1000 else f"std::ldexp({float(v)!r}, {-f})"

    if abs(raw) < (1 << 53):
        return exact(raw)
    hi, lo = raw >> 32 << 32, raw & 0xFFFF_FFFF
    return f"({str(fmt)}({exact(hi)}) + {str(fmt)}({exact(lo)}))"
