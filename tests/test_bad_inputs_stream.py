"""Bad stream and clock options through the real CLI (tests/bad_input_harness.py): one
``qhw: error:`` line naming the option or node and the value, exit 2, no traceback, nothing
written; and ``--io stream`` on a net with nothing to stream writes the parallel design."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bad_input_harness import assert_error, edit_yaml, run_qhw, unchanged
from qhw.flow import GraphBuilder
from qhw.io import save


def _conv(folder, shape=(6, 6, 1)):
    """A 1-channel image through a 3x3 convolution and a 2x2 max pool (streamable)."""
    b = GraphBuilder("img")
    t = b.input("x", shape, "ap_fixed<8,3>")
    t = b.conv2d("c1", t, np.full((3, 3, 1, 1), 0.25), None)
    t = b.pool("maxpool2d", "p1", t, kernel_size=2)
    b.output("y", t)
    save(b.build(default="ap_fixed<12,4>"), folder / "m.yaml")
    return folder / "m.yaml"


def _dense(folder):
    b = GraphBuilder("d")
    t = b.input("x", (3,), "ap_fixed<8,3>")
    b.output("y", b.relu("r", b.dense("fc", t, np.array([[0.5, -0.25], [0.125, 1.0], [-1.0, 0.375]]))))
    save(b.build(default="ap_fixed<8,3>"), folder / "m.yaml")


@pytest.mark.parametrize("bad", ["bogus", ""])
def test_bad_io_option(tmp_path, bad):
    _conv(tmp_path)
    with unchanged(tmp_path):
        res = run_qhw(["compile", "m.yaml", "-o", "out", "--io", bad], cwd=tmp_path)
    assert_error(res, "--io", repr(bad))


@pytest.mark.parametrize("bad", ["sideways", ["stream"]])
def test_bad_io_attribute_in_yaml(tmp_path, bad):
    model = _conv(tmp_path)

    def edit(doc):
        node = next(n for n in doc["nodes"] if n["name"] == "c1")
        node.setdefault("attrs", {})["io"] = bad
    edit_yaml(model, edit)  # (io: null is the attribute left out, as for every attribute)
    with unchanged(tmp_path):
        res = run_qhw(["compile", "m.yaml", "-o", "out", "--io", "stream"], cwd=tmp_path)
    assert_error(res, "'c1'", "io", str(bad))


@pytest.mark.parametrize("bad", ["0", "-3", "nan", "inf", "1e300"])
def test_bad_clock_period_with_stream(tmp_path, bad):
    """nan passed click's FloatRange (every comparison with nan is false) and was refused later
    by the writer under the name options['clock_period'], not the option the user typed."""
    _conv(tmp_path)
    with unchanged(tmp_path):
        res = run_qhw(["compile", "m.yaml", "-o", "out", "--io", "stream", "--clock-period", bad,
                       "--target", "ecp5"], cwd=tmp_path)
    assert_error(res, "--clock-period")


@pytest.mark.parametrize("bad", [".nan", "1e300"])
def test_bad_config_clock_period_not_finite(tmp_path, bad):
    _conv(tmp_path)
    (tmp_path / "cfg.yaml").write_text(f"ClockPeriod: {bad}\n")
    with unchanged(tmp_path):
        res = run_qhw(["compile", "m.yaml", "-o", "out", "--config", "cfg.yaml", "--io", "stream"],
                      cwd=tmp_path)
    assert_error(res, "cfg.yaml", "ClockPeriod")


@pytest.mark.parametrize("bad", ["virtex"])
def test_unknown_target_with_stream(tmp_path, bad):
    _conv(tmp_path)
    with unchanged(tmp_path):
        res = run_qhw(["compile", "m.yaml", "-o", "out", "--io", "stream", "--clock-period", "4",
                       "--target", bad], cwd=tmp_path)
    assert_error(res, "--target", repr(bad))


def test_stream_on_a_net_without_windows_writes_the_parallel_design(tmp_path):
    """Nothing to stream: the same RTL and HLS as --io parallel, byte for byte (no error, no
    half-streamed design; report.json records the option as given)."""
    _dense(tmp_path)
    for io in ("stream", "parallel"):
        res = run_qhw(["compile", "m.yaml", "-o", f"out_{io}", "--io", io, "--vectors", "5"],
                      cwd=tmp_path)
        assert res.returncode == 0, str(res)
    for backend in ("rtl", "hls"):
        a, b = tmp_path / "out_stream" / backend, tmp_path / "out_parallel" / backend
        files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
        assert files and files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
        for f in files:
            assert (a / f).read_bytes() == (b / f).read_bytes(), (backend, f)
    layers = json.loads((tmp_path / "out_stream" / "rtl" / "design.json").read_text())["layers"]
    assert layers and not any(la.get("io") == "stream" for la in layers)


def test_huge_declared_image_with_stream(tmp_path):
    """An image over the tensor limit: refused from its declared shape, before any array."""
    model = _conv(tmp_path)
    edit_yaml(model, lambda doc: doc["nodes"][0]["attrs"].update(shape=[100_000, 100_000, 1]))
    with unchanged(tmp_path):
        res = run_qhw(["compile", "m.yaml", "-o", "out", "--io", "stream", "--clock-period", "5"],
                      cwd=tmp_path, timeout=60, memory_mb=1536)
    assert_error(res, "'x'", "QHW_MAX_TENSOR_ELEMENTS")


def test_big_image_times_vectors_with_stream(tmp_path):
    """A 4000x4000 image (under the tensor limit) streams in a kernel-sized design, but 200 test
    vectors of it would be 3.2 G elements: refused by the batch limit, not by running out of RAM."""
    _conv(tmp_path, (4000, 4000, 1))
    with unchanged(tmp_path):
        res = run_qhw(["compile", "m.yaml", "-o", "out", "--io", "stream"], cwd=tmp_path,
                      timeout=90, memory_mb=2048)
    assert_error(res, "QHW_MAX_BATCH_ELEMENTS")


@pytest.mark.parametrize("io, shape, port", [("stream", (2000, 1000, 1), "output 'y'"),
                                             ("parallel", (1000, 1000, 1), "input 'x'")])
def test_wide_parallel_port_is_refused_before_lowering(tmp_path, io, shape, port):
    """A streamed image still leaves a parallel output port of every element side by side (a
    1000x500 pooled output = 6 Mbit here); lowering it took minutes and gigabytes. Refused by the
    port-bits limit, naming the port, before any RTL is made."""
    _conv(tmp_path, shape)
    with unchanged(tmp_path):
        res = run_qhw(["compile", "m.yaml", "-o", "out", "--io", io, "--vectors", "2"], cwd=tmp_path,
                      timeout=120, memory_mb=3072)
    assert_error(res, port, "QHW_MAX_PORT_BITS")
