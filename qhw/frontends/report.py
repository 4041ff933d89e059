"""The mapping report every importer fills (float and quantized ONNX, QONNX, PyTorch): one row
per source node saying what it became in the qhw graph, with shapes, formats and qparams."""
from __future__ import annotations

from dataclasses import dataclass, field

from qhw.graph import Graph


@dataclass
class MappingRow:
    """One source node: what it became in the lowered qhw graph."""

    source: str                     # ONNX node name / PyTorch module path or fx node name
    kind: str                       # ONNX op type (with its domain) / PyTorch type or function
    node: str | None                # qhw node carrying its result (None: nothing emitted)
    what: str                       # qhw op, or what happened ("qparams of fc1", "skipped")
    ops: list[str] = field(default_factory=list)        # lowered qhw nodes "name:op"
    formats: dict[str, str] = field(default_factory=dict)
    qparams: str = "-"
    shape: tuple[int, ...] | None = None

    @property
    def op(self) -> str:
        return self.what

    @op.setter
    def op(self, value: str) -> None:
        self.what = value


@dataclass
class MappingReport:
    rows: list[MappingRow] = field(default_factory=list)
    #: everything not exact (narrowed multipliers, rounded biases), from the lowering pass
    notes: list[str] = field(default_factory=list)

    def add(self, source: str, kind: str, node: str | None, what: str) -> None:
        self.rows.append(MappingRow(source, kind, node, what))

    def fill(self, graph: Graph) -> None:
        """Shapes, formats and qparams of the rows whose node is in the (prepared) graph."""
        for row in self.rows:
            if row.node is None or row.node not in graph:
                continue
            node = graph.node(row.node)
            row.ops = row.ops or [f"{node.name}:{node.op}"]
            row.shape = tuple(node.shape) if node.shape is not None else None
            row.formats = {k: str(v) for k, v in sorted(node.formats.items())}
            row.qparams = _qp_text(node.qparams)

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
            row.shape = tuple(last.shape) if last.shape is not None else None

    def format_table(self) -> str:
        head = ("source", "kind", "qhw", "shape", "formats", "qparams")
        body = [(r.source, r.kind, _qhw_cell(r), "x".join(map(str, r.shape)) if r.shape else "-",
                 " ".join(f"{k}={v}" for k, v in r.formats.items()) or "-", r.qparams)
                for r in self.rows]
        widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head) - 1)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1]
                 for row in [head] + body]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    table = format_table

    def __str__(self) -> str:
        return self.format_table()


def in_output_lsbs(graph: Graph, notes: list[str]) -> list[str]:
    """Each 'bias rounded' note with its largest deviation also in LSBs of the node's output
    codes (the accumulator deviation times the requantization factor M * 2**-shift)."""
    import re

    import numpy as np

    out = []
    for note in notes:
        m = re.match(r"(?P<node>.+): bias rounded .*largest deviation (?P<d>[0-9.e+-]+) accumulator LSB\)$", note)
        rq = f"{m['node']}_rq" if m else None
        if m and rq in graph and graph.node(rq).op == "requantize":
            a = graph.node(rq).attrs
            factor = float(np.max(np.abs(np.asarray(a["multiplier"], np.float64)))) * 2.0 ** -int(a["shift"])
            note = note[:-1] + f" = {float(m['d']) * factor:.3g} output LSB)"
        out.append(note)
    return out


def deliver(graph: Graph, rep: MappingReport, report: MappingReport | None, config=None,
            default=None) -> Graph:
    """An importer's last step: its rows and notes into the caller's ``report``, and the graph
    prepared when a config or default precision is given."""
    if report is not None:
        report.rows.extend(rep.rows)
        report.notes.extend(rep.notes)
    if config is not None or default is not None:
        from qhw.passes import prepare

        graph = prepare(graph, config=config, default=default)
    return graph


def _qhw_cell(row: MappingRow) -> str:
    """The lowered nodes, plus what happened when that is more than their op."""
    if not row.ops:
        return row.what
    ops = " ".join(row.ops)
    return ops if row.what in {o.split(":")[-1] for o in row.ops} else f"{ops} ({row.what})"


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


__all__ = ["MappingReport", "MappingRow", "deliver", "in_output_lsbs"]
