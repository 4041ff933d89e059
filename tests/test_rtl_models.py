"""Generated RTL == golden model on every vector, under random input gaps and output stalls.

Oracle: qhw.golden (numpy, checked against independent references in its own tests); the
hardware is Verilator running the emitted Verilog. Each design is written once per test process,
when a test first asks for it, and built once (content-hash cache shared by all processes).
"""
from __future__ import annotations

import json

import pytest

from qhw.backends.verilog import write_verilog
from qhw.testing import models
from qhw.verify.stream import run_cocotb_stream, run_harness
from qhw.verify.vectors import golden_vectors, read_vectors, write_vectors
from rtl_checks import (assert_lint_clean, assert_synthesizes, design_cache, multiplier_shapes,
                        small_conv1d_net, small_conv2d_net, small_mlp_twin)

CASES = {
    "mlp_r1": (lambda: models.mlp(), 1),
    "mlp_r4": (lambda: models.mlp(), 4),
    "conv1d_r1": (lambda: models.conv1d_net(), 1),
    "conv1d_r3": (lambda: models.conv1d_net(), 3),
    "conv2d_r1": (lambda: models.conv2d_net(), 1),
    "conv2d_r2": (lambda: models.conv2d_net(), 2),
    "random0": (lambda: models.random_graph(0), 1),
    "random1": (lambda: models.random_graph(1), 1),
    "random2": (lambda: models.random_graph(2), 1),
    "random3": (lambda: models.random_graph(3), 1),
    "random4": (lambda: models.random_graph(4), 1),
}


@pytest.fixture(scope="session")
def designs(tmp_path_factory):
    """``designs(name)`` -> (graph, design, folder with rtl/ and vectors/), written on first use
    (session scope: tests reordered across modules still share them)."""
    def make(name):
        build, r = CASES[name]
        return build(), ({"reuse_factor": r} if r > 1 else None)

    return design_cache(tmp_path_factory.mktemp("rtl"), make, 150, seed=7)


@pytest.mark.parametrize("name", list(CASES))
def test_rtl_equals_golden_under_backpressure(designs, name):
    _, d, folder = designs(name)
    res = run_harness(folder / "rtl", folder / "vectors", seed=3, gap=0.3, stall=0.3)
    assert res.ok, res.summary()
    assert res.samples == 150
    r = CASES[name][1]
    assert d.ii == r
    # every beat accepted and delivered: at least II cycles per sample
    assert res.cycles >= 150 * d.ii


@pytest.mark.parametrize("name", list(CASES))
def test_lint_clean(designs, name):
    """Both flavours: the synthesis one (``files``) and the simulation one (``sim_files``)."""
    _, d, _ = designs(name)
    assert_lint_clean(d)


def test_both_flavours_equal_golden(tmp_path):
    """The simulation flavour (plain products, inline adder trees; what every other RTL test
    simulates) and the synthesis flavour (the shared multiplier and adder-tree modules Yosys
    gets) of one fully parallel MLP: each equals the golden model under backpressure."""
    g = models.mlp(widths=(16, 8, 4, 5))
    d = write_verilog(g, tmp_path / "rtl")
    synth = "".join((d.rtl_dir / f).read_text() for f in d.files)
    sim = "".join((d.rtl_dir / f).read_text() for f in d.sim_files)
    inst = f"{d.top}_cmul #(.WA("  # a multiplier instance
    assert inst in synth and inst not in sim  # they differ
    assert " u_s0 (" in synth and " u_s0 (" not in sim  # an adder-tree instance
    ins, exp = golden_vectors(g, 200, seed=11)
    write_vectors(tmp_path / "vectors", ins, exp)
    for flavour in ("synth", "sim"):
        res = run_harness(tmp_path / "rtl", tmp_path / "vectors", seed=4, gap=0.3, stall=0.3,
                          flavour=flavour)
        assert res.ok and res.samples == 200, f"{flavour}: {res.summary()}"


def test_mismatch_is_reported_by_sample_and_index(designs, tmp_path):
    _, _, folder = designs("random0")
    ins, exp = read_vectors(folder / "vectors")
    exp[5, 0] += 1
    (tmp_path / "v").mkdir()
    from qhw.verify.vectors import write_matrix

    write_matrix(tmp_path / "v" / "input.txt", ins)
    write_matrix(tmp_path / "v" / "expected.txt", exp)
    res = run_harness(folder / "rtl", tmp_path / "v", gap=0.1, stall=0.1)
    assert not res.ok and res.mismatches == 1
    d = res.details[0]
    assert (d["sample"], d["index"], d["expected"], d["actual"]) == (5, 0, exp[5, 0], exp[5, 0] - 1)


def test_full_speed_ii1_has_one_sample_per_cycle(designs):
    _, d, folder = designs("mlp_r1")
    res = run_harness(folder / "rtl", folder / "vectors", gap=0.0, stall=0.0)
    assert res.ok
    assert res.cycles <= 150 + d.latency + 4


def test_cocotb_testbench_with_waves(designs, tmp_path):
    _, d, folder = designs("random1")
    res = run_cocotb_stream(folder / "rtl", folder / "vectors", seed=2, gap=0.3, stall=0.3,
                            waves=True, work_dir=tmp_path / "cc")
    assert res.ok, res.summary()
    assert res.waves and (tmp_path / "cc" / "dump.vcd").stat().st_size > 0


def test_output_is_deterministic(designs, tmp_path):
    g, d, _ = designs("conv1d_r1")
    d2 = write_verilog(g, tmp_path / "again")
    for f in d.files:
        assert (d.rtl_dir / f).read_text() == (tmp_path / "again" / f).read_text()
    man = json.loads((d.rtl_dir / "design.json").read_text())
    assert man["latency"] == d2.latency


#: the conv and folded designs' Yosys checks run on smaller nets of the same layers and reuse factor: in a
#: folded layer every product is a multiplier with muxed weights, and Yosys's time grows with their
#: count (conv2d_r2 122 s, mlp_r4 77 s, conv1d_r3 66 s cold on the 2-core machine at full size;
#: the fully parallel conv1d_net 46 s CPU); the full-size designs are linted and simulated above
SYNTH_SMALL = {
    "mlp_r4": lambda: models.mlp(widths=(8, 6, 4, 3)),
    "conv1d_r1": small_conv1d_net,
    "conv1d_r3": small_conv1d_net,
    "conv2d_r1": small_conv2d_net,
    "conv2d_r2": small_conv2d_net,
}


# slow: mlp_r1's twin (88 distinct constant multipliers, 27 s CPU) is the longest; it starts first
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "mlp_r1" else n
                                  for n in CASES])
def test_yosys_synthesizes(designs, name, tmp_path):
    """Yosys ``read_verilog -sv; synth`` of the whole design, bottom-up: every distinct shared
    multiplier, then the layers, adder trees, requantizers and top (no latches).

    The fully parallel 16-64-32-32-5 MLP (``mlp_r1``) has 3,315 distinct constant multipliers,
    ten minutes of Yosys; its small twin (:func:`rtl_checks.small_mlp_twin`, 8-8-3: 88 distinct
    multipliers) has every multiplier shape and every template of it: 27 s CPU cold (the default
    16-8-4-5 twin, 177 multipliers: 43 s).
    The conv designs and the folded MLP are checked on :data:`SYNTH_SMALL`: the same layers
    with the same reuse factor on fewer pixels and channels (the full-size designs are linted
    and simulated above; conv1d_r1's Yosys run alone was 46 s CPU, its small net's a tenth)."""
    _, d, _ = designs(name)
    if name == "mlp_r1":
        assert len(multiplier_shapes(d)) >= 10  # 14 weight widths (WB 3..16) in the big MLP
        d = small_mlp_twin(d, tmp_path, widths=(8, 8, 3), tries=200)  # seed 160: every one of them
    elif name in SYNTH_SMALL:
        r = CASES[name][1]
        d = write_verilog(SYNTH_SMALL[name](), tmp_path / "small",
                          options={"reuse_factor": r} if r > 1 else None)
        assert d.ii == r  # folded like the full-size design
    stat = assert_synthesizes(d)
    assert stat["modules"]


def test_harness_optimisation_level_comes_from_the_environment(monkeypatch):
    """``QHW_HARNESS_OPT`` (the tests set -O0, see conftest.py): -O1 unless set, one of g++'s
    levels, anything else refused by name before a build starts."""
    from qhw.errors import QhwError
    from qhw.verify.build import harness_opt

    monkeypatch.delenv("QHW_HARNESS_OPT", raising=False)
    assert harness_opt() == "-O1"
    monkeypatch.setenv("QHW_HARNESS_OPT", "-O0")
    assert harness_opt() == "-O0"
    for bad in ("-O9", "-O1 -fplugin=x.so", "O2"):
        monkeypatch.setenv("QHW_HARNESS_OPT", bad)
        with pytest.raises(QhwError, match=r"QHW_HARNESS_OPT=.* not a g\+\+ optimisation level.*-O0"):
            harness_opt()
