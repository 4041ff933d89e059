"""Tables for sigmoid, tanh and exp: ROMs (qhw and hls4ml conventions) and piecewise-linear
functions, each exposing the integer mapping the hardware implements."""
from qhw.tables.pwl import DEFAULT_BREAKPOINTS, PwlFunction, build_pwl
from qhw.tables.report import compare_variants, error_report
from qhw.tables.rom import FUNCTIONS, RomTable, build_rom, evaluate

__all__ = ["build_rom", "RomTable", "build_pwl", "PwlFunction", "error_report", "compare_variants",
           "evaluate", "FUNCTIONS", "DEFAULT_BREAKPOINTS"]
