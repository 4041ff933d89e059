"""``write_verilog``: the design of a graph, parallel (:mod:`.top`) or with its leading
convolutions streamed (:mod:`.stream`)."""
from __future__ import annotations

import os
from pathlib import Path

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
    if region:
        name = top_name(top or options.get("top") or graph.name or "qhw_top")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        return stream.write_stream_verilog(graph, region, out_dir, name, options)
    return write_parallel(graph, out_dir, top, options)


__all__ = ["write_verilog"]
