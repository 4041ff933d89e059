"""Verilog backend: synthesizable RTL (a SystemVerilog subset Verilator and Yosys accept) from an
annotated graph, proven equal to the golden model under Verilator (see :mod:`qhw.verify`)."""
from qhw.backends.verilog.lowering import supported_ops
from qhw.backends.verilog.top import VerilogDesign, write_verilog


class VerilogBackend:
    """Registry entry for ``qhw compile``: writes ``OUT/rtl``."""

    name = "rtl"
    subdir = "rtl"

    def write(self, graph, out_dir, options: dict | None = None) -> VerilogDesign:
        return write_verilog(graph, out_dir, options=options)


__all__ = ["write_verilog", "VerilogDesign", "VerilogBackend", "supported_ops"]
