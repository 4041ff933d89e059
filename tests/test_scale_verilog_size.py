"""Verilog size of the FINN-TFC-size MLP (issue 18.2): file size follows the distinct hardware.

The 784-64-64-64-10 MLP at 4 bits (the model ``benchmarks/bench_scale.py`` builds) has 41,832
non-zero constant products. Its hierarchical (synthesis) Verilog must stay within the issue's
5 MB, and every adder tree is an instance of one parameterized module, not a module per shape.
"""
from __future__ import annotations

import re

import numpy as np

from qhw.backends.verilog import write_verilog
from qhw.testing import models

#: the issue's bound on the TFC MLP's Verilog (bytes)
LIMIT = 5_000_000


def test_tfc_mlp_verilog_is_within_5_mb_with_one_adder_tree_module(tmp_path):
    g = models.mlp(widths=(784, 64, 64, 64, 10), fmt="ap_fixed<4,2>", name="tfc")
    products = sum(int(np.count_nonzero(n.param_raw("weight"))) for n in g.nodes()
                   if "weight" in n.params)
    assert products > 40_000  # the model is the full-size one
    d = write_verilog(g, tmp_path / "rtl")
    sizes = {f: (d.rtl_dir / f).stat().st_size for f in d.files}
    total = sum(sizes.values())
    assert total <= LIMIT, f"{total:,} bytes: " + ", ".join(
        f"{f} {s:,}" for f, s in sorted(sizes.items(), key=lambda kv: -kv[1])[:5])
    trees = [f for f in d.files if re.fullmatch(r"tfc_add[0-9a-f]+\.v", f)]
    assert len(trees) == 1, trees
    # every output of the four dense layers sums through an instance of it
    text = "".join((d.rtl_dir / f).read_text() for f in d.files)
    assert text.count(f"{trees[0][:-2]} #(.N(") == 64 + 64 + 64 + 10
