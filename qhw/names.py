"""Names from model files: one rule for what a name may hold, one escape for generated text.

A model file is written by someone else. Its graph, node and tensor names reach error messages,
reports, file names (sanitized) and the comments of the generated Verilog and C++, which qhw then
compiles and runs. Two defences, each in one place:

- :func:`check_name` refuses, when a graph is built or loaded, every name holding a character that
  can end a comment or hide text: control characters (NUL, CR, LF, TAB, ESC ...), format
  characters (bidi overrides and isolates -- "Trojan Source" --, zero-width characters, tags),
  line and paragraph separators, spaces other than U+0020, surrogates, private-use and
  unassigned code points, and a few invisible fillers. Letters of any script are fine.
- :func:`escape_text` (the ``text`` filter of both backends' jinja2 environments) writes any text
  holding a name as printable ASCII that is inert in a comment of C/C++, Verilog, Tcl, make and
  shell, and in a double-quoted C/C++ or Verilog string: everything outside that alphabet becomes
  ``<U+XXXX>``. Identifiers are made separately, by each backend's ``sanitize``.
"""
from __future__ import annotations

import unicodedata
from typing import Any, Iterable

from qhw import limits
from qhw.errors import ModelError

#: categories refused anywhere in a name (see the module docstring)
_REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character (bidi control, zero-width character or tag)",
    "Cs": "a surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than U+0020",
}
#: invisible characters whose category is a letter or symbol (fillers, blank, variation selectors)
_INVISIBLE = frozenset([0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, 0x034F, 0x17B4, 0x17B5]
                       + list(range(0xFE00, 0xFE10)) + list(range(0xE0100, 0xE01F0)))

_RULE = ("names may hold letters, digits, punctuation, symbols and spaces, but no control, format "
         "(bidi, zero-width), separator or invisible characters")


def describe(name: Any, keep: int = 60) -> str:
    """``name`` for an error message: quoted, ASCII only (escapes), one line, at most ``keep``
    characters of it shown (and how long it is when longer)."""
    if not isinstance(name, str):
        return ascii(name)[: keep + 20]
    if len(name) <= keep:
        return ascii(name)
    return f"{ascii(name[:keep])}... ({len(name):,} characters)"


def name_problem(name: Any) -> str | None:
    """Why ``name`` is not a valid name, or None when it is."""
    if not isinstance(name, str):
        return f"names must be strings, got {type(name).__name__}"
    if not name:
        return "names must not be empty"
    for i, ch in enumerate(name):
        if " " <= ch <= "~":  # printable ASCII: the common case, decided without a table look-up
            continue
        cp = ord(ch)
        cat = unicodedata.category(ch)
        what = _REFUSED_CATEGORIES.get(cat)  # (U+0020, the one space allowed, is ASCII)
        if what is None and cp in _INVISIBLE:
            what = "an invisible character"
        if what is not None:
            label = unicodedata.name(ch, "")
            return f"character {i} is U+{cp:04X}{' ' + label if label else ''}, {what}"
    return None


def check_name(name: Any, what: str) -> str:
    """Return ``name`` if it is a valid name; else raise :class:`ModelError` naming ``what``
    (e.g. ``"node"``, ``"graph"``) and the name, escaped. A name longer than the limit
    ``name_length`` raises :class:`qhw.limits.LimitError`."""
    if isinstance(name, str):
        limits.check("name_length", len(name), f"{what} name {describe(name)}")
    problem = name_problem(name)
    if problem is not None:
        raise ModelError(f"{what} name {describe(name)}: {problem}; {_RULE}")
    return name


# ---------------------------------------------------------------------------------------- escape
#: printable ASCII characters escaped wherever they stand: string delimiters, escape and format
#: introducers, make/Tcl/shell substitution
_ALWAYS = frozenset('\\"%$`')


def _esc(ch: str) -> str:
    return f"<U+{ord(ch):04X}>"


def escape_text(text: Any) -> str:
    """``text`` as inert printable ASCII for comments and double-quoted strings of the generated
    code: printable ASCII is kept except ``\\ " % $ ` `` anywhere, ``/`` next to ``*`` (no ``/*``
    or ``*/``) and ``?`` next to ``?`` (no trigraph ``??/``); everything else, non-ASCII letters
    included, is written ``<U+XXXX>``. Never emits a line break or a backslash, so a ``//``
    comment cannot end early nor continue onto the next line. Idempotent."""
    s = str(text)
    out = []
    n = len(s)
    for i, ch in enumerate(s):
        if not " " <= ch <= "~" or ch in _ALWAYS:
            out.append(_esc(ch))
        elif ch == "/" and ((i > 0 and s[i - 1] == "*") or (i + 1 < n and s[i + 1] == "*")):
            out.append(_esc(ch))
        elif ch == "?" and ((i > 0 and s[i - 1] == "?") or (i + 1 < n and s[i + 1] == "?")):
            out.append(_esc(ch))
        else:
            out.append(ch)
    return "".join(out)


def is_inert(text: str) -> bool:
    """True when ``text`` is already in :func:`escape_text`'s alphabet (what the templates'
    safety net accepts for any value that is not code)."""
    return escape_text(text) == text


def check_onnx_names(model) -> None:
    """Every name of an ``onnx.ModelProto`` that qhw may print, report or turn into a node name:
    the graph's, each node's name, op type, domain and value names, and the graph's inputs,
    outputs and initializers. Raises :class:`ModelError` naming the first bad one."""
    g = model.graph
    check_name(g.name or "onnx_model", "ONNX graph")
    _check_all(((v.name, "ONNX graph input") for v in g.input))
    _check_all(((v.name, "ONNX graph output") for v in g.output))
    _check_all(((t.name, "ONNX initializer") for t in g.initializer))
    for i, node in enumerate(g.node):
        label = f"ONNX node #{i}" if not node.name else f"ONNX node {describe(node.name)}"
        if node.name:
            check_name(node.name, f"ONNX node #{i}")
        check_name(node.op_type, f"{label}: op type")
        if node.domain:
            check_name(node.domain, f"{label}: domain")
        _check_all(((v, f"{label}: input tensor") for v in node.input if v))
        _check_all(((v, f"{label}: output tensor") for v in node.output if v))


def _check_all(items: Iterable[tuple[str, str]]) -> None:
    for name, what in items:
        check_name(name, what)


__all__ = ["check_name", "name_problem", "describe", "escape_text", "is_inert", "check_onnx_names"]
