"""Locating files shipped with qhw (jinja2 templates).

In a wheel the top-level ``templates/`` tree is installed as ``qhw/templates``; in a source
checkout (editable install) it sits beside the package.
"""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def templates_dir() -> Path:
    """The directory holding the jinja2 templates (``verilog/``, ``hls/``)."""
    for candidate in (_PKG / "templates", _PKG.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"qhw templates not found next to {_PKG}; reinstall qhw (pip install -e .)"
    )
