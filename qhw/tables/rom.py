"""ROM tables for sigmoid, tanh, exp and 1/x: entries and the integer address mapping hardware uses.

qhw convention (``convention="qhw"``): the input range [lo, hi) has a power-of-two span on the
input grid and the table a power-of-two size, so the address is a subtraction and a shift:
``index = clamp((raw - lo_raw) >> k, 0, N - 1)`` (a left shift when k < 0). Each entry is the
function at the midpoint of the input codes that map to it, clipped to the function's range,
then quantized by the output format. Inputs outside the range saturate to the end entries.
With ``half=True`` (odd-symmetric functions) only the entries of x >= 0 are stored and
f(-x) = 1 - f(x) (sigmoid) or -f(x) (tanh) gives the rest.

hls4ml convention (``convention="hls4ml"``): bit for bit what hls4ml 1.3.0's Vivado
``sigmoid``/``tanh`` compute: entries f(16 (i - N/2) / N) (tanh: 8 (i - N/2) / N) in float32 with
the C library's expf / tanhf (qhw.tables.hls4ml), assigned to the table type;
``index = trunc(x N / 16) + N / 2`` (tanh: / 8) truncated toward zero to a 32-bit int, clamped to
[0, N - 1].
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qhw.fixed import FixedFormat

FUNCTIONS = ("sigmoid", "tanh", "exp", "reciprocal")
_RANGE = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "exp": (0.0, math.inf),
          "reciprocal": (0.0, math.inf)}


def evaluate(function: str, x: np.ndarray) -> np.ndarray:
    """The float64 function."""
    x = np.asarray(x, np.float64)
    if function == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for large |x|
    if function == "tanh":
        return np.tanh(x)
    if function == "exp":
        return np.exp(x)
    if function == "reciprocal":  # softmax's normalisation; 1/0 saturates to the table's max
        with np.errstate(divide="ignore"):
            return 1.0 / x
    raise ValueError(f"unknown function {function!r}; valid: {', '.join(FUNCTIONS)}")


@dataclass(frozen=True)
class RomTable:
    """A table and its address mapping. ``values``: raw codes of ``table_fmt`` (length ``size``,
    or size/2 for a half table). ``lookup`` returns raw codes of ``out_fmt``."""

    function: str
    in_fmt: FixedFormat
    out_fmt: FixedFormat
    table_fmt: FixedFormat
    size: int
    lo_raw: int  # input code of the first bin's start (qhw) / unused (hls4ml)
    shift: int  # k: index = (raw - lo_raw) >> k (k < 0: << -k)
    half: bool
    convention: str
    values: np.ndarray

    @property
    def bits(self) -> int:
        """Storage in bits."""
        return int(self.values.size * self.table_fmt.width)

    def address(self, raw) -> np.ndarray:
        """Table index of each input code (for a half table: of |x|, the sign handled apart)."""
        raw = np.asarray(raw, np.int64)
        if self.convention == "hls4ml":
            from qhw.tables.hls4ml import linear_index

            return linear_index(self.function, raw, self.in_fmt, self.size)
        if self.half:
            a = np.abs(raw)
            n = self.size // 2
        else:
            a = raw - self.lo_raw
            n = self.size
        idx = a >> self.shift if self.shift >= 0 else a << -self.shift
        return np.clip(idx, 0, n - 1)

    def lookup(self, raw) -> np.ndarray:
        raw = np.asarray(raw, np.int64)
        entry = self.values[self.address(raw)]
        if not self.half:
            return self.out_fmt.cast(entry, self.table_fmt)
        if self.function == "sigmoid":
            one = 1 << self.table_fmt.frac_bits if self.table_fmt.frac_bits >= 0 else 0
            mirrored = one - entry  # 1 - f(|x|), exact on the table grid (one extra bit)
        else:
            mirrored = -entry
        wide = FixedFormat(min(self.table_fmt.width + 2, 64), self.table_fmt.integer_bits + 2, True)
        y = np.where(raw < 0, mirrored, entry)
        return self.out_fmt.cast(y, wide)


def _check_qhw_range(in_fmt, size, input_range, half):
    lo, hi = (float(v) for v in input_range)
    span = hi - lo
    if size < 2 or size & (size - 1):
        raise ValueError(f"table_size must be a power of two >= 2, got {size}")
    if span <= 0 or math.frexp(span)[0] != 0.5:
        raise ValueError(f"input_range {input_range} must span a power of two")
    lo_raw = lo / in_fmt.lsb
    if lo_raw != math.floor(lo_raw):
        raise ValueError(f"input_range start {lo} is not on the grid of {in_fmt}")
    if half and lo != -hi:
        raise ValueError(f"a half table needs a symmetric input_range, got {input_range}")
    # index = (raw - lo_raw) * 2**-F * size / span = (raw - lo_raw) >> k
    k = in_fmt.frac_bits + int(math.log2(span)) - int(math.log2(size))
    return int(lo_raw), k


def build_rom(function: str, in_fmt: FixedFormat, out_fmt: FixedFormat, *, table_size: int = 1024,
              input_range: tuple[float, float] = (-8.0, 8.0), half: bool = False,
              convention: str = "qhw", table_fmt: FixedFormat | None = None) -> RomTable:
    """Build a ROM for ``function`` (sigmoid, tanh, exp) from ``in_fmt`` codes to ``out_fmt``.

    table_fmt: the type of the stored entries (default: out_fmt; hls4ml's default is
    ap_fixed<18,8>).
    """
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}; valid: {', '.join(FUNCTIONS)}")
    if convention == "hls4ml":
        if function not in ("sigmoid", "tanh") or half:
            raise ValueError("the hls4ml convention covers full sigmoid and tanh tables")
        from qhw.tables.hls4ml import activation_table, check_index

        tf = table_fmt or FixedFormat(18, 8)
        if table_size < 1:
            raise ValueError(f"table_size must be >= 1, got {table_size}")
        check_index(function, in_fmt, table_size)
        return RomTable(function, in_fmt, out_fmt, tf, table_size, 0, 0, False, "hls4ml",
                        activation_table(function, table_size, tf))
    if convention != "qhw":
        raise ValueError(f"unknown table convention {convention!r}; valid: qhw, hls4ml")
    lo_raw, k = _check_qhw_range(in_fmt, table_size, input_range, half)
    tf = table_fmt or out_fmt
    n = table_size // 2 if half else table_size
    first = 0 if half else lo_raw
    i = np.arange(n, dtype=np.float64)
    # midpoint of the input codes of bin i: [first + i 2^k, first + (i + 1) 2^k - 1]
    width = 2.0 ** k
    mid = first + i * width + (width - 1) / 2 if k >= 0 else first + i * width
    v = evaluate(function, mid * in_fmt.lsb)
    lo_v, hi_v = _RANGE[function]
    v = np.clip(v, max(lo_v, tf.min), min(hi_v, tf.max))
    return RomTable(function, in_fmt, out_fmt, tf, table_size, lo_raw, k, half, "qhw",
                    tf.with_modes(overflow="SAT").quantize(v))
