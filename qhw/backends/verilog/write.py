"""``write_verilog``: the design of a graph, parallel (:mod:`.top`) or with its leading
convolutions streamed (:mod:`.stream`)."""
from __future__ import annotations

import math
import os
from pathlib import Path

from qhw import limits
from qhw.backends.streaming import stream_region
from qhw.backends.verilog import stream
from qhw.backends.verilog.naming import top_name
from qhw.backends.verilog.top import VerilogDesign, write_parallel


def write_verilog(graph, out_dir: os.PathLike, top: str | None = None,
                  options: dict | None = None) -> VerilogDesign:
    """Write ``out_dir`` (the ``rtl/`` folder): the streaming design of
    :mod:`qhw.backends.verilog.stream` when convolutions stream (``options["io"]``, a node's
    ``io``, or ``auto`` for large ones), else :func:`write_parallel`."""
    options = dict(options or {})
    graph.validate()
    region = stream_region(graph, options)
    _check_ports(graph, streamed_inputs=bool(region))
    if region:
        name = top_name(top or options.get("top") or graph.name or "qhw_top")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        return stream.write_stream_verilog(graph, region, out_dir, name, options)
    return write_parallel(graph, out_dir, top, options)


def _check_ports(graph, streamed_inputs: bool) -> None:
    """Refuse a parallel port (all elements of a tensor side by side) wider than the
    ``port_bits`` limit before anything is lowered: its RTL grows with the port (a 100,000-element
    output took 14 s and 15 MB) and no FPGA has the pins. A streamed input is one pixel wide."""
    ports = [("output", n) for n in graph.output_names]
    if not streamed_inputs:
        ports = [("input", n) for n in graph.input_names] + ports
    for kind, name in ports:
        node = graph.node(name)
        bits = math.prod(int(d) for d in node.shape) * node.formats["result"].width
        limits.check("port_bits", bits, f"{kind} {name!r} (a parallel port of "
                     f"{math.prod(int(d) for d in node.shape)} elements x {node.formats['result'].width} bits; "
                     "stream it with --io stream or reduce it)")


__all__ = ["write_verilog"]
