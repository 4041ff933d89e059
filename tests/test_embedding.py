"""The embedding op: per-row quantization against a reference written from the spec, clamped
addresses, error vs bits, errors; HLS C simulation and RTL simulation == golden."""
from __future__ import annotations

import numpy as np
import pytest

from qhw import golden
from qhw.backends.hls import run_raw as hls_run_raw
from qhw.backends.hls import write_hls
from qhw.backends.verilog import write_verilog
from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.flow import GraphBuilder
from qhw.testing import models
from qhw.verify.stream import run_harness
from qhw.verify.vectors import write_vectors
from rtl_checks import check_design


def _reference(table, idx, code_f: FixedFormat, scale_f: FixedFormat, res: FixedFormat):
    """Row by row in plain Python floats (exact here: 8-bit codes times 16-bit scales)."""
    out = np.zeros(idx.shape + (table.shape[1],), np.int64)
    qmax = 2 ** (code_f.width - 1) - 1
    for pos, i in np.ndenumerate(idx):
        r = min(max(int(i), 0), table.shape[0] - 1)
        s = scale_f.to_float(scale_f.quantize(max(abs(v) for v in table[r]) / qmax)).item()
        for j, v in enumerate(table[r]):
            c = 0.0 if s == 0 else min(max(round(v / s), -qmax), qmax)  # round half to even
            out[pos + (j,)] = int(res.quantize(c * s))
    return out


def test_golden_equals_the_per_row_reference_and_clamps_addresses():
    g = models.embedding_net()
    node = g.node("emb")
    idx = np.concatenate([np.arange(64).reshape(16, 4), np.random.default_rng(1).integers(0, 64, (30, 4))])
    got = golden.run_raw(g, idx, keep_all=True).tensors["emb"]
    want = _reference(node.params["table"], idx, node.formats["table"], node.formats["scale"],
                      node.formats["result"])
    np.testing.assert_array_equal(got, want)
    # indices 40..63 (past the 40 rows) read the last row
    np.testing.assert_array_equal(got[10, 0], got[9, 3])  # 40 vs 39
    np.testing.assert_array_equal(got[15, 3], got[9, 3])  # 63 vs 39


def test_per_row_scales_beat_one_scale_and_error_shrinks_with_bits():
    errs = []
    for bits in (4, 6, 8, 12):
        g = models.embedding_net(code_bits=bits)
        n = g.node("emb")
        codes, scales = __import__("qhw.ops", fromlist=["get"]).get("embedding").rows(n)
        deq = n.formats["table"].to_float(codes) * n.formats["scale"].to_float(scales)[:, None]
        rel = np.abs(deq - n.params["table"]).max(axis=1) / np.abs(n.params["table"]).max(axis=1)
        errs.append(float(rel.max()))
        # one scale for the whole table would leave the small rows with few levels
        one = np.abs(n.params["table"]).max() / (2 ** (bits - 1) - 1)
        deq1 = np.rint(n.params["table"] / one) * one
        rel1 = np.abs(deq1 - n.params["table"]).max(axis=1) / np.abs(n.params["table"]).max(axis=1)
        assert rel.max() < rel1.max()
    assert all(b < a for a, b in zip(errs, errs[1:])), errs


def test_bad_embeddings_name_the_node():
    b = GraphBuilder("bad")
    x = b.input("idx", (3,), "ap_fixed<8,4>")
    b.output("y", b.node("emb", "embedding", [x], params={"table": np.ones((4, 2))}))
    with pytest.raises(ModelError, match="emb.*integer format"):
        b.build()
    b = GraphBuilder("bad2")
    x = b.input("idx", (3,), "ap_uint<2>")
    b.output("y", b.node("emb", "embedding", [x], params={"table": np.ones(4)}))
    with pytest.raises(ModelError, match="emb.*rows, dim"):
        b.build()


def _indices(n=300):
    return np.concatenate([np.arange(64).reshape(16, 4),
                           np.random.default_rng(2).integers(0, 64, (n - 16, 4))])


def test_hls_csim_equals_golden(tmp_path):
    g = models.embedding_net()
    idx = _indices()
    write_hls(g, tmp_path / "hls")
    np.testing.assert_array_equal(hls_run_raw(tmp_path / "hls", idx)["y"], golden.run_raw(g, idx).outputs["y"])


@pytest.mark.parametrize("r", [1, 3])
def test_rtl_equals_golden_under_backpressure(r, tmp_path):
    """Rows of 2 values, not 6 (the dense layer 8 x 3 instead of 24 x 3; cold at load 5-7:
    107 s and 53 s of lint, Yosys and simulation before); still 40 rows, 6-bit indices that
    reach past the last row, per-row scales."""
    g = models.embedding_net(dim=2)
    d = write_verilog(g, tmp_path / "rtl", options={"reuse_factor": r})
    assert d.ii == r
    check_design(d)
    idx = _indices()
    write_vectors(tmp_path / "vectors", [idx], [golden.run_raw(g, idx).outputs["y"]])
    sim = run_harness(tmp_path / "rtl", tmp_path / "vectors", seed=5, gap=0.3, stall=0.3)
    assert sim.ok and sim.samples == len(idx), sim.summary()
