"""Hostile names through the real CLI: refused with one clean line, or compiled and simulated
without a byte of them reaching code.

Names that hold a character which ends a comment or hides text (LF, a lone CR, NUL, U+2028/9,
bidi overrides and isolates, zero-width characters, ESC ...) are refused by ``qhw compile`` with
one ``qhw: error:`` line naming the node with the name escaped; the model's folder is untouched
and nothing is written. Names that are merely weird (quotes, ``*/``, ``$system(...)``, a trailing
backslash, trigraphs, ``%n``, non-ASCII letters, 120 characters) compile, simulate (RTL through
Verilator, HLS through g++) and PASS; the payloads they carry (``$system("touch ...")`` for
Verilog, ``system("touch ...");`` for C++) create no marker file and appear in the generated
sources only inside comments, escaped.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from bad_input_harness import assert_error, run_qhw, unchanged
from qhw.names import escape_text
from test_names_property import lang_of

#: where every payload would drop its marker: a fixed path (short, since names are at most 120
#: characters; fixed, so reruns hit the content-hashed Verilator/g++ caches)
MARK = Path(tempfile.gettempdir()) / "qhw-names-PWNED"
V_PAYLOAD = f'$system("touch {MARK}")'
C_PAYLOAD = f'system("touch {MARK}");'


def _native(folder: Path, names: dict[str, str], graph: str = "g", fmt: str = "yaml") -> Path:
    """A four-node model (input -> dense -> relu -> output) with the given node names, written the
    way a user (or an attacker) would write it: YAML/JSON text and an .npz beside it."""
    rng = np.random.default_rng(0)
    x, fc, r, y = names["x"], names["fc"], names["r"], names["y"]
    doc = {"qhw_model": 1, "name": graph, "weights": "model.npz", "default": "ap_fixed<12,4>",
           "nodes": [
               {"name": x, "op": "input", "attrs": {"shape": [4]}, "formats": {"result": "ap_fixed<8,3>"}},
               {"name": fc, "op": "dense", "inputs": [x], "params": ["weight", "bias"]},
               {"name": r, "op": "relu", "inputs": [fc]},
               {"name": y, "op": "output", "inputs": [r]}]}
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "model.npz", **{f"{fc}/weight": rng.standard_normal((4, 3)) / 2,
                                      f"{fc}/bias": rng.standard_normal(3) / 4})
    path = folder / f"model.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(doc))
    else:
        path.write_text(yaml.safe_dump(doc))  # non-ASCII as \x.., \u.... escapes: read back exactly
    back = json.loads(path.read_text()) if fmt == "json" else yaml.safe_load(path.read_text())
    assert [n["name"] for n in back["nodes"]] == [x, fc, r, y]
    return path


def _onnx(folder: Path, node_names: tuple[str, str], tensor: str = "h", graph: str = "g",
          inp: str = "x", out: str = "y") -> Path:
    """A float ONNX model Gemm -> Relu built with onnx.helper, names as given."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    w = numpy_helper.from_array((rng.standard_normal((4, 3)) / 2).astype(np.float32), "W")
    b = numpy_helper.from_array((rng.standard_normal(3) / 4).astype(np.float32), "B")
    nodes = [helper.make_node("Gemm", [inp, "W", "B"], [tensor], name=node_names[0]),
             helper.make_node("Relu", [tensor], [out], name=node_names[1])]
    g = helper.make_graph(nodes, graph, [helper.make_tensor_value_info(inp, TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 3])], [w, b])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return path


def _refused(tmp_path: Path, model: Path, *needles: str) -> str:
    out = tmp_path / "out"
    with unchanged(model.parent):
        res = run_qhw(["compile", model, "-o", out], cwd=model.parent, timeout=60)
    line = assert_error(res, *needles)
    assert line.isascii() and line.isprintable(), line  # escaped: no bidi, no control bytes
    assert not out.exists()
    assert not MARK.exists()
    return line


# ------------------------------------------------------------------------------ refused names
PLAIN = {"x": "x", "fc": "fc", "r": "relu", "y": "y"}
REFUSED = [  # (node key, name, what the error line must show: the escaped name and the character)
    ("r", f"relu\n{V_PAYLOAD}\n//", ["relu\\n$system", "U+000A"]),
    ("r", f"relu\r{C_PAYLOAD}", ["relu\\r", "U+000D"]),
    ("r", f"relu\r\n{C_PAYLOAD}", ["relu\\r\\n", "U+000D"]),
    ("y", "y\x00; rm -rf ~", ["y\\x00", "U+0000"]),
    ("r", "relu\u202e// ;)(metsys", ["relu\\u202e", "U+202E", "RIGHT-TO-LEFT OVERRIDE"]),
    ("r", "relu\u2066 } \u2069", ["relu\\u2066", "U+2066"]),
    ("x", "x\u200bx", ["x\\u200bx", "U+200B"]),
    ("r", f"relu\u2028{C_PAYLOAD}", ["relu\\u2028", "U+2028", "LINE SEPARATOR"]),
    ("r", f"relu\u2029{V_PAYLOAD}", ["relu\\u2029", "U+2029"]),
    ("r", f"relu\x85{C_PAYLOAD}", ["relu\\x85", "U+0085"]),
    ("y", "y\x1b[2J\x1b[1;1H", ["y\\x1b[2J", "U+001B"]),
    ("r", "relu\tx", ["relu\\tx", "U+0009"]),
    ("x", "\ufeffx", ["\\ufeffx", "U+FEFF"]),
    ("r", "relu\u00a0x", ["relu\\xa0x", "U+00A0"]),
    ("r", "relu\U000e0041", ["relu\\U000e0041", "U+E0041"]),
]


@pytest.mark.parametrize("key,name,needles", REFUSED, ids=[f"{k}-{ascii(n)[1:9]}" for k, n, _ in REFUSED])
def test_native_yaml_name_refused(tmp_path, key, name, needles):
    model = _native(tmp_path / "m", {**PLAIN, key: name})
    _refused(tmp_path, model, "model.yaml", f"node #{list(PLAIN).index(key)} name", *needles)


def test_native_json_nul_name_refused(tmp_path):
    model = _native(tmp_path / "m", {**PLAIN, "r": "relu\x00" + C_PAYLOAD}, fmt="json")
    _refused(tmp_path, model, "model.json", "node #2", "relu\\x00system", "U+0000")


def test_graph_name_with_newline_refused(tmp_path):
    model = _native(tmp_path / "m", PLAIN, graph=f"g\n{V_PAYLOAD}")
    _refused(tmp_path, model, "graph name", "g\\n$system", "U+000A")


def test_hostile_input_reference_refused(tmp_path):
    """A node that reads a name which is not a node's (so only the reference carries it)."""
    model = _native(tmp_path / "m", PLAIN)
    doc = yaml.safe_load(model.read_text())
    doc["nodes"][2]["inputs"] = ["fc\u202e"]
    model.write_text(yaml.safe_dump(doc))
    _refused(tmp_path, model, "node 'relu': input #0 name", "fc\\u202e", "U+202E")


def test_megabyte_name_refused_quickly(tmp_path):
    model = _native(tmp_path / "m", {**PLAIN, "r": "r" * 1_000_000}, fmt="json")
    line = _refused(tmp_path, model, "node #2 name 'rrrr", "1,000,000 characters", "QHW_MAX_NAME_LENGTH")
    assert len(line) < 400


def test_name_one_over_the_limit_refused(tmp_path):
    model = _native(tmp_path / "m", {**PLAIN, "fc": "f" * 121})
    _refused(tmp_path, model, "121 characters", "limit of 120", "QHW_MAX_NAME_LENGTH")


ONNX_REFUSED = [  # (node names, tensor, graph, needles)
    ((f"Gemm_0\n{V_PAYLOAD}", "Relu_0"), "h", "g", ["ONNX node #0 name", "Gemm_0\\n$system", "U+000A"]),
    (("Gemm_0", "Relu_0\r" + C_PAYLOAD), "h", "g", ["ONNX node #1 name", "Relu_0\\r", "U+000D"]),
    (("Gemm_0", "Relu_0"), "h\u202e", "g", ["ONNX node 'Gemm_0': output tensor name", "h\\u202e", "U+202E"]),
    (("Gemm_0", "Relu_0"), "h", "g\x00" + C_PAYLOAD, ["ONNX graph name", "g\\x00system", "U+0000"]),
    (("", "Relu_0"), "h\u2028" + C_PAYLOAD, "g", ["ONNX node #0: output tensor name", "h\\u2028", "U+2028"]),
]


@pytest.mark.parametrize("nodes,tensor,graph,needles", ONNX_REFUSED,
                         ids=["node-lf", "node-cr", "tensor-rlo", "graph-nul", "unnamed-node-u2028"])
def test_onnx_name_refused(tmp_path, nodes, tensor, graph, needles):
    model = _onnx(tmp_path / "m", nodes, tensor, graph)
    _refused(tmp_path, model, *needles)


def test_onnx_input_name_with_bidi_refused(tmp_path):
    model = _onnx(tmp_path / "m", ("Gemm_0", "Relu_0"), inp="x\u2067")
    _refused(tmp_path, model, "ONNX graph input name", "x\\u2067", "U+2067")


# ------------------------------------------------------------------------ weird but allowed names
WEIRD = {
    "x": 'in "x" \\',
    "fc": f"fc */ {V_PAYLOAD}; /*",
    "r": f"relu ??/ %n%s `define ${{X}} {C_PAYLOAD}\\",
    "y": "y é 中 \u05d0 " + "z" * 60,
}
WEIRD_GRAPH = "g ` ??/ %n $(shell touch PWNED) [exec touch PWNED]"


def _code_outside_comments(text: str, lang: str) -> str:
    """The text a compiler sees as code: comments removed by the compiler's own rules (see
    tests/test_names_property.strip), string literals and identifiers kept verbatim."""
    from test_names_property import _splice_cpp

    if lang == "cpp":
        text = _splice_cpp(text)
    ends = "\n\r" if lang == "cpp" else "\n"
    out, i, n = [], 0, len(text)
    while i < n:
        if lang in ("cpp", "v") and text.startswith("//", i):
            while i < n and text[i] not in ends:
                i += 1
        elif lang in ("cpp", "v") and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif lang == "tcl" and text[i] == "#" and (i == 0 or text[i - 1] == "\n"):
            while i < n and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


@pytest.fixture(scope="module")
def weird_build(tmp_path_factory):
    """One compile of a model holding every weird name (compile + 2 simulations are the slow
    part; the checks below share them)."""
    root = tmp_path_factory.mktemp("weird")
    model = _native(root / "model", WEIRD, graph=WEIRD_GRAPH)
    out = root / "out"
    with unchanged(model.parent):
        res = run_qhw(["compile", model, "-o", out, "--vectors", "20"], cwd=root, timeout=300)
    return root, out, res


def test_weird_names_compile(weird_build):
    _, out, res = weird_build
    assert res.returncode == 0, str(res)
    assert (out / "rtl").is_dir() and (out / "hls").is_dir()
    assert not MARK.exists()


@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_weird_names_simulate_and_pass(weird_build, backend):
    root, out, res = weird_build
    assert res.returncode == 0, str(res)
    sim = run_qhw(["simulate", out, "--backend", backend, "-n", "20"], cwd=root, timeout=600)
    assert sim.returncode == 0 and "PASS" in sim.stdout, str(sim)
    assert not MARK.exists(), "a payload in a name ran during the simulation"


def _sources(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(out.rglob("*")) if p.is_file() and lang_of(p.name) in ("cpp", "v", "tcl")}


@pytest.mark.parametrize("key", sorted(WEIRD) + ["graph"])
def test_weird_name_only_in_comments_escaped(weird_build, key):
    _, out, res = weird_build
    assert res.returncode == 0, str(res)
    name = WEIRD_GRAPH if key == "graph" else WEIRD[key]
    sources = _sources(out)
    assert sources
    for rel, text in sources.items():
        assert text.isascii(), rel
        code = _code_outside_comments(text, lang_of(rel))
        for bad in (name, "$system", "system(", "PWNED\")", "$(shell", "[exec", "??/", "*/"):
            assert bad not in code, f"{rel}: {bad!r} outside comments"
    # the name stays readable where it belongs: in comments, escaped
    shown = escape_text(name)
    assert any(shown in t for t in sources.values()), f"{shown!r} in no header comment"


def test_weird_names_keep_report_json_valid(weird_build):
    _, out, res = weird_build
    assert res.returncode == 0, str(res)
    report = json.loads((out / "report.json").read_text())
    assert report["graph"] == WEIRD_GRAPH  # data files keep names exactly (JSON escapes them)


def test_weird_onnx_names_compile(tmp_path):
    nodes = (f"/fc/Gemm */ {V_PAYLOAD}", f"Relu é\\ {C_PAYLOAD}")
    model = _onnx(tmp_path / "m", nodes, tensor='h "t" %n', graph="torch-jit ??/ `x`",
                  inp="input.1 中", out="out\\")
    out = tmp_path / "out"
    with unchanged(model.parent):
        res = run_qhw(["compile", model, "-o", out, "--vectors", "10"], cwd=tmp_path, timeout=300)
    assert res.returncode == 0, str(res)  # (simulation: the native model above; same backends)
    for rel, text in _sources(out).items():
        code = _code_outside_comments(text, lang_of(rel))
        for bad in ("$system", "system(", "PWNED\")", "*/", "??/"):
            assert bad not in code, f"{rel}: {bad!r} outside comments"
    assert not MARK.exists()


def setup_module(module):
    MARK.unlink(missing_ok=True)


#: node names equal to the suffixes of a design's shared modules: ``<top>_delay`` (the top's delay
#: line), ``<top>_cmul``/``<top>_mul`` (the multipliers), ``<top>_core`` (the streaming core),
#: ``<top>_u<hash>`` (a unary unit); as layer idents they would name a second module the same
SHARED = {"x": "u0815660128", "fc": "delay", "r": "cmul", "y": "core"}


def test_names_of_shared_modules_keep_every_module(tmp_path):
    """A layer named like a shared module gets its own module (the dense layer named ``delay``
    once overwrote ``g_delay.v``, the delay line: the synthesis file set lost the layer, while
    the simulation, which reads the layer's ``sim/`` twin, passed). Every module of the
    synthesis set is defined once, the set lints clean in Verilator, and the design simulates."""
    import re

    from rtl_checks import assert_lint_clean, design_in

    for names in (SHARED, {"x": "x", "fc": "cmul", "r": "mul", "y": "delay"}):
        model = _native(tmp_path / names["fc"], names)
        out = tmp_path / f"out_{names['fc']}"
        res = run_qhw(["compile", model, "-o", out, "--vectors", "20"], cwd=tmp_path, timeout=300)
        assert res.returncode == 0, str(res)
        d = design_in(out / "rtl")
        defined = [m for f in d.files
                   for m in re.findall(r"^module\s+(\w+)", (d.rtl_dir / f).read_text(), re.M)]
        assert len(defined) == len(set(defined)) == len(d.files), defined
        layers = json.loads((out / "rtl" / "design.json").read_text())["layers"]
        assert all(la["module"] in defined for la in layers), (layers, defined)
        assert_lint_clean(d)
        sim = run_qhw(["simulate", out, "--backend", "rtl", "-n", "20"], cwd=tmp_path, timeout=600)
        assert sim.returncode == 0 and "PASS" in sim.stdout, str(sim)
