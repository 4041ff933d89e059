"""Locating data shipped with qhw: jinja2 templates and cocotb testbenches.

In a wheel the top-level ``templates/`` and ``sim/`` trees are installed as ``qhw/templates`` and
``qhw/_sim``; in a source checkout (editable install) they sit beside the package.
"""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _shipped(installed: str, source: str) -> Path:
    for candidate in (_PKG / installed, _PKG.parent / source):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"qhw data folder {source!r} not found next to {_PKG}; reinstall qhw")


def templates_dir() -> Path:
    """The directory holding the jinja2 templates (``verilog/``, ``hls/``)."""
    return _shipped("templates", "templates")


def sim_dir() -> Path:
    """The directory holding the cocotb testbenches (top-level ``sim/``, ``qhw/_sim`` in a wheel)."""
    return _shipped("_sim", "sim")
