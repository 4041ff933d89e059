"""C++ identifiers for the HLS backend: sanitized node names and one typedef per format."""
from __future__ import annotations

import re

from qhw.fixed import FixedFormat

_CPP_KEYWORDS = frozenset("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char16_t char32_t class
compl const constexpr const_cast continue decltype default delete do double dynamic_cast else enum
explicit export extern false float for friend goto if inline int long mutable namespace new noexcept
not not_eq nullptr operator or or_eq private protected public register reinterpret_cast return short
signed sizeof static static_assert static_cast struct switch template this thread_local throw true
try typedef typeid typename union unsigned using virtual void volatile wchar_t while xor xor_eq main
""".split())


def sanitize(name: str) -> str:
    """A C identifier for a graph name: non-alphanumerics become ``_``; never a keyword, never
    starting with a digit or an underscore (those are reserved for the implementation)."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"cannot make a C++ identifier from {name!r}")
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_") or "t"
    if ident[0].isdigit() or ident in _CPP_KEYWORDS:
        ident = "n_" + ident
    return ident


def unique_identifiers(names: list[str], prefix: str = "") -> dict[str, str]:
    """Map each name to ``prefix + sanitize(name)``, suffixing ``_2``, ``_3``... in list order when
    two names sanitize alike (``a.b`` and ``a_b``)."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = prefix + sanitize(name)
        ident, k = base, 1
        while ident in taken:
            k += 1
            ident = f"{base}_{k}"
        taken.add(ident)
        out[name] = ident
    return out


def type_name(fmt: FixedFormat) -> str:
    """The typedef name of a format, encoding all of it: ``ap_fixed<16,6>`` → ``fixed_16_6_t``,
    ``ap_ufixed<8,-2,AP_RND,AP_SAT>`` → ``ufixed_8_m2_rnd_sat_t``."""
    kind = "fixed" if fmt.signed else "ufixed"
    i = f"m{-fmt.integer_bits}" if fmt.integer_bits < 0 else str(fmt.integer_bits)
    name = f"{kind}_{fmt.width}_{i}"
    if fmt.rounding != "TRN" or fmt.overflow != "WRAP":
        name += f"_{fmt.rounding.lower()}_{fmt.overflow.lower()}"
    return name + "_t"


def ap_type(fmt: FixedFormat) -> str:
    """The full ap_fixed spelling. Integer formats stay ``ap_fixed<W,W>`` on purpose: converting
    to ``ap_int`` truncates toward zero, unlike assignment with the format's own rounding mode."""
    kind = "ap_fixed" if fmt.signed else "ap_ufixed"
    if fmt.rounding == "TRN" and fmt.overflow == "WRAP":
        return f"{kind}<{fmt.width},{fmt.integer_bits}>"
    return f"{kind}<{fmt.width},{fmt.integer_bits},AP_{fmt.rounding},AP_{fmt.overflow}>"
