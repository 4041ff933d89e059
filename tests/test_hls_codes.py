"""Weights as integer code arrays (qhw.backends.hls.render.code_initializer): the C integer type
and literals g++ accepts, and ``.range(W-1, 0) = code`` giving the format's value bit for bit.

The oracle is ap_types compiled with g++: each code goes through the generated initializer into
the ap_fixed type and back out as its bits; they must equal the code modulo 2^W, at every width
where the C type changes (8/9, 16/17, 32/33 bits, 64) and at each format's extremes.
"""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from qhw.backends.hls.render import code_initializer, code_type
from qhw.fixed import FixedFormat
from qhw.tools import gxx
from qhw.tools.ap_types import ap_types_include_dir

FORMATS = [FixedFormat(w, i, s) for w, i, s in (
    (1, 1, False), (2, 1, True), (4, -1, True), (4, 2, False), (7, 3, True), (8, 0, True),
    (8, 8, False), (9, 2, True), (9, 9, False), (16, 4, True), (16, 1, False), (17, 6, True),
    (31, 10, True), (32, 0, True), (32, 32, False), (33, 5, True), (63, 1, True), (64, 20, True),
    (64, 64, False))]


def _codes(fmt: FixedFormat, rng) -> list[int]:
    edges = {fmt.raw_min, fmt.raw_max, 0, min(fmt.raw_max, 1), max(fmt.raw_min, -1),
             fmt.raw_min + 1, fmt.raw_max - 1}
    rand = [int(v) for v in rng.integers(fmt.raw_min, fmt.raw_max, size=5, endpoint=True,
                                         dtype=np.uint64 if fmt.raw_max >= 2 ** 63 else np.int64)]
    return sorted(edges | set(rand))


def _as_int64(codes: list[int]) -> np.ndarray:
    """Codes as qhw holds them (int64): an unsigned 64-bit code above 2^63 wraps."""
    return np.array([c - (1 << 64) if c >= 1 << 63 else c for c in codes], dtype=np.int64)


def test_code_type_is_the_smallest_standard_type():
    assert [code_type(FixedFormat(w, 1, s)) for w, s in
            ((1, False), (8, True), (9, True), (16, False), (17, True), (32, True), (33, False),
             (64, True))] == ["uint8_t", "int8_t", "int16_t", "uint16_t", "int32_t", "int32_t",
                              "uint64_t", "int64_t"]


def test_codes_read_back_bit_exact_through_ap_types():
    rng = np.random.default_rng(18)
    cases = [(fmt, _codes(fmt, rng)) for fmt in FORMATS]
    parts = ["#include <cstdio>", "#include <stdint.h>", "#include <ap_fixed.h>"]
    body = []
    for k, (fmt, codes) in enumerate(cases):
        ap = f"ap_{'' if fmt.signed else 'u'}fixed<{fmt.width},{fmt.integer_bits}>"
        parts.append(f"static const {code_type(fmt)} c{k}[{len(codes)}] = {{\n"
                     f"{code_initializer(_as_int64(codes), fmt)}\n}};")
        body.append(f"  for (int i = 0; i < {len(codes)}; i++) {{ {ap} v; "
                    f"v.range({fmt.width - 1}, 0) = c{k}[i]; ap_uint<{fmt.width}> b = "
                    f"v.range({fmt.width - 1}, 0); std::printf(\"%llu\\n\", "
                    "(unsigned long long)b.to_uint64()); }")
    src = "\n".join(parts) + "\nint main() {\n" + "\n".join(body) + "\n  return 0;\n}\n"
    try:
        exe = gxx.build_cached({"codes.cpp": src}, [ap_types_include_dir()], name="codes")
    except gxx.MissingToolError as exc:  # pragma: no cover - g++ is part of the dev setup
        pytest.skip(str(exc))
    out = subprocess.run([str(exe.exe)], capture_output=True, text=True, check=True).stdout.split()
    want = [c % (1 << fmt.width) for fmt, codes in cases for c in codes]
    assert [int(v) for v in out] == want
