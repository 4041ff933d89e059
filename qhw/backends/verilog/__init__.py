"""Verilog backend: synthesizable RTL (a SystemVerilog subset Verilator and Yosys accept) from an
annotated graph, proven equal to the golden model under Verilator (see :mod:`qhw.verify`).

Layout: :mod:`.top` schedules the layers and writes the streaming top; each node is lowered by
the :class:`~.lowering.Lowering` registered for its op (:mod:`.lowering`: found by op traits or
op classes), one module per family — :mod:`.mac`, :mod:`.clamp`, :mod:`.rescale`, :mod:`.move`,
:mod:`.pool`, :mod:`.merge`, :mod:`.lut` (tables), :mod:`.softmax`, :mod:`.embedding` — each with
``lower()`` and, beside it, the ``cost()`` the analytic estimator sums. Layers are netlists of
shared parameterized primitives (the unary cast block, multipliers, adder trees, ROMs in
``templates/verilog``) wired through the typed :class:`~.signal.Signal` helper."""
from qhw.backends.verilog.lowering import supported_ops
from qhw.backends.verilog.top import VerilogDesign
from qhw.backends.verilog.write import write_verilog


class VerilogBackend:
    """Registry entry for ``qhw compile``: writes ``OUT/rtl``."""

    name = "rtl"
    subdir = "rtl"

    def write(self, graph, out_dir, options: dict | None = None) -> VerilogDesign:
        return write_verilog(graph, out_dir, options=options)


__all__ = ["write_verilog", "VerilogDesign", "VerilogBackend", "supported_ops"]
