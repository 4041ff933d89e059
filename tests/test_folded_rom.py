"""Folded dense/conv layers read their weights from a table (issue 18.2): RTL == golden.

A layer folded by the reuse factor R whose weights fill at least ``WEIGHT_ROM_MIN_BITS`` keeps
them in one ``reg`` array of R words (a word per fold step), read synchronously at the fold
counter's next value, instead of a ``cnt``-compare mux per weight. Oracle: qhw.golden (numpy);
the hardware is Verilator running the emitted Verilog under random input gaps and output stalls
(the table register and the counter must agree on every stalled cycle), both flavours (the
simulation twin also reads the table; a streamed kernel's twin is a loop, so its table is
checked in the synthesis flavour). Yosys must infer a memory from the table, and the Verilog of
a layer must shrink with its hardware when R grows (the mux legs grew with R x weights).
"""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

from qhw.backends.verilog import write_verilog
from qhw.backends.verilog.mac import WEIGHT_ROM_MIN_BITS
from qhw.flow import GraphBuilder
from qhw.tools.verilator import lint
from qhw.verify.stream import run_harness
from rtl_checks import design_cache

N = 80


def _dense(n_in: int, n_out: int, bits: int, r: int, seed: int, relu: bool = False):
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"fr_d{n_in}x{n_out}_r{r}")
    t = b.input("x", (n_in,), f"ap_fixed<{bits},2>")
    t = b.dense("fc", t, rng.standard_normal((n_in, n_out)) / np.sqrt(n_in),
                rng.standard_normal(n_out) * 0.2,
                formats={"weight": f"ap_fixed<{bits},1>", "bias": f"ap_fixed<{bits},1>",
                         "result": f"ap_fixed<{bits + 4},4,AP_RND,AP_SAT>"}, reuse_factor=r)
    if relu:
        t = b.relu("relu", t)
    b.output("y", t)
    return b.build(default=f"ap_fixed<{bits + 2},4>")


def _conv2d(r: int, seed: int = 3):
    """Padded 3x3 convolution (taps of the border pixels are padding: zero input selects)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"fr_conv2d_r{r}")
    t = b.input("x", (3, 4, 2), "ap_fixed<6,2>")
    t = b.conv2d("c", t, rng.standard_normal((3, 3, 2, 3)) * 0.5, rng.standard_normal(3) * 0.1,
                 padding=1, formats={"weight": "ap_fixed<6,1>"}, reuse_factor=r)
    t = b.relu("r", t)
    t = b.flatten("f", t)
    t = b.dense("fc", t, rng.standard_normal((3 * 4 * 3, 2)) * 0.2, None)
    b.output("y", t)
    return b.build(default="ap_fixed<10,4>")


def _conv1d_stream(r: int, seed: int = 4):
    """A streamed conv1d kernel (27 taps x 8 channels) folded by r."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"fr_conv1d_s_r{r}")
    t = b.input("x", (9, 9), "ap_fixed<6,2>")
    t = b.conv1d("c", t, rng.standard_normal((3, 9, 8)) * 0.4, rng.standard_normal(8) * 0.1,
                 padding="same", formats={"weight": "ap_fixed<6,1>"}, reuse_factor=r)
    t = b.flatten("f", t)
    t = b.dense("fc", t, rng.standard_normal((9 * 8, 2)) * 0.1, None)
    b.output("y", t)
    return b.build(default="ap_fixed<10,4>")


#: name: (graph factory, backend options, the layer module's suffix, flavours simulated)
CASES = {
    # 20 inputs in 3 steps of 7 (the last step one short); 12 x 7 multipliers
    "dense20x12_r3": (lambda: _dense(20, 12, 6, 3, seed=1, relu=True), {}, "_fc", ("sim",)),
    # 24 inputs in 16 steps of 2 (8 steps with one slot empty)
    "dense24x10_r16": (lambda: _dense(24, 10, 5, 16, seed=2), {}, "_fc", ("sim", "synth")),
    "dense16x16_r2": (lambda: _dense(16, 16, 6, 2, seed=5), {}, "_fc", ("sim",)),
    # a 1 ns clock registers the products and the final sum: the accumulator runs on delayed
    # start/busy/last while the table follows the undelayed counter
    "dense24x10_clocked_r16": (lambda: _dense(24, 10, 5, 16, seed=2), {"clock_period": 1.0},
                               "_fc", ("synth",)),
    # 18 taps: R = 2 divides them, R = 4 does not (5 per step, 2 empty on the last)
    "conv2d_r2": (lambda: _conv2d(2), {}, "_c", ("sim",)),
    "conv2d_r4": (lambda: _conv2d(4), {}, "_c", ("synth",)),
    "conv1d_stream_r3": (lambda: _conv1d_stream(3), {"io": "stream"}, "_s_c_k", ("synth",)),
}


@pytest.fixture(scope="module")
def designs(tmp_path_factory):
    return design_cache(tmp_path_factory.mktemp("folded_rom"),
                        lambda name: (CASES[name][0](), CASES[name][1]), N, seed=6)


def _layer_text(d, suffix: str) -> str:
    return (d.rtl_dir / f"{d.top}{suffix}.v").read_text()


@pytest.mark.parametrize("name,flavour", [(n, f) for n, c in CASES.items() for f in c[3]])
def test_folded_rom_rtl_equals_golden_under_gaps_and_stalls(designs, name, flavour):
    g, d, folder = designs(name)
    text = _layer_text(d, CASES[name][2])
    r = int(name.rsplit("_r", 1)[1])
    # the weights are a table of R words read by the counter's next value; no weight mux
    assert f"wrom0 [0:{r - 1}];" in text, text[:2000]
    assert "wq0 <= wrom0[waddr];" in text
    assert not re.search(r"assign w\d+_\d+ = \(cnt", text)  # no cnt-compare legs select a weight
    res = run_harness(folder / "rtl", folder / "vectors", seed=11, gap=0.35, stall=0.35,
                      flavour=flavour)
    assert res.ok, res.summary()
    assert res.samples == N


def test_clocked_folded_rom_registers_products_and_sums(designs):
    _, d, _ = designs("dense24x10_clocked_r16")
    text = _layer_text(d, "_fc")
    assert "start_d <= start;" in text and "if (last_d) sq0 <=" in text
    assert d.ii == 16 and d.latency == designs("dense24x10_r16")[1].latency + 2


def test_folded_rom_full_rate_keeps_latency_and_ii(designs):
    """No gaps, no stalls: a new sample every R cycles, and the reported latency holds."""
    _, d, folder = designs("dense24x10_r16")
    assert d.ii == 16
    res = run_harness(folder / "rtl", folder / "vectors", seed=1, gap=0.0, stall=0.0)
    assert res.ok, res.summary()
    assert res.cycles <= (N + 2) * d.ii + d.latency


@pytest.mark.parametrize("name", list(CASES))
def test_folded_rom_lint_clean(designs, name):
    _, d, _ = designs(name)
    files = [d.rtl_dir / f for f in d.files]
    sim = [d.rtl_dir / f for f in getattr(d, "sim_files", None) or []]
    for group in (files, sim) if sim else (files,):
        res = lint(group, top=d.top)
        assert res.ok, res.summary()


def test_small_folded_layer_keeps_its_muxes(tmp_path):
    """Below WEIGHT_ROM_MIN_BITS (4 x 4 weights of 4 bits, R = 2: 64 bits) the weights stay
    cnt-compare selects: no table register for a handful of bits."""
    d = write_verilog(_dense(4, 4, 4, 2, seed=7), tmp_path / "rtl")
    text = _layer_text(d, "_fc")
    assert "wrom" not in text and "(cnt == 1'd0) ?" in text
    assert 2 * 4 * 2 * 4 < WEIGHT_ROM_MIN_BITS


def _fc_bytes(tmp_path, r: int) -> int:
    d = write_verilog(_dense(64, 64, 4, r, seed=0), tmp_path / f"r{r}")
    return os.path.getsize(d.rtl_dir / f"{d.top}_fc.v")


def test_verilog_size_follows_the_hardware(tmp_path):
    """A 64 x 64 layer at 4 bits: R = 16 has a quarter of R = 4's multipliers, R = 64 a
    sixteenth; its Verilog shrinks with them. (With a mux leg per weight it did not: 452 KB,
    309 KB and 257 KB, every weight a leg whatever R; with the table 342, 100 and 46 KB.)"""
    r4, r16, r64 = (_fc_bytes(tmp_path, r) for r in (4, 16, 64))
    assert r16 < 0.4 * r4, (r4, r16)
    assert r64 < 0.2 * r4, (r4, r64)
    assert r16 < 150_000, r16


def test_yosys_infers_a_memory_for_the_weight_table(tmp_path):
    """Yosys reads the table as a memory (``$mem``) with a registered read port (not a mux
    tree it would have to rediscover): ``proc; memory -nomap`` on the layer module alone."""
    from qhw.tools import yosys

    d = write_verilog(_dense(24, 10, 5, 16, seed=2), tmp_path / "rtl")
    mod = f"{d.top}_fc"
    res = yosys.run_script(f"read_verilog -sv {mod}.v\nhierarchy -top {mod}\nproc\nopt_clean\n"
                           f"memory -nomap\ntee -q -o mem_stat.txt stat\n", d.rtl_dir, timeout=300)
    assert res.ok, res.output[-2000:]
    stat = (d.rtl_dir / "mem_stat.txt").read_text()
    assert "$mem_v2" in stat, stat
