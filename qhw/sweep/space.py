"""The space of a sweep: points (plain dicts of bit-widths and table options) and how a point
becomes formats on the graph.

A point maps axis names to values. Global axes: ``weights``, ``activations``, ``accum`` (total
widths; integer bits are chosen from the float ranges the data reaches, so every width is used
as well as it can be), ``table_size``, ``variant`` (sigmoid/tanh nodes). Per-layer axes:
``<layer>.<axis>`` with the same axis names; a per-layer value wins over the global one. A point's
id is a hash of its canonical JSON, so a rerun recognises finished points.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qhw.errors import ConfigError
from qhw.fixed import FixedFormat
from qhw.graph import Graph

AXES = ("weights", "activations", "accum", "table_size", "variant")
_RANGE = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*(?::\s*(\d+)\s*)?$")
#: ops whose result a bit-width sweep does not choose (ports and pure data movement)
_KEEP_RESULT = frozenset({"input", "flatten", "reshape", "concat", "maxpool1d", "maxpool2d"})
_TABLE_OPS = frozenset({"sigmoid", "tanh"})


def parse_range(text: str, what: str = "range") -> list[int]:
    """``A:B[:STEP]``, inclusive: ``6:16:2`` -> [6, 8, ..., 16]; a single ``N`` -> [N]."""
    text = str(text)
    if text.strip().isdigit():
        return [int(text)]
    m = _RANGE.match(text)
    if not m:
        raise ConfigError(f"{what} {text!r} is not A:B or A:B:STEP (inclusive bit-widths, e.g. 6:16:2)")
    a, b, step = int(m[1]), int(m[2]), int(m[3] or 1)
    if a < 1 or b < a or step < 1:
        raise ConfigError(f"{what} {text!r}: need 1 <= A <= B and STEP >= 1")
    return list(range(a, b + 1, step))


def point_id(point: dict) -> str:
    return hashlib.sha1(json.dumps(point, sort_keys=True).encode()).hexdigest()[:12]


def grid(axes: dict[str, list]) -> list[dict]:
    """Every combination of the axes (name -> values), in a stable order."""
    for name in axes:
        base = name.rsplit(".", 1)[-1]
        if base not in AXES:
            raise ConfigError(f"unknown sweep axis {name!r}; axes: {', '.join(AXES)} "
                              "(or <layer>.<axis> for one layer)")
    names = sorted(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(axes[n]) for n in names))]


def load_grid(path: str | Path) -> dict[str, list]:
    """A grid file (YAML/JSON): ``{axis: [values] | "A:B[:STEP]"}``, e.g.
    ``{weights: "4:8", fc4.weights: [6, 8], table_size: [256, 1024]}``."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"grid file {str(path)!r} does not exist")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot read grid file {str(path)!r}: {exc}") from None
    if not isinstance(doc, dict) or not doc:
        raise ConfigError(f"grid file {str(path)!r} must map axis names to lists of values")
    out = {}
    for k, v in doc.items():
        if isinstance(v, str) and ":" in v:
            v = parse_range(v, f"grid axis {k!r}")
        out[str(k)] = v if isinstance(v, list) else [v]
    return out


@dataclass(frozen=True)
class Ranges:
    """Float ranges (min, max) every tensor reaches on the data: what integer bits are chosen from."""

    values: dict[str, tuple[float, float]]
    weights: dict[str, tuple[float, float]]

    @staticmethod
    def measure(graph: Graph, data) -> "Ranges":
        from qhw import golden

        t = golden.run(graph, data, float_mode=True, keep_all=True).tensors
        values = {k: (float(np.min(v)), float(np.max(v))) for k, v in t.items() if np.size(v)}
        weights = {}
        for node in graph.nodes():
            for p in ("weight", "bias"):
                if p in node.params:
                    weights[f"{node.name}.{p}"] = (float(node.params[p].min()), float(node.params[p].max()))
        return Ranges(values, weights)


def _fmt(width: int, lo: float, hi: float, signed: bool, modes: tuple[str, str]) -> FixedFormat:
    from qhw.passes.profile import integer_bits_for

    return FixedFormat(int(width), integer_bits_for(lo, hi, signed) + (1 if modes[1] == "WRAP" else 0),
                       signed, *modes)


def _value(point: dict, node: str, axis: str):
    return point.get(f"{node}.{axis}", point.get(axis))


def configure(graph: Graph, point: dict, ranges: Ranges,
              modes: tuple[str, str] = ("RND", "SAT")) -> tuple[Graph, dict]:
    """The graph with the point's table options and its per-layer format config
    ({layer: {slot: format}}, for qhw.passes.prepare). Results round and saturate (``modes``)."""
    g = graph.copy()
    config: dict[str, dict[str, str]] = {}
    for node in g.nodes():
        slots: dict[str, str] = {}
        w = _value(point, node.name, "weights")
        if w is not None:
            for p in ("weight", "bias"):
                if p in node.params:
                    lo, hi = ranges.weights[f"{node.name}.{p}"]
                    slots[p] = str(_fmt(w, lo, hi, True, ("RND_CONV", "SAT")))
        a = _value(point, node.name, "activations")
        if a is not None and node.op not in _KEEP_RESULT and node.name in ranges.values:
            lo, hi = ranges.values[node.name]
            if node.op in _TABLE_OPS or node.op == "hard_sigmoid":
                lo, hi = (0.0, 1.0) if node.op != "tanh" else (-1.0, 1.0)
            slots["result"] = str(_fmt(a, lo, hi, lo < 0, modes))
        c = _value(point, node.name, "accum")
        if c is not None and "weight" in node.params and node.name in ranges.values:
            lo, hi = ranges.values[node.name]  # the accumulator ends at the pre-cast value
            slots["accum"] = str(_fmt(c, lo, hi, True, ("TRN", "SAT")))
        if node.op in _TABLE_OPS:
            for axis in ("table_size", "variant"):
                v = _value(point, node.name, axis)
                if v is not None:
                    node.attrs[axis] = int(v) if axis == "table_size" else str(v)
        if slots:
            config[node.name] = slots
    return g, config


__all__ = ["AXES", "parse_range", "point_id", "grid", "load_grid", "Ranges", "configure"]
