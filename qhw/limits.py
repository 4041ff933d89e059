"""Limits on sizes a model file, a config or a command line may declare.

A few hundred bytes of YAML, npz header or command line can ask for tens of GiB or hours. Every
declared size is checked here *before* anything is allocated or started. The defaults fit a
2-core, 24 GB machine with room to spare. Each limit can be raised, one mechanism for all of them:
the environment variable ``QHW_MAX_<NAME>`` (e.g. ``QHW_MAX_TENSOR_ELEMENTS=500000000``). The error
names the limit, the value asked for and that variable.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from qhw.errors import QhwError


class LimitError(QhwError):
    """A declared size is over one of qhw's limits; the message says which and how to raise it."""


@dataclass(frozen=True)
class Limit:
    name: str
    default: int
    what: str  # what is counted, with its unit

    @property
    def env(self) -> str:
        return f"QHW_MAX_{self.name.upper()}"


_LIMITS = {lim.name: lim for lim in (
    Limit("tensor_elements", 1 << 24, "elements of one tensor (per sample)"),
    Limit("batch_elements", 1 << 30, "tensor elements of one batch (samples x elements)"),
    Limit("layer_weights", 1 << 24, "weights of one layer"),
    Limit("table_entries", 1 << 20, "entries of one lookup table"),
    Limit("vectors", 1_000_000, "test vectors of one run"),
    Limit("reuse_factor", 1 << 20, "reuse factor of one layer"),
    Limit("sweep_points", 100_000, "points of one sweep grid"),
    Limit("yaml_aliases", 1_000, "aliases in one YAML document"),
    Limit("nesting_depth", 64, "nesting levels of one YAML/JSON document"),
    Limit("document_nodes", 1_000_000, "values of one YAML document (aliases expanded)"),
    Limit("document_bytes", 64 << 20, "bytes of one YAML/JSON document"),
    Limit("array_bytes", 4 << 30, "bytes of one array read from a file"),
    Limit("nodes", 100_000, "nodes of one graph"),
    Limit("upsample_factor", 1 << 10, "upsampling factor of one axis"),
    Limit("port_bits", 1 << 20, "bits of one parallel port of the Verilog top (elements x width)"),
    Limit("probe_codes", 1 << 25, "input codes of the probe run that finds an average's output codes"),
    # a graph name and a node name together make a Verilog file name: 2 x 120 + 15 < 255 bytes
    Limit("name_length", 120, "characters of one graph, node or tensor name"),
)}


def limit(name: str) -> int:
    """The limit in force: ``QHW_MAX_<NAME>`` if set (a positive integer), else the default."""
    lim = _LIMITS[name]
    raw = os.environ.get(lim.env)
    if raw is None or raw.strip() == "":
        return lim.default
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        raise LimitError(f"{lim.env}={raw!r} is not a positive integer") from None
    if value < 1:
        raise LimitError(f"{lim.env}={raw!r} is not a positive integer")
    return value


def check(name: str, value: int, where: str) -> int:
    """Raise :class:`LimitError` naming ``where`` when ``value`` is over the limit ``name``."""
    lim = _LIMITS[name]
    cap = limit(name)
    if value > cap:
        raise LimitError(f"{where}: {value:,} {lim.what} is over the limit of {cap:,} "
                         f"(raise it with the environment variable {lim.env}=N)")
    return value


def all_limits() -> dict[str, Limit]:
    """Every limit by name (for documentation and ``--help`` texts)."""
    return dict(_LIMITS)


__all__ = ["Limit", "LimitError", "limit", "check", "all_limits"]
