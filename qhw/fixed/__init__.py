"""Numeric core: ap_fixed-exact fixed-point formats and arithmetic on raw integer codes.

A value is a pair (raw codes as an int64 array, :class:`FixedFormat`). Conversions into a format
follow ap_fixed assignment (rounding, then overflow); arithmetic is exact with ap_fixed's result
types; :func:`dot`/:func:`matmul` reproduce the HLS accumulation loop step for step.
"""
from qhw.fixed.accumulate import dot, matmul
from qhw.fixed.arith import (
    add,
    add_format,
    mul,
    mul_format,
    shift_left,
    shift_right,
    sub,
    sub_format,
)
from qhw.fixed.format import MAX_WIDTH, OVERFLOW_MODES, ROUNDING_MODES, FixedFormat
from qhw.fixed.literals import cpp_literal, verilog_literal

__all__ = [
    "FixedFormat", "MAX_WIDTH", "ROUNDING_MODES", "OVERFLOW_MODES",
    "add", "sub", "mul", "add_format", "sub_format", "mul_format", "shift_left", "shift_right",
    "dot", "matmul", "verilog_literal", "cpp_literal",
]
