"""What both backends' jinja2 environments share: the ``text`` filter and the safety net.

Every name (or text holding one) written into a comment or a string goes through
``{{ value | text }}`` (:func:`qhw.names.escape_text`). The environment's ``finalize`` refuses
to emit any value holding a character outside printable ASCII and LF, so a template that writes
a name without the filter fails on the first non-ASCII or control character instead of copying
it into generated code (tests/test_names_property.py renders every template with such names).
"""
from __future__ import annotations

import re
from typing import Any

import jinja2

from qhw.names import describe, escape_text

_NOT_CODE = re.compile(r"[^\x20-\x7e\n]")


def _finalize(value: Any) -> Any:
    if isinstance(value, str):
        bad = _NOT_CODE.search(value)
        if bad:
            raise jinja2.TemplateRuntimeError(
                f"template value {describe(value)} holds U+{ord(bad.group(0)):04X}: text from a "
                "model (names) must go through the 'text' filter")
    return value


def configure(env: jinja2.Environment) -> jinja2.Environment:
    """Register the ``text`` filter and the safety net on ``env`` (returned)."""
    env.filters["text"] = escape_text
    env.finalize = _finalize
    return env


__all__ = ["configure"]
