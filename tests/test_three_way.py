"""Issue 7's three-way agreement on the bundled example MLP: golden == RTL == HLS C simulation.

One compile writes both backends and one set of vectors (inputs, and the golden model's outputs
as expected values); Verilator runs the RTL under random gaps and stalls and g++ runs the HLS C++
on the same inputs. Both must reproduce every expected code, so all three agree sample by sample.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

import report
from qhw.cli import cli
from qhw.verify.run import simulate_out
from qhw.verify.vectors import read_vectors
from rtl_checks import assert_lint_clean, assert_synthesizes, design_in, small_mlp_twin

EXAMPLE = Path(__file__).parents[1] / "examples" / "jet_mlp" / "model.yaml"


def test_golden_rtl_hls_agree_on_the_example_mlp(tmp_path, request):
    out = tmp_path / "jet"
    r = CliRunner().invoke(cli, ["compile", str(EXAMPLE), "-o", str(out), "--vectors", "400",
                                 "--backend", "rtl", "--backend", "hls"])
    assert r.exit_code == 0, r.output
    rtl = simulate_out(out, backend="rtl")
    hls = simulate_out(out, backend="hls")
    assert rtl.samples == hls.samples == 400
    assert rtl.mismatches == 0 and hls.mismatches == 0, (rtl.summary(), hls.summary())
    _, expected = read_vectors(out / "vectors")
    assert len(np.unique(expected, axis=0)) > 300  # the vectors exercise the design
    report.add("golden == RTL (Verilator, gaps+stalls) == HLS C sim (g++): example MLP, 400 vectors",
               request)
    # The example's RTL through lint -Wall; Yosys synth of its 2,955 constant multipliers would
    # take ten minutes, so its small twin with every multiplier shape is synthesized (the same
    # twin as test_rtl_models' fully parallel MLP when the shapes agree: one cached run).
    example = design_in(out / "rtl")
    assert_lint_clean(example)
    assert_synthesizes(small_mlp_twin(example, tmp_path / "twin"))


def test_unknown_backend_is_an_error(tmp_path):
    r = CliRunner().invoke(cli, ["compile", str(EXAMPLE), "-o", str(tmp_path / "o"), "--backend", "vhdl"])
    assert r.exit_code == 2 and "vhdl" in r.stderr
    assert not (tmp_path / "o").exists()
