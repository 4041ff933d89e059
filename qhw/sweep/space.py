"""The space of a sweep: points (plain dicts of bit-widths and table options) and how a point
becomes formats on the graph.

A point maps axis names to values. Global axes: ``weights``, ``activations``, ``accum`` (bit
widths), ``table_size``, ``variant`` (sigmoid/tanh nodes), ``clock_period`` (ns: the RTL
pipelined for that clock on the sweep's target, so the front can weigh latency; global only).
Per-layer axes: ``<layer>.<axis>`` with the same axis names (not ``clock_period``); a per-layer
value wins over the global one. A point's id is a hash of
its canonical JSON, so a rerun recognises finished points.

A width value is ``W`` (total bits; integer bits, sign included, are the fewest that hold the float
range the validation data reaches at that tensor, so every width is used as well as it can be),
``"W,I"`` (integer bits given) or a full format ``"ap_fixed<W,I,...>"`` (used as it is).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qhw import limits
from qhw.errors import ConfigError
from qhw.fixed import FixedFormat
from qhw.graph import Graph
from qhw.ops import Trait, get, group, is_output

AXES = ("weights", "activations", "accum", "table_size", "variant", "clock_period")
WIDTH_AXES = ("weights", "activations", "accum")
_RANGE = re.compile(r"^\s*(\d+)\s*(?::\s*(\d+)\s*(?::\s*(\d+)\s*)?)?(?:,\s*(-?\d+)\s*)?$")
_WIDTH = re.compile(r"^\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?$")
#: ops whose result a bit-width sweep does not choose: the input port and pure data movement
#: (the output port's result is swept as a layer's)
_KEEP_RESULT = frozenset(op for op in group(Trait.IO) | group(Trait.MOVE) if not is_output(op))
#: element-wise table functions (sigmoid, tanh): the table axes change them
_TABLE_OPS = group(Trait.TABLE, Trait.ELEMENTWISE)


def parse_range(text: str, what: str = "range") -> list:
    """``A:B[:STEP][,I]``, inclusive bit-widths: ``6:16:2`` -> [6, 8, ..., 16]; ``N`` -> [N];
    with ``,I`` every width gets I integer bits: ``4:6,2`` -> ["4,2", "5,2", "6,2"]."""
    m = _RANGE.match(str(text))
    if not m:
        raise ConfigError(f"{what} {text!r} is not A:B, A:B:STEP or N, optionally followed by ,I "
                          "(inclusive bit-widths, e.g. 6:16:2 or 4:8,2)")
    a = int(m[1])
    b = int(m[2]) if m[2] is not None else a
    step = int(m[3] or 1)
    if a < 1 or b < a or step < 1:
        raise ConfigError(f"{what} {text!r}: need 1 <= A <= B and STEP >= 1")
    limits.check("sweep_points", (b - a) // step + 1, f"{what} {text!r}")
    widths = list(range(a, b + 1, step))
    return widths if m[4] is None else [f"{w},{int(m[4])}" for w in widths]


def width_value(value, what: str = "width") -> tuple[int, int | None] | FixedFormat:
    """A width axis value as (total bits, integer bits or None to fit them to the data), or the
    FixedFormat it spells."""
    if isinstance(value, str) and "<" in value:
        try:
            return FixedFormat.parse(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{what}: {exc}") from None
    m = _WIDTH.match(str(value)) if not isinstance(value, (bool, float)) else None
    if not m or not 1 <= int(m[1]) <= 64:
        raise ConfigError(f"{what}: {value!r} is not a width W in 1..64, 'W,I' or a format such as "
                          "'ap_fixed<8,3>'")
    return int(m[1]), (None if m[2] is None else int(m[2]))


def clock_value(value, what: str = "clock period") -> float:
    """A clock period axis value: a number of ns in (0, 1e6]."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value <= 1e6
    if not ok:
        raise ConfigError(f"{what}: {value!r} is not a clock period in ns (a number in (0, 1e6])")
    return float(value)


def parse_periods(text: str, what: str = "--clock-period") -> list[float]:
    """``5,10`` -> [5.0, 10.0] (ns, in the order given, repeats dropped)."""
    out = []
    for part in str(text).split(","):
        try:
            v = float(part)
        except ValueError:
            raise ConfigError(f"{what} {text!r}: {part.strip()!r} is not a number of ns; give "
                              "comma-separated periods, e.g. 5,10") from None
        v = clock_value(v, f"{what} {text!r}")
        if v not in out:
            out.append(int(v) if v.is_integer() else v)
    limits.check("sweep_points", len(out), f"{what} {text!r}")
    return out


def point_id(point: dict) -> str:
    """12 hex digits of the SHA-1 of the point's canonical JSON (sorted keys): stable across runs."""
    return hashlib.sha1(json.dumps(point, sort_keys=True).encode()).hexdigest()[:12]


def grid(axes: dict[str, list]) -> list[dict]:
    """Every combination of the axes (name -> values), in a stable order."""
    for name, values in axes.items():
        base = name.rsplit(".", 1)[-1]
        if base not in AXES:
            raise ConfigError(f"unknown sweep axis {name!r}; axes: {', '.join(AXES)} "
                              "(or <layer>.<axis> for one layer)")
        if not values:
            raise ConfigError(f"sweep axis {name!r} has no values")
        for v in values:
            if base in WIDTH_AXES:
                width_value(v, f"sweep axis {name!r}")
            elif base == "table_size" and (isinstance(v, bool) or not isinstance(v, int) or v < 2):
                raise ConfigError(f"sweep axis {name!r}: table size {v!r} is not an integer >= 2")
            elif base == "clock_period":
                if name != base:
                    raise ConfigError(f"sweep axis {name!r}: the clock period is one for the whole "
                                      "design; use the global axis 'clock_period'")
                clock_value(v, f"sweep axis {name!r}")
    names = sorted(axes)
    points = 1
    for n in names:
        points *= len(axes[n])
    limits.check("sweep_points", points, "sweep grid (" + " x ".join(f"{len(axes[n])} {n}" for n in names) + ")")
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(axes[n]) for n in names))]


def load_grid(path: str | Path) -> dict[str, list]:
    """A grid file (YAML/JSON): ``{axis: [values] | "A:B[:STEP]"}``, e.g.
    ``{weights: "4:8", fc4.weights: [6, 8], table_size: [256, 1024]}``."""
    from qhw.io.documents import read_document

    path = Path(path)
    doc = read_document(path, "grid file", ConfigError)
    if not isinstance(doc, dict) or not doc:
        raise ConfigError(f"grid file {str(path)!r} must map axis names to lists of values")
    out = {}
    for k, v in doc.items():
        if str(k) == "clock_period" and isinstance(v, str):
            v = parse_periods(v, f"grid axis {k!r}")
        elif isinstance(v, str) and (":" in v or v.strip().isdigit()):
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


def _fmt(value, lo: float, hi: float, signed: bool, modes: tuple[str, str]) -> FixedFormat:
    from qhw.passes.profile import integer_bits_for

    v = width_value(value)
    if isinstance(v, FixedFormat):
        return v
    width, ib = v
    if ib is None:
        ib = integer_bits_for(lo, hi, signed) + (1 if modes[1] == "WRAP" else 0)
    return FixedFormat(width, ib, signed, *modes)


def acts_on(node, axis: str) -> bool:
    """Whether a width or table axis changes this node (ports and data movement keep theirs)."""
    if axis == "weights":
        return "weight" in node.params or "bias" in node.params
    if axis == "accum":
        return "weight" in node.params
    if axis == "activations":
        return node.op not in _KEEP_RESULT
    if axis == "clock_period":
        return False  # a global axis only
    return node.op in _TABLE_OPS


def check_axes(graph: Graph, names) -> None:
    """Every ``<layer>.<axis>`` name must be a layer of ``graph`` the axis changes: a typo would
    otherwise sweep nothing."""
    for name in sorted(set(names)):
        if "." not in name:
            continue
        layer, axis = name.rsplit(".", 1)
        if layer not in graph:
            raise ConfigError(f"sweep axis {name!r}: {graph.name!r} has no layer {layer!r}; layers: "
                              + ", ".join(n.name for n in graph.nodes()))
        if not acts_on(graph.node(layer), axis):
            valid = [n.name for n in graph.nodes() if acts_on(n, axis)]
            raise ConfigError(f"sweep axis {name!r}: {axis} does not apply to {layer!r} "
                              f"({graph.node(layer).op}); it applies to: {', '.join(valid) or 'no layer'}")


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
        if w is not None and acts_on(node, "weights"):
            for p in ("weight", "bias"):
                if p in node.params:
                    lo, hi = ranges.weights[f"{node.name}.{p}"]
                    slots[p] = str(_fmt(w, lo, hi, True, ("RND_CONV", "SAT")))
        a = _value(point, node.name, "activations")
        if a is not None and acts_on(node, "activations") and node.name in ranges.values:
            lo, hi = ranges.values[node.name]
            bounded = get(node.op, node.name).output_range(node)
            if bounded is not None:  # the op's own range (sigmoid, tanh, hard_sigmoid)
                lo, hi = bounded
            slots["result"] = str(_fmt(a, lo, hi, lo < 0, modes))
        c = _value(point, node.name, "accum")
        if c is not None and acts_on(node, "accum") and node.name in ranges.values:
            # the accumulator ends at the pre-cast value; it wraps, so partial sums may leave
            # its range and the final sum is still exact when it fits (one spare integer bit)
            lo, hi = ranges.values[node.name]
            slots["accum"] = str(_fmt(c, lo, hi, True, ("TRN", "WRAP")))
        if acts_on(node, "table_size"):
            for axis in ("table_size", "variant"):
                v = _value(point, node.name, axis)
                if v is not None:
                    node.attrs[axis] = int(v) if axis == "table_size" else str(v)
        if slots:
            config[node.name] = slots
    return g, config


__all__ = ["AXES", "WIDTH_AXES", "acts_on", "check_axes", "parse_range", "parse_periods", "clock_value",
           "width_value", "point_id", "grid", "load_grid", "Ranges", "configure"]
