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


def test_names_that_sanitize_alike_get_their_own_delay_lines(tmp_path):
    """'s.t' and 's-t' both sanitize to 's_t'; both wait the same cycles for a deeper layer, so a
    delay line named from the sanitized name was shared and one branch read the other's values
    (found by the hostile-names property test). Each delay line is named after its unique ident."""
    rng = np.random.default_rng(1)
    b = GraphBuilder("alike")
    x = b.input("x", (4,), "ap_fixed<8,3>")
    deep = b.relu("deep", b.dense("fc", x, rng.standard_normal((4, 4)), rng.standard_normal(4) * 0.1))
    r1 = b.relu("s.t", x)
    r2 = b.clip("s-t", x, -0.5, 0.5)
    b.output("y", b.concat("cat", [deep, r1, r2]))
    g = b.build(default="ap_fixed<12,4>")
    d = write_verilog(g, tmp_path / "rtl")
    ins, exp = golden_vectors(g, 40)
    write_vectors(tmp_path / "v", ins, exp)
    sim = run_harness(tmp_path / "rtl", tmp_path / "v", gap=0.2, stall=0.2)
    assert sim.ok, sim.summary()
    assert len({line.split()[-1] for line in (tmp_path / "rtl" / f"{d.top}.v").read_text().splitlines()
                if "_delay" in line and " u_d_" in line}) >= 2
