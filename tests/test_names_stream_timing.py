"""Hostile and colliding names through the streaming writer (``io: stream``) and the clock-period
path (pipeline registers and delay lines named from node names), both backends.

The oracles are those of tests/test_names_property.py (imported, not copied): a hostile name
changes nothing but identifier spellings, comments and string contents (the token structure of
the same graph with plain names, comments stripped the way the compilers strip them), and the
files stay printable ASCII; plus Verilator lint (-Wall), g++ -fsyntax-only, and for the names
that sanitize alike under a clock period (where a shared register or delay line would hide) an
RTL simulation against the golden model under random gaps and stalls.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qhw.errors import QhwError
from qhw.flow import GraphBuilder
from test_names_property import HOSTILE, check_files, name, one_clean_line, structure

N = 13  # the graph + 12 nodes


def build(names: list[str]):
    """A 1-channel 6x6 image: conv (pad 1), relu, max pool, conv -> streamed; then flatten and
    three branches of different depth (dense+relu, relu, clip) concatenated: the two shallow ones
    wait for the deep one in delay lines."""
    rng = np.random.default_rng(7)
    g, x, c1, r1, p1, c2, fl, d, deep, s1, s2, cat, y = names
    b = GraphBuilder(g)
    t = b.input(x, (6, 6, 1), "ap_fixed<8,3>")
    t = b.conv2d(c1, t, rng.standard_normal((3, 3, 1, 2)) * 0.4, rng.standard_normal(2) * 0.1,
                 padding=1)
    t = b.relu(r1, t)
    t = b.pool("maxpool2d", p1, t, kernel_size=2)
    t = b.conv2d(c2, t, rng.standard_normal((2, 2, 2, 1)) * 0.4, None)
    t = b.flatten(fl, t)
    dt = b.relu(deep, b.dense(d, t, rng.standard_normal((4, 4)), rng.standard_normal(4) * 0.1))
    b.output(y, b.concat(cat, [dt, b.relu(s1, t), b.clip(s2, t, -0.5, 0.5)]))
    return b.build(default="ap_fixed<12,4>")


def build_1d(names: list[str]):
    """A short conv1d chain (streamed), an average pool and a dense layer."""
    rng = np.random.default_rng(8)
    g, x, c1, r1, p1, c2, fl, d, y = names
    b = GraphBuilder(g)
    t = b.input(x, (9, 2), "ap_fixed<8,3>")
    t = b.conv1d(c1, t, rng.standard_normal((3, 2, 2)) * 0.4, rng.standard_normal(2) * 0.1,
                 padding="same")
    t = b.relu(r1, t)
    t = b.pool("avgpool1d", p1, t, kernel_size=2, padding=1)
    t = b.conv1d(c2, t, rng.standard_normal((2, 2, 1)) * 0.4, None)
    t = b.flatten(fl, t)
    b.output(y, b.dense(d, t, rng.standard_normal((4, 2)) * 0.5))
    return b.build(default="ap_fixed<12,4>")


#: (Verilog writer options, HLS io)
MODES = {
    "stream": ({"io": "stream"}, "stream"),
    "clock": ({"clock_period": 2.5, "target": "ecp5"}, "auto"),
    "stream_clock": ({"io": "stream", "clock_period": 2.5, "target": "ecp5"}, "stream"),
}

LONG = "n" * 119
NAME_SETS = {
    # every pair sanitizes alike: '.', '-', ' ', '$' all become '_' in an identifier
    "colliding": ["g.1", "x", "c.1", "c-1", "c 1", "c$1", "s_t", "d", "d.", "s.t", "s-t", "s t", "y"],
    "keywords": ["module", "input", "wire", "reg", "always", "__", "int", "class", "begin", "end",
                 "for", "output", "return"],
    "long": [LONG + c for c in ".-_ $*/\\#%;:"] + ["y" * 120],
    "payloads": HOSTILE[:N],
}


def render(graph, out: Path, mode: str) -> dict[str, str]:
    from qhw.backends.hls import write_hls
    from qhw.backends.verilog import write_verilog

    rtl, io = MODES[mode]
    write_verilog(graph, out / "rtl", options=dict(rtl))
    write_hls(graph, out / "hls", io=io)
    return {p.relative_to(out).as_posix(): p.read_bytes().decode("latin-1")
            for p in sorted(out.rglob("*")) if p.is_file()}


_PLAIN: dict = {}


def plain(builder, n: int, mode: str, root: Path) -> list[tuple]:
    key = (builder.__name__, mode)
    if key not in _PLAIN:
        _PLAIN[key] = structure(render(builder([f"n{i}" for i in range(n)]), root / "plain" / "_".join(key), mode))
    return _PLAIN[key]


def _streamed(out: Path) -> set[str]:
    man = json.loads((out / "rtl" / "design.json").read_text())
    return {la["node"] for la in man["layers"] if la.get("io") == "stream"}


def test_the_modes_do_what_they_say(tmp_path):
    """Not vacuous: stream modes stream the windows, clock modes add pipeline latency."""
    names = [f"n{i}" for i in range(N)]
    lat = {}
    for mode in ("stream", "stream_clock", "clock"):
        render(build(names), tmp_path / mode, mode)
        lat[mode] = json.loads((tmp_path / mode / "rtl" / "design.json").read_text())["latency"]
    assert {"n2", "n4", "n5"} <= _streamed(tmp_path / "stream")
    assert _streamed(tmp_path / "stream") == _streamed(tmp_path / "stream_clock")
    assert not _streamed(tmp_path / "clock")
    from qhw.backends.verilog import write_verilog

    unclocked = write_verilog(build(names), tmp_path / "unclocked")
    assert lat["clock"] > json.loads((tmp_path / "unclocked" / "design.json").read_text())["latency"], lat
    assert lat["stream_clock"] > lat["stream"], lat
    del unclocked


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("names", list(NAME_SETS))
def test_fixed_names_inert(names, mode, tmp_path):
    files = render(build(NAME_SETS[names]), tmp_path / "h", mode)
    check_files(files, tmp_path, plain(build, N, mode, tmp_path))


@pytest.mark.parametrize("mode", ["stream", "stream_clock"])
def test_conv1d_names_inert(mode, tmp_path):
    files = render(build_1d(HOSTILE[4:13]), tmp_path / "h", mode)
    check_files(files, tmp_path, plain(build_1d, 9, mode, tmp_path))


@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(names=st.lists(name, min_size=N, max_size=N, unique=True), mode=st.sampled_from(list(MODES)))
def test_drawn_names_refused_or_inert(names, mode, tmp_path_factory):
    try:
        graph = build(names)
    except QhwError as exc:
        assert one_clean_line(str(exc)) and len(str(exc)) < 800, str(exc)
        return
    root = tmp_path_factory.mktemp("drawn")
    check_files(render(graph, root / "h", mode), root, plain(build, N, mode, tmp_path_factory.getbasetemp()))


def _gxx(hls: Path) -> None:
    from qhw.tools.ap_types import ap_types_include_dir
    from qhw.tools.gxx import find_gxx

    for unit in ("qhw_top.cpp", "tb.cpp"):
        proc = subprocess.run([find_gxx(), "-std=c++14", "-fsyntax-only", "-Werror=comment",
                               "-Werror=trigraphs", "-I", str(hls), "-isystem", str(ap_types_include_dir()),
                               str(hls / unit)], capture_output=True, text=True, cwd=hls)
        assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("names,mode", [("payloads", "stream_clock"), ("keywords", "clock"),
                                        ("long", "stream_clock")])
def test_lint_and_gxx_clean(names, mode, tmp_path):
    from rtl_checks import assert_lint_clean, design_in

    render(build(NAME_SETS[names]), tmp_path, mode)
    assert_lint_clean(design_in(tmp_path / "rtl"))
    _gxx(tmp_path / "hls")
    assert not (tmp_path / "PWNED").exists()


def test_long_names_give_short_distinct_modules():
    """120-character names that differ only in their last character: the top and module names
    stay under Verilator's 128 (at 128 it renames the module ``__Vhsh...`` and lint fails with
    DECLFILENAME: found with the 'long' names above, in every mode, parallel too) and distinct."""
    from qhw.backends.verilog.naming import Namer, top_name

    names = NAME_SETS["long"]
    namer = Namer(reserved=(top_name(names[0]),))
    idents = [namer(nm) for nm in names[1:]]
    assert len(set(idents)) == len(idents)
    assert max(len(i) for i in idents + [top_name(names[0])]) <= 48
    assert "__" not in top_name(names[0]) and top_name("ab") == "ab"


@pytest.mark.parametrize("mode", ["stream_clock"])
def test_colliding_names_simulate_to_golden(mode, tmp_path):
    """Names that sanitize alike, pipelined for a clock: each keeps its own registers and delay
    lines (a shared one makes one branch read the other's values)."""
    from qhw.verify.stream import run_harness
    from qhw.verify.vectors import golden_vectors, write_vectors

    g = build(NAME_SETS["colliding"])
    render(g, tmp_path, mode)
    ins, exp = golden_vectors(g, 40)
    write_vectors(tmp_path / "v", ins, exp)
    sim = run_harness(tmp_path / "rtl", tmp_path / "v", gap=0.2, stall=0.2)
    assert sim.ok, sim.summary()
