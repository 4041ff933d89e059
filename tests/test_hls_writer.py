"""write_hls output (determinism, headers, pragmas, errors) and csim() on vector files."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from qhw.backends.hls import HlsBackend, csim, run_raw, write_hls
from qhw.backends.hls.sim import write_codes
from qhw.errors import ConfigError, ModelError
from qhw.fixed import FixedFormat
from qhw.golden import run_raw as golden_raw
from qhw.flow import GraphBuilder
from qhw.testing import models


def _files(d):
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_output_is_deterministic_and_independent_of_the_directory(tmp_path):
    write_hls(models.conv1d_net(), tmp_path / "a")
    write_hls(models.conv1d_net(), tmp_path / "b")
    write_hls(models.conv1d_net(), tmp_path / "a")  # rewrite in place
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_one_typedef_per_distinct_format(tmp_path):
    g = models.mlp()
    write_hls(g, tmp_path)
    typedefs = re.findall(r"^typedef (\S+) (\w+);", (tmp_path / "types.h").read_text(), re.M)
    fmts = {f for n in g.nodes() for f in n.formats.values()}
    assert {FixedFormat.parse(ap) for ap, _ in typedefs} == fmts
    assert len(typedefs) == len(fmts)
    assert len(typedefs) == len({name for _, name in typedefs})


def test_layer_headers_name_node_formats_and_reuse(tmp_path):
    g = models.mlp()
    g.node("fc2").attrs["reuse_factor"] = 8
    write_hls(g, tmp_path)
    text = (tmp_path / "layers" / "layer_fc2.h").read_text()
    head = text.split("#ifndef")[0]
    assert "Layer fc2 (dense)" in head
    for slot in ("weight", "bias", "accum", "result"):
        assert f"{slot} fixed_" in head or f"{slot} ufixed_" in head
    assert "#pragma HLS PIPELINE II=8" in text
    assert "ALLOCATION operation instances=mul limit=256" in text  # 64*32/8
    full = (tmp_path / "layers" / "layer_fc1.h").read_text()
    assert "#pragma HLS PIPELINE II=1" in full and "complete dim=0" in full


def test_interfaces_and_dataflow(tmp_path):
    write_hls(models.mlp(), tmp_path / "s")
    top = (tmp_path / "s" / "qhw_top.cpp").read_text()
    assert "hls::stream<" in top and "#pragma HLS INTERFACE axis port=in_x" in top
    assert "#pragma HLS DATAFLOW" in top
    write_hls(models.mlp(), tmp_path / "a", interface="array")
    top = (tmp_path / "a" / "qhw_top.cpp").read_text()
    assert "hls::stream" not in top and "const fixed_16_6_t in_x[16]" in top
    # a residual add reads a tensor twice: no DATAFLOW, and the file says why
    write_hls(models.random_graph(0), tmp_path / "r")
    top = (tmp_path / "r" / "qhw_top.cpp").read_text()
    assert "#pragma HLS DATAFLOW" not in top and "No DATAFLOW" in top


def test_sanitized_identifiers_for_awkward_names(tmp_path):
    b = GraphBuilder("awkward")
    x = b.input("in-put", (3,), "ap_fixed<8,3>")
    h = b.relu("int", x)
    h = b.relu("1x", h)
    h = b.relu("a.b", h)
    h = b.relu("a_b", h)
    b.output("out put", h)
    g = b.build()
    write_hls(g, tmp_path)
    layers = sorted(p.name for p in (tmp_path / "layers").iterdir())
    assert layers == ["layer_a_b.h", "layer_a_b_2.h", "layer_n_1x.h", "layer_n_int.h",
                      "layer_out_put.h"]
    raw = models.random_inputs(g, 50)
    np.testing.assert_array_equal(run_raw(tmp_path, raw)["out put"],
                                  golden_raw(g, raw).outputs["out put"])


def test_stale_layer_files_are_removed(tmp_path):
    write_hls(models.conv2d_net(), tmp_path)
    write_hls(models.mlp(), tmp_path)
    man = json.loads((tmp_path / "qhw_hls.json").read_text())
    on_disk = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert on_disk == set(man["files"])


def test_errors_name_the_culprit(tmp_path):
    g = models.mlp()
    with pytest.raises(ConfigError, match="interface 'axi'"):
        write_hls(g, tmp_path, interface="axi")
    with pytest.raises(ConfigError, match="not a C identifier"):
        write_hls(g, tmp_path, top="my-top")
    g.node("fc1").attrs["reuse_factor"] = 0
    with pytest.raises(ModelError, match="'fc1'.*reuse_factor"):
        write_hls(g, tmp_path)
    g = models.mlp()
    g.node("relu1").op = "swish"
    with pytest.raises(ModelError, match="'relu1'.*'swish'.*supported"):
        write_hls(g, tmp_path)


def test_run_hls_tcl_names_top_sources_and_testbench(tmp_path):
    write_hls(models.mlp(), tmp_path, top="jet_tagger", part="xc7z020clg400-1", clock_ns=4.0)
    tcl = (tmp_path / "run_hls.tcl").read_text()
    assert "set_top jet_tagger" in tcl and "add_files jet_tagger.cpp" in tcl
    assert "add_files -tb tb.cpp" in tcl and "set_part xc7z020clg400-1" in tcl
    assert "create_clock -period 4.0" in tcl and "csim_design" in tcl and "csynth_design" in tcl
    assert (tmp_path / "jet_tagger.cpp").is_file() and (tmp_path / "tb.cpp").is_file()


@pytest.fixture()
def compiled_out(tmp_path):
    """A ``qhw compile``-like OUT dir: OUT/hls and OUT/vectors (shared format) from the golden."""
    g = models.random_graph(3)
    HlsBackend().write(g, tmp_path / "hls", {"interface": "stream"})
    raw = models.random_inputs(g, 300, seed=5)
    (tmp_path / "vectors").mkdir()
    write_codes(tmp_path / "vectors" / "input.txt", raw["x"].reshape(300, -1))
    want = golden_raw(g, raw).outputs["y"].reshape(300, -1)
    write_codes(tmp_path / "vectors" / "expected.txt", want)
    return tmp_path, want


def test_csim_on_vector_files_passes_and_second_run_does_not_recompile(compiled_out):
    out, want = compiled_out
    first = csim(out)
    assert first.ok and first.samples == 300 and first.mismatches == 0
    again = csim(out / "hls")
    assert again.ok and again.build_cached
    assert "300 samples, 0 mismatches" in again.summary()
    np.testing.assert_array_equal(np.loadtxt(out / "hls" / "csim_output.txt", dtype=np.int64,
                                             ndmin=2), want)


def test_csim_reports_mismatches_by_sample_and_output(compiled_out):
    out, want = compiled_out
    bad = want.copy()
    bad[7, 0] += 1
    bad[42, -1] -= 1
    write_codes(out / "vectors" / "expected.txt", bad)
    res = csim(out)
    assert not res.ok and res.mismatches == 2
    assert res.details[0].startswith("sample 7, y[0]:") and res.details[1].startswith("sample 42,")


def test_csim_without_vectors_says_what_is_missing(tmp_path):
    write_hls(models.mlp(), tmp_path / "hls")
    with pytest.raises(ConfigError, match="input.txt"):
        csim(tmp_path)
    with pytest.raises(ConfigError, match="no HLS project"):
        csim(tmp_path / "nowhere")
