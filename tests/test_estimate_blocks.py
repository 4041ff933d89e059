"""qhw.estimate.blocks: the analytic cost of every block kind against Yosys.

Oracles: Yosys ``synth_xilinx -flatten -nodsp`` (its ``stat -json`` cell counts) on the smallest
one-op design of each block kind from ``benchmarks/calibrate_estimate.py`` (the same graphs, so
the content-hashed Yosys cache of a calibration run is reused); Yosys' documented ``mul2dsp``
limits and the block RAM geometries of the three families for the DSP and block RAM rules.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from qhw.estimate import analytic, synthesize
from qhw.estimate.blocks import bram_blocks, dsp_count, fifo_depth

_SPEC = importlib.util.spec_from_file_location(
    "calibrate_estimate", Path(__file__).resolve().parents[1] / "benchmarks" / "calibrate_estimate.py")
cal = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(cal)

#: the smallest design of each kind (name in calibrate_estimate's sets), within 35% of Yosys
SMALL = ["argmax n=5 ap_fixed<6,2>", "maxpool1d (8,1) k2", "threshold n=4 T=3", "upsample (3,2) x2",
         "requantize n=3 *11>>4", "add n=4", "hard_sigmoid n=3 ap_fixed<8,3>",
         "softmax stable n=3 t32 6b", "embedding 8x2 L=2", "tanh rom 128",
         "sigmoid rom 1024 (block RAM)", "dense4x4 4b + output FIFO"]


def _case(name: str) -> dict:
    return next(c for _, c in cal.block_cases() if c["name"] == name)


@pytest.mark.slow  # Yosys (WebAssembly) takes 1-2 min per design when its cache is cold
@pytest.mark.parametrize("name", SMALL)
def test_block_estimate_within_35_percent_of_yosys(name):
    case = _case(name)
    g = case["make"]()
    y = synthesize(g, target="xilinx", nodsp=True, options=case["options"])
    a = analytic(g, target="xilinx", nodsp=True, options=case["options"])
    assert (a.bram, a.dsp) == (y.bram, y.dsp), (a, y)
    assert abs(a.lut - y.lut) <= 0.35 * y.lut, (a, y)


def test_every_kind_has_calibration_and_held_out_designs():
    kinds = {c["kind"] for _, c in cal.block_cases()}
    for which in ("calibration", "held-out"):
        assert {c["kind"] for s, c in cal.block_cases() if s == which} == kinds, which
    names = [c["name"] for _, c in cal.block_cases()]
    assert len(names) == len(set(names))


def test_no_block_falls_through():
    """The blocks the estimator once costed as a bare register (softmax 21 LUT where Yosys
    counted 9,357) now count their logic: an 8-value softmax costs more than its argmax, which
    costs more than nothing."""
    sm = analytic(cal.softmax_one(8, size=64), nodsp=True)
    am = analytic(cal.softmax_one(8, "argmax", "ap_fixed<6,3>"), nodsp=True)
    assert sm.lut > 4 * am.lut > 0
    assert analytic(cal.softmax_one(8, size=64), nodsp=False).dsp == 8  # e * (1/sum) per value


@pytest.mark.parametrize("target,a,b,signed,n", [
    ("xilinx", 4, 4, True, 0),  # an 8-bit product: below DSP_Y_MINWIDTH=9
    ("xilinx", 5, 4, True, 1),
    ("xilinx", 25, 18, True, 1), ("xilinx", 25, 18, False, 4),  # unsigned: one bit more each
    ("ecp5", 2, 2, True, 1), ("ecp5", 19, 18, True, 2), ("ecp5", 1, 8, True, 0),
    ("ice40", 5, 5, True, 0),  # a 10-bit product: below DSP_Y_MINWIDTH=11
    ("ice40", 6, 5, True, 1), ("ice40", 16, 17, True, 2),
])
def test_dsp_rule_per_target(target, a, b, signed, n):
    assert dsp_count(target, a, b, signed) == n


@pytest.mark.parametrize("target,a,b,y,n", [
    ("ice40", 6, 5, 11, 1), ("ice40", 6, 5, 10, 0),  # wreduce first: an 11-bit product read on 10
    ("xilinx", 5, 4, 8, 0), ("ecp5", 6, 5, 3, 1), ("ecp5", 6, 5, 0, 0),
])
def test_dsp_rule_on_the_bits_read(target, a, b, y, n):
    assert dsp_count(target, a, b, y=y) == n


@pytest.mark.slow  # two Yosys runs (about 20 s each when the cache is cold)
@pytest.mark.parametrize("target,name", [
    ("ecp5", "dense4x4 x4 w4 auto"),  # every x * m on a MULT18X18D (no product minimum): 5
    ("ice40", "avgpool-dense-sigmoid"),  # the 11-bit product is read on 10 bits: no SB_MAC16
])
def test_dense_dsp_count_follows_the_target(target, name):
    """Dense layers' DSPs by each target's mul2dsp rule on the merged products and the bits the
    result cast reads (they once followed the DSP48E1 rule everywhere: 0 and 1 here)."""
    case = _case(name)
    g = case["make"]()
    y = synthesize(g, target=target, nodsp=False, options=case["options"])
    assert analytic(g, target=target, nodsp=False, options=case["options"]).dsp == y.dsp


@pytest.mark.parametrize("target,entries,width,ports,n", [
    ("xilinx", 512, 12, 1, 0),  # 6,144 bits stay in LUTs
    ("xilinx", 1024, 10, 1, 1), ("xilinx", 2048, 10, 1, 2), ("xilinx", 1024, 10, 3, 2),
    ("ecp5", 1024, 10, 1, 1), ("ecp5", 2048, 10, 1, 2),
    ("ice40", 1024, 10, 1, 3), ("ice40", 2048, 10, 1, 5), ("ice40", 128, 8, 1, 0),  # measured
])
def test_block_ram_geometry(target, entries, width, ports, n):
    assert bram_blocks(target, entries, width, ports) == n


def test_fifo_depth_matches_the_top():
    """The depth the top's template computes: samples in flight plus one, a power of two."""
    assert [fifo_depth(lat, 1) for lat in (1, 2, 3, 6, 7)] == [4, 4, 8, 8, 16]
    assert fifo_depth(4, 3) == 4
