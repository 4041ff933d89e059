"""hls4ml 1.3.0's activation tables, entry for entry, and the index arithmetic that reads them.

hls4ml fills its tables at run time in C++ (``nnet_activation.h``) with single-precision math:
sigmoid ``1.0 / (1 + std::exp(-x))`` with ``x`` a float and the result returned as a float,
tanh ``tanh(float)`` (the float overload), softmax ``std::exp(float)`` and ``1 / float``. Each
value is then assigned to the table type with that type's rounding and overflow. To give the same
entries, this module calls the same functions of the platform's C math library (``expf``,
``tanhf``) through ctypes; numpy's float32 ``exp`` differs from glibc's ``expf`` in the last bit
for 40% of the inputs, and float64 ``tanh`` is not ``tanhf``. Where no C math library can be
loaded, numpy's functions are used and :data:`LIBM` is None.

Index arithmetic (all on raw codes, exact):

- sigmoid / tanh: ``index = int(x * N / span) + N / 2`` (span 16 / 8): the product and quotient
  are exact ap_fixed values truncated toward zero by the conversion to ``int`` (32 bits), then
  clamped to ``[0, N - 1]``.
- softmax latency / stable: the top ``ceil(log2 N)`` bits of the addressing type's code.
- softmax legacy: like sigmoid on ``x_j - x_i`` (span 16) and ``sum * N / 64`` for the inverse.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np

from qhw.fixed import FixedFormat


def _load_libm():
    name = ctypes.util.find_library("m") or ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
        for fn in ("expf", "tanhf"):
            f = getattr(lib, fn)
            f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
    except (OSError, AttributeError, TypeError):
        return None
    return lib


#: the C math library whose expf/tanhf fill the tables (None: numpy's functions instead)
LIBM = _load_libm()


def expf(x) -> np.ndarray:
    """Single-precision exp of float32 values, as C's ``std::exp(float)`` computes it."""
    x = np.asarray(x, np.float32)
    if LIBM is None:
        with np.errstate(over="ignore"):
            return np.exp(x.astype(np.float64)).astype(np.float32)
    return np.array([LIBM.expf(float(v)) for v in x.ravel()], np.float32).reshape(x.shape)


def tanhf(x) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if LIBM is None:
        return np.tanh(x.astype(np.float64)).astype(np.float32)
    return np.array([LIBM.tanhf(float(v)) for v in x.ravel()], np.float32).reshape(x.shape)


def quantize_c(fmt: FixedFormat, values) -> np.ndarray:
    """Codes of ``fmt`` for float values as ``fmt x = value;`` gives them, infinities included
    (saturating modes: the range end; wrapping: 0, as ap_fixed's conversion of an infinity)."""
    v = np.asarray(values, np.float64)
    inf = np.isinf(v)
    if not inf.any():
        return fmt.quantize(v)
    if fmt.overflow == "WRAP":
        out = np.zeros(v.shape, np.int64)
        out[~inf] = fmt.quantize(v[~inf])
        return out
    return fmt.quantize(np.where(inf, np.sign(v) * 2.0 ** 300, v))


def ceillog2(n: int) -> int:
    """hls4ml's ``ceillog2`` (nnet_common.h): 1 for n <= 2."""
    return 1 if n <= 2 else 1 + ceillog2((n + 1) // 2)


def index_range(function: str, in_fmt: FixedFormat, size: int):
    """(span, numerator, denominator) with index = trunc(raw * numerator / denominator) + size/2."""
    span = {"sigmoid": 16, "tanh": 8, "exp": 16}[function]
    f = in_fmt.frac_bits
    num, den = (size, span << f) if f >= 0 else (size << -f, span)
    return span, num, den


def wrap_int32(v: np.ndarray) -> np.ndarray:
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def trunc_div(num: np.ndarray, den: int) -> np.ndarray:
    q = np.abs(num) // den
    return np.where(num < 0, -q, q)


def check_index(function: str, in_fmt: FixedFormat, size: int) -> None:
    """ValueError when raw * numerator of the index could leave int64 (qhw's exact arithmetic)."""
    _, num, _ = index_range(function, in_fmt, size)
    if max(in_fmt.raw_max, -in_fmt.raw_min) * num >= 2 ** 62:
        raise ValueError(f"hls4ml's table index x * {size} / span of {in_fmt} needs more than 62 bits")


def index_may_wrap(function: str, in_fmt: FixedFormat, size: int) -> bool:
    """True when int(x * N / span) can leave 32 bits (hls4ml's int then wraps)."""
    _, num, den = index_range(function, in_fmt, size)
    return max(in_fmt.raw_max, -in_fmt.raw_min) * num // den >= 2 ** 31


def linear_index(function: str, raw, in_fmt: FixedFormat, size: int) -> np.ndarray:
    """hls4ml's sigmoid/tanh (and legacy exp) table index of raw codes, clamped."""
    check_index(function, in_fmt, size)
    _, num, den = index_range(function, in_fmt, size)
    idx = wrap_int32(trunc_div(np.asarray(raw, np.int64) * num, den)) + (8 * size) // 16
    return np.clip(idx, 0, size - 1)


def activation_table(function: str, size: int, table_fmt: FixedFormat) -> np.ndarray:
    """init_sigmoid_table / init_tanh_table / init_exp_table_legacy: codes of table_fmt."""
    i = np.arange(size, dtype=np.float64)
    span = 8.0 if function == "tanh" else 16.0
    x = (span * (i - size / 2.0) / size).astype(np.float32)  # float in_val
    if function == "sigmoid":
        v = (1.0 / (np.float32(1) + expf(-x)).astype(np.float64)).astype(np.float32)
    elif function == "tanh":
        v = tanhf(x)
    elif function == "exp":
        v = expf(x)
    else:
        raise ValueError(f"no hls4ml table for {function!r}")
    return quantize_c(table_fmt, v.astype(np.float64))


def legacy_inverse_table(size: int, table_fmt: FixedFormat) -> np.ndarray:
    """init_invert_table_legacy: 1.0 / (64 i / N) in double, 0 at i = 0."""
    x = (64.0 * np.arange(size, dtype=np.float64) / size).astype(np.float32).astype(np.float64)
    with np.errstate(divide="ignore"):
        v = np.where(x > 0, 1.0 / np.where(x > 0, x, 1.0), 0.0)
    return quantize_c(table_fmt, v)


def top_bits(raw, fmt: FixedFormat, size: int) -> np.ndarray:
    """softmax_idx_from_real_val: the top ceil(log2 size) bits of the code, unsigned."""
    n = ceillog2(size)
    raw = np.asarray(raw, np.int64)
    return (raw >> (fmt.width - n)) & ((1 << n) - 1)


def check_top_bits(fmt: FixedFormat, size: int, what: str) -> None:
    n = ceillog2(size)
    if size < 2 or size & (size - 1):
        raise ValueError(f"{what} size {size} is not a power of two >= 2: hls4ml addresses it with "
                         f"the top {n} bits and would read past its end")
    if n > fmt.width:
        raise ValueError(f"{what} size {size} needs {n} address bits but its addressing type {fmt} "
                         f"has {fmt.width}")
    if n > 24:
        raise ValueError(f"{what} size {size}: more than 2^24 entries")


def top_bits_values(fmt: FixedFormat, size: int) -> np.ndarray:
    """softmax_real_val_from_idx for every index: the value with only the top bits set (float)."""
    n = ceillog2(size)
    codes = np.arange(size, dtype=np.int64) << (fmt.width - n)
    if fmt.signed:
        codes = np.where(codes >= 1 << (fmt.width - 1), codes - (1 << fmt.width), codes)
    return fmt.to_float(codes).astype(np.float32)  # exact: at most 24 significant bits


def softmax_exp_table(addr_fmt: FixedFormat, size: int, table_fmt: FixedFormat, negative: bool,
                      exp_scale: float = 1.0) -> np.ndarray:
    """init_exp_table: exp(+-value(i) * exp_scale) in float, assigned to exp_table_t."""
    x = top_bits_values(addr_fmt, size) * np.float32(exp_scale)
    if negative:
        x = -x
    return quantize_c(table_fmt, expf(x).astype(np.float64))


def softmax_inverse_table(addr_fmt: FixedFormat, size: int, table_fmt: FixedFormat) -> np.ndarray:
    """init_invert_table: 1 / value(i) in float (1/0 is +inf), assigned to inv_table_t."""
    x = top_bits_values(addr_fmt, size)
    with np.errstate(divide="ignore"):
        v = np.float32(1) / x
    return quantize_c(table_fmt, v.astype(np.float64))


def reduce_order(n: int) -> list:
    """hls4ml's reduce<T, N, Op> tree over indices 0..n-1 as nested pairs (leaves are ints)."""
    def build(lo: int, k: int):
        if k == 1:
            return lo
        if k == 2:
            return (lo, lo + 1)
        left = 1 << int(math.floor(math.log2(k - 1)))
        return (build(lo, left), build(lo + left, k - left))

    return build(0, n)


__all__ = ["LIBM", "expf", "tanhf", "quantize_c", "ceillog2", "linear_index", "activation_table",
           "legacy_inverse_table", "top_bits", "check_top_bits", "softmax_exp_table",
           "softmax_inverse_table", "reduce_order", "wrap_int32", "trunc_div", "index_range", "check_index",
           "index_may_wrap"]
