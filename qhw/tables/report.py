"""Accuracy and size of table variants, over every input code."""
from __future__ import annotations

import numpy as np

from qhw.fixed import FixedFormat
from qhw.tables.pwl import PwlFunction, build_pwl
from qhw.tables.rom import RomTable, build_rom, evaluate


def error_report(table: RomTable | PwlFunction, function: str | None = None) -> dict:
    """max/mean absolute error vs float64 over every input code, and the size in bits."""
    fn = function or table.function
    fmt = table.in_fmt
    if fmt.width > 20:
        raise ValueError(f"error_report enumerates every code; {fmt} has too many")
    raw = np.arange(fmt.raw_min, fmt.raw_max + 1, dtype=np.int64)
    out = table.lookup(raw) if isinstance(table, RomTable) else table.evaluate(raw)
    err = np.abs(table.out_fmt.to_float(out) - evaluate(fn, fmt.to_float(raw)))
    return {"max_abs_error": float(err.max()), "mean_abs_error": float(err.mean()), "bits": table.bits}


def compare_variants(in_fmt: FixedFormat, out_fmt: FixedFormat, function: str = "sigmoid",
                     table_size: int = 1024, input_range=(-8.0, 8.0)) -> dict[str, dict]:
    """ROM / half ROM / PWL / PWL with power-of-two slopes / hls4ml table, side by side."""
    variants = {
        "rom": build_rom(function, in_fmt, out_fmt, table_size=table_size, input_range=input_range),
        "half_rom": build_rom(function, in_fmt, out_fmt, table_size=table_size, input_range=input_range, half=True),
        "pwl": build_pwl(function, in_fmt, out_fmt),
        "pwl_pow2": build_pwl(function, in_fmt, out_fmt, pow2_slopes=True),
        "hls4ml": build_rom(function, in_fmt, out_fmt, table_size=table_size, convention="hls4ml"),
    }
    return {k: error_report(v, function) for k, v in variants.items()}
