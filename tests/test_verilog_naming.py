"""Awkward node names (keywords, dashes, leading digits) still give legal, lint-clean RTL."""
from __future__ import annotations

import numpy as np

from qhw.backends.verilog import write_verilog
from qhw.backends.verilog.naming import Namer, sanitize
from qhw.flow import GraphBuilder
from qhw.verify.stream import run_harness
from qhw.verify.vectors import golden_vectors, write_vectors
from rtl_checks import check_design


def test_sanitize_and_unique():
    assert sanitize("module") == "module_q"
    assert sanitize("a-b") == "a_b"
    assert sanitize("1x") == "n1x"
    n = Namer()
    assert n("a-b") == "a_b" and n("a_b") == "a_b_1" and n("a-b") == "a_b"


def test_odd_names_build_lint_and_match(tmp_path):
    rng = np.random.default_rng(0)
    b = GraphBuilder("module")
    x = b.input("1x", (4,), "ap_fixed<8,3>")
    h = b.dense("a-b", x, rng.standard_normal((4, 3)), rng.standard_normal(3) * 0.1,
                formats={"result": "ap_fixed<8,3,AP_RND,AP_SAT>"})
    h = b.relu("module", h)
    b.output("wire", h)
    g = b.build(default="ap_fixed<12,4>")
    d = write_verilog(g, tmp_path / "rtl")
    check_design(d)
    ins, exp = golden_vectors(g, 50)
    write_vectors(tmp_path / "v", ins, exp)
    assert run_harness(tmp_path / "rtl", tmp_path / "v", gap=0.2, stall=0.2).ok
