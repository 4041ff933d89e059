"""The mapping report of the quantized-model importers: one row per source node."""
from __future__ import annotations

from dataclasses import dataclass, field

from qhw.graph import Graph


@dataclass
class MappingRow:
    """One source node: what it became in the lowered qhw graph."""

    source: str                     # ONNX node name
    kind: str                       # ONNX op type (with its domain when not the default)
    node: str | None                # affine-graph node carrying its result (None: nothing emitted)
    what: str                       # qhw op, or what happened ("qparams of fc1", "skipped")
    ops: list[str] = field(default_factory=list)        # lowered qhw nodes "name:op"
    formats: dict[str, str] = field(default_factory=dict)
    qparams: str = "-"


@dataclass
class MappingReport:
    rows: list[MappingRow] = field(default_factory=list)
    #: everything not exact (narrowed multipliers, rounded biases), from the lowering pass
    notes: list[str] = field(default_factory=list)

    def add(self, source: str, kind: str, node: str | None, what: str) -> None:
        self.rows.append(MappingRow(source, kind, node, what))

    def describe(self, graph: Graph, lowered_from: dict[str, list[str]]) -> None:
        """Fill lowered ops, formats and qparams from the final graph."""
        for row in self.rows:
            if row.what.startswith("qparams of"):
                continue
            names = [n for n in lowered_from.get(row.node or "", []) if n in graph]
            if not names:
                continue
            row.ops = [f"{n}:{graph.node(n).op}" for n in names]
            last = graph.node(names[-1])
            row.formats = {k: str(v) for k, v in sorted(graph.node(names[0]).formats.items())
                           if k != "result"}
            row.formats["result"] = str(last.formats.get("result"))
            row.qparams = _qp_text(last.qparams)

    def format_table(self) -> str:
        head = ("source", "kind", "qhw", "formats", "qparams")
        body = [(r.source, r.kind, " ".join(r.ops) or r.what,
                 " ".join(f"{k}={v}" for k, v in r.formats.items()) or "-", r.qparams)
                for r in self.rows]
        widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head) - 1)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1]
                 for row in [head] + body]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_table()


def _qp_text(qp) -> str:
    if qp is None:
        return "-"
    if qp.is_per_tensor:
        s = f"s={qp.scale:.6g}"
    else:
        s = f"s=[{len(qp.scale)} per axis {qp.axis}]"
    z = qp.zero_point if qp.is_per_tensor or not isinstance(qp.zero_point, tuple) else "per axis"
    kind = ("int" if qp.signed else "uint") + str(qp.bits) + (" narrow" if qp.narrow_range else "")
    return f"{s} z={z} {kind}"


__all__ = ["MappingReport", "MappingRow"]
