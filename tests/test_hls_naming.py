"""Identifiers and typedef names of the HLS backend; the typedefs checked by g++ itself."""
from __future__ import annotations

import itertools
import subprocess

import pytest

from qhw.backends.hls.naming import ap_type, sanitize, type_name, unique_identifiers
from qhw.backends.hls.render import render
from qhw.fixed import FixedFormat
from qhw.tools import gxx
from qhw.tools.ap_types import ap_types_include_dir

FORMATS = [
    FixedFormat(w, i, s, r, o)
    for (w, i), s, (r, o) in itertools.product(
        [(8, 3), (1, 1), (16, -2), (12, 20), (8, 8), (64, 32)], [True, False],
        [("TRN", "WRAP"), ("RND", "SAT"), ("RND_CONV", "SAT_SYM"), ("TRN_ZERO", "SAT_ZERO")])
]


@pytest.mark.parametrize("name, ident", [
    ("fc1.dense", "fc1_dense"), ("a-b", "a_b"), ("1x", "n_1x"), ("int", "n_int"),
    ("module", "module"), ("__x__", "x"), ("über", "ber"), ("...", "t"),
])
def test_sanitize(name, ident):
    assert sanitize(name) == ident


def test_unique_identifiers_suffix_collisions_in_order():
    assert unique_identifiers(["a.b", "a_b", "a-b", "c"], "layer_") == {
        "a.b": "layer_a_b", "a_b": "layer_a_b_2", "a-b": "layer_a_b_3", "c": "layer_c"}


def test_type_names_are_distinct_identifiers():
    names = [type_name(f) for f in FORMATS]
    assert len(set(names)) == len(FORMATS)
    assert all(sanitize(n) == n for n in names)
    assert type_name(FixedFormat(16, -2, False, "RND", "SAT")) == "ufixed_16_m2_rnd_sat_t"


def test_ap_type_round_trips_through_the_parser():
    for f in FORMATS:
        assert FixedFormat.parse(ap_type(f)) == f


def test_typedefs_have_the_format_width_and_modes_under_gxx():
    """g++ reports each typedef's width, integer bits, sign and modes (the independent oracle)."""
    types = [{"name": type_name(f), "ap": ap_type(f), "uses": "test"} for f in FORMATS]
    header = render("types.h.j2", types=types, guard="QHW_TYPES_H")
    lines = [f'  std::printf("%d %d %d %d %d\\n", {t["name"]}::width, {t["name"]}::iwidth, '
             f'(int){t["name"]}::qmode, (int){t["name"]}::omode, '
             f'negative_when_all_ones<{t["name"]}>());' for t in types]
    main = ("#include <cstdio>\n#include \"types.h\"\n"
            "template <class T> int negative_when_all_ones() {\n"
            "  T x; x.range(T::width - 1, 0) = ap_int<T::width>(-1); return x < 0;\n}\n"
            "int main() {\n" + "\n".join(lines) + "\n}\n")
    exe = gxx.build({"types.h": header, "main.cpp": main}, [ap_types_include_dir()], name="types")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
    # ap_q_mode / ap_o_mode enumerator order in ap_decl.h
    q = ["RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV", "TRN", "TRN_ZERO"]
    o = ["SAT", "SAT_ZERO", "SAT_SYM", "WRAP"]
    for f, line in zip(FORMATS, out):
        w, i, qm, om, neg = map(int, line.split())
        assert (w, i, q[qm], o[om]) == (f.width, f.integer_bits, f.rounding, f.overflow), f
        assert bool(neg) == f.signed, f
