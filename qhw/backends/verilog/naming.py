"""Verilog identifiers from graph names: sanitized, keyword-safe and unique within a design."""
from __future__ import annotations

import hashlib
import re

#: Verilog-2005 and SystemVerilog keywords a node name could collide with.
KEYWORDS = frozenset("""
always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config deassign
default defparam design disable edge else end endcase endconfig endfunction endgenerate endmodule
endprimitive endspecify endtable endtask event for force forever fork function generate genvar
highz0 highz1 if ifnone incdir include initial inout input instance integer join large liblist
library localparam macromodule medium module nand negedge nmos nor noshowcancelled not notif0
notif1 or output parameter pmos posedge primitive pull0 pull1 pulldown pullup
pulsestyle_onevent pulsestyle_ondetect rcmos real realtime reg release repeat rnmos rpmos rtran
rtranif0 rtranif1 scalared showcancelled signed small specify specparam strong0 strong1 supply0
supply1 table task time tran tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use
uwire vectored wait wand weak0 weak1 while wire wor xnor xor logic bit byte int shortint longint
always_ff always_comb always_latch interface endinterface package endpackage import export
typedef struct union enum const var void return break continue do foreach unique priority final
program endprogram class endclass virtual static string type assert assume cover property
sequence clocking endclocking chandle alias bind let matches wildcard tagged
""".split())

_BAD = re.compile(r"[^A-Za-z0-9_]")
#: longest identifier made from one name: Verilator renames a module of 128 characters or more
#: (``__Vhsh...``, then warns DECLFILENAME), and a module is named top + layer + suffixes
MAX_IDENT = 48


def _capped(ident: str, name: str) -> str:
    """``ident`` cut to :data:`MAX_IDENT` characters, ending in a hash of the whole ``name``."""
    if len(ident) <= MAX_IDENT:
        return ident
    return f"{ident[:MAX_IDENT - 11].rstrip('_')}_{hashlib.sha256(str(name).encode()).hexdigest()[:10]}"


def sanitize(name: str) -> str:
    """A legal, keyword-free identifier: other characters become ``_``; a leading digit or
    underscore gets an ``n`` prefix; keywords get a ``_q`` suffix."""
    s = _BAD.sub("_", str(name)) or "n"
    if s[0].isdigit() or s[0] == "_":
        s = "n" + s
    if s in KEYWORDS:
        s += "_q"
    return s


def top_name(name: str) -> str:
    """The top module's name: :func:`sanitize` without runs of ``_`` and without ``_`` at either
    end. Verilator mangles ``__`` in the names of the C++ class and header it generates for the
    top (``V<top>.h``, which the simulation harness includes), so ``a  b`` must not become ``a__b``."""
    return _capped(sanitize(re.sub(r"_+", "_", _BAD.sub("_", str(name))).strip("_") or "qhw_top"), name)


#: the suffixes of a design's shared modules (``<top>_delay``, ``<top>_core``, the datapath
#: units ``<prefix>_cmul``, ``_mul``, ``_u<hash>``, ``_add<hash>``, ``_rom<hash>``, ``_fadd<bits>``):
#: a layer module is ``<top>_<ident>``, so no layer may take one of these as its ident
SHARED_SUFFIX = re.compile(r"delay|core|cmul|mul|(?:u|add|rom)[0-9a-f]{10}|fadd[0-9]+")


class Namer:
    """Hands out unique sanitized identifiers, deterministic in call order; never one in
    ``reserved`` nor one that :data:`SHARED_SUFFIX` matches whole (a shared module's name)."""

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self._used: set[str] = set(reserved)
        self._given: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        if name in self._given:
            return self._given[name]
        base = _capped(sanitize(name), name)
        ident, i = base, 1
        while ident in self._used or SHARED_SUFFIX.fullmatch(ident):
            ident = f"{base}_{i}"
            i += 1
        self._used.add(ident)
        self._given[name] = ident
        return ident
