"""Bad input: malformed documents — native model files, compile outputs read back by
``qhw simulate``/``qhw estimate``, sweep results — and non-finite numbers.

Every document is validated against its declared schema (qhw.io.schemas, pydantic) before it is
used. Each case runs the real CLI as a subprocess under setrlimit (tests/bad_input_harness.py)
and checks: exit code 2, exactly one ``qhw: error:`` line naming the file and the culprit (key,
node, index, value), no traceback, the case's folder byte-for-byte unchanged, nothing written.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from bad_input_harness import EXAMPLE, assert_error, edit_yaml as _edit, example_case as _case, run_qhw, unchanged

MEMORY_MB = 2048

def _fails(tmp_path: Path, args: list, *needles: str) -> str:
    with unchanged(tmp_path):
        res = run_qhw(args, cwd=tmp_path, memory_mb=MEMORY_MB, timeout=90)
    return assert_error(res, *needles)

def _compile_fails(tmp_path: Path, model: Path, *needles: str) -> str:
    return _fails(tmp_path, ["compile", model, "-o", tmp_path / "out", "--vectors", "4"], *needles)

# ----------------------------------------------------------------------------- native model schema
def _set(*path_and_value):
    *path, value = path_and_value

    def edit(doc):
        cur = doc
        for p in path[:-1]:
            cur = cur[p]
        cur[path[-1]] = value
    return edit

@pytest.mark.parametrize("edit,needles", [
    (_set("nodes", 42), ["model.yaml", "nodes", "valid list", "42"]),
    (_set("nodes", 0, "attrs", "shape", "16"), ["'x'", "shape", "'16'", "integers"]),
    (_set("nodes", 0, "attrs", "shape", [16.5]), ["'x'", "shape", "16.5"]),
    (_set("nodes", 0, "attrs", "shape", [-3]), ["'x'", "shape", "-3"]),
    (_set("nodes", 1, "formats", "weight", 16), ["nodes[1] (node 'fc1').formats.weight", "string", "16"]),
    (_set("nodes", 1, "inputs", "x"), ["node 'fc1'", "inputs", "list"]),
    (_set("nodes", 1, "colour", "red"), ["node 'fc1'", "unknown key 'colour'", "valid:"]),
    (_set("nodez", 1), ["unknown key 'nodez'", "valid:"]),
    (_set("nodes", 1, "name", 123), ["nodes[1].name", "string", "123"]),
    (_set("default", 42), ["default", "string", "42"]),
    (_set("qhw_model", 7), ["qhw_model", "7"]),
    (_set("nodes", 1, "params", "weight"), ["node 'fc1'", "params", "list"]),
    (_set("nodes", 1, "qparams", [1, 2]), ["node 'fc1'", "qparams"]),
    (_set("nodes", 1, "formats", "weight", "ap_fixed<16,1000000>"), ["fc1", "ap_fixed<16,1000000>", "-256..256"]),
    (_set("nodes", 1, "formats", "weight", "ap_fixed<16,-1000000>"), ["fc1", "ap_fixed<16,-1000000>", "-256..256"]),
    (_set("nodes", 0, "formats", "result", "ap_fixed<16,6,AP_ROUNDISH>"), ["'x'", "AP_ROUNDISH"]),
], ids=["nodes-42", "shape-string", "shape-float", "shape-negative", "format-int", "inputs-string",
        "unknown-node-key", "unknown-top-key", "name-int", "default-int", "version", "params-string",
        "qparams-list", "integer-bits-1e6", "integer-bits-minus-1e6", "rounding-mode"])
def test_malformed_native_model(edit, needles, tmp_path):
    model = _edit(_case(tmp_path), edit)
    _compile_fails(tmp_path, model, *needles)

def test_malformed_json_model(tmp_path):
    model = _case(tmp_path)
    doc = yaml.safe_load(model.read_text())
    doc["nodes"][2]["inputs"] = {"fc1": 1}
    js = model.with_suffix(".json")
    js.write_text(json.dumps(doc))
    _compile_fails(tmp_path, js, "model.json", "node 'relu1'", "inputs")

def test_model_file_is_binary(tmp_path):
    model = _case(tmp_path)
    model.write_bytes(b"\xff\xfe\x00garbage\x80")
    _compile_fails(tmp_path, model, "model.yaml", "UTF-8")

def test_model_file_is_a_folder(tmp_path):
    (tmp_path / "case" / "model.yaml").mkdir(parents=True)
    _compile_fails(tmp_path, tmp_path / "case" / "model.yaml", "model.yaml")

def test_model_document_is_a_list(tmp_path):
    model = _case(tmp_path)
    model.write_text("- just\n- a list\n")
    _compile_fails(tmp_path, model, "model.yaml", "not a qhw model")

def test_yaml_python_tag_is_not_executed(tmp_path):
    """A python/object tag would run code under an unsafe loader; here it is a YAML error."""
    model = _case(tmp_path)
    marker = tmp_path / "pwned"
    model.write_text(f"nodes: !!python/object/apply:os.system ['touch {marker}']\n")
    _compile_fails(tmp_path, model, "model.yaml", "python/object")
    assert not marker.exists()

# ----------------------------------------------------------------------------- weights paths
def test_weights_outside_the_model_folder(tmp_path):
    model = _edit(_case(tmp_path), _set("weights", "../secret.npz"))
    shutil.copy(EXAMPLE / "model.npz", tmp_path / "secret.npz")
    _compile_fails(tmp_path, model, "'../secret.npz'", "outside the model's folder")

def test_weights_absolute_path(tmp_path):
    shutil.copy(EXAMPLE / "model.npz", tmp_path / "secret.npz")
    model = _edit(_case(tmp_path), _set("weights", str(tmp_path / "secret.npz")))
    _compile_fails(tmp_path, model, "secret.npz", "relative path inside")

def test_weights_symlink_escaping_the_folder(tmp_path):
    model = _case(tmp_path)
    shutil.copy(EXAMPLE / "model.npz", tmp_path / "secret.npz")
    os.symlink(tmp_path / "secret.npz", model.parent / "link.npz")
    _edit(model, _set("weights", "link.npz"))
    _compile_fails(tmp_path, model, "'link.npz'", "outside the model's folder")

def test_weights_file_missing(tmp_path):
    model = _case(tmp_path)
    (model.parent / "model.npz").unlink()
    _compile_fails(tmp_path, model, "model.npz", "does not exist")

# ----------------------------------------------------------------------------- non-finite values
@pytest.mark.parametrize("key,index,value", [("fc2/weight", (3, 2), np.nan), ("fc1/bias", (5,), np.inf),
                                              ("fc4/weight", (0, 1), -np.inf)])
def test_non_finite_constant(key, index, value, tmp_path):
    model = _case(tmp_path)
    with np.load(model.parent / "model.npz") as z:
        arrays = {k: z[k].copy() for k in z.files}
    arrays[key][index] = value
    np.savez(model.parent / "model.npz", **arrays)
    _compile_fails(tmp_path, model, key, str(list(index)))

def test_non_finite_quantizer_scale(tmp_path):
    model = _edit(_case(tmp_path), _set("nodes", 0, "qparams", {"scale": float("nan")}))
    _compile_fails(tmp_path, model, "'x'", "scale", "nan")

def test_non_finite_data(tmp_path):
    model = _case(tmp_path)
    x = np.load(model.parent / "x_val.npy")
    x[5, 7] = np.inf
    np.save(model.parent / "x_bad.npy", x)
    _fails(tmp_path, ["inspect", model, "--data", model.parent / "x_bad.npy"], "x_bad.npy",
           "inf", "[5, 7]")

def test_non_finite_constant_python_api(tmp_path):
    """Graphs built in Python (not from a file) go through the same shape pass."""
    from qhw.errors import ModelError
    from qhw.io import load_model
    from qhw.passes import prepare

    graph = load_model(EXAMPLE / "model.yaml")
    graph.node("fc3").params["bias"][2] = np.nan
    with pytest.raises(ModelError, match=r"'fc3'.*'bias'.*\[2\]"):
        prepare(graph)

# ----------------------------------------------------------------------------- compile outputs
@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compiled") / "out"
    res = run_qhw(["compile", EXAMPLE / "model.yaml", "-o", out, "--vectors", "8"])
    assert res.returncode == 0, str(res)
    return out

def _output_copy(compiled: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "case"
    shutil.copytree(compiled, dst, symlinks=True)
    return dst

def _edit_json(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))

def test_simulate_a_folder_that_is_not_a_compile_output(tmp_path):
    _case(tmp_path)
    _fails(tmp_path, ["simulate", tmp_path / "case"], "case", "not a qhw compile output")

def test_estimate_a_folder_that_is_not_a_compile_output(tmp_path):
    (tmp_path / "case").mkdir()
    _fails(tmp_path, ["estimate", tmp_path / "case"], "case", "design.json")

@pytest.mark.parametrize("command", ["simulate", "estimate"])
def test_corrupt_report(command, compiled, tmp_path):
    out = _output_copy(compiled, tmp_path)
    (out / "report.json").write_text('{"graph": "jet_mlp", "backends": ')
    _fails(tmp_path, [command, out], "report.json", "not valid JSON")

@pytest.mark.parametrize("edit,needles", [
    (lambda d: d["vectors"].__setitem__("samples", "many"), ["vectors.samples", "'many'"]),
    (lambda d: d.__setitem__("backends", ["rtl"]), ["backends", "dictionary"]),
    (lambda d: d.pop("vectors"), ["vectors", "missing"]),
    (lambda d: d["vectors"].__setitem__("input", "../../etc/passwd"), ["vectors.input", "outside"]),
    (lambda d: d.__setitem__("backends", {"hls": "hls"}), ["without the 'rtl' backend"]),
], ids=["samples-string", "backends-list", "no-vectors", "vectors-outside", "no-rtl"])
def test_malformed_report(edit, needles, compiled, tmp_path):
    out = _output_copy(compiled, tmp_path)
    _edit_json(out / "report.json", edit)
    _fails(tmp_path, ["simulate", out], "report.json" if "without" not in needles[0] else "case",
           *needles)

def test_estimate_reads_options_through_the_report_schema(compiled, tmp_path):
    out = _output_copy(compiled, tmp_path)
    _edit_json(out / "report.json", lambda d: d.__setitem__("options", {"rtl": [1, 2]}))
    _fails(tmp_path, ["estimate", out], "report.json", "options.rtl")

@pytest.mark.parametrize("edit,needles", [
    (lambda d: d["files"].append("../../../etc/passwd"), ["design.json", "files[", "outside"]),
    (lambda d: d["files"].append("missing.v"), ["design.json", "'missing.v'", "does not exist"]),
    (lambda d: d["inputs"][0].__setitem__("elements", "16"), ["design.json", "inputs[0].elements"]),
    (lambda d: d.pop("top"), ["design.json", "top", "missing"]),
], ids=["file-outside", "file-missing", "elements-string", "no-top"])
def test_malformed_design(edit, needles, compiled, tmp_path):
    out = _output_copy(compiled, tmp_path)
    _edit_json(out / "rtl" / "design.json", edit)
    _fails(tmp_path, ["simulate", out], *needles)

def test_design_outside_files_refused_by_estimate_synth(compiled, tmp_path):
    out = _output_copy(compiled, tmp_path)
    _edit_json(out / "rtl" / "design.json", lambda d: d["files"].append("/etc/passwd"))
    _fails(tmp_path, ["estimate", out, "--synth"], "design.json", "/etc/passwd", "relative path")

@pytest.mark.parametrize("damage,needles", [
    (lambda t: t.replace("\n", " abc\n", 1), ["input.txt", "line 1"]),
    (lambda t: "\n".join(ln[: len(ln) // 2] for ln in t.split("\n")), ["input.txt", "line 1", "expected 16"]),
    (lambda t: t.replace("\n", " 99999999999999999999999\n", 1), ["input.txt", "line 1"]),
], ids=["word", "short-rows", "huge-code"])
def test_corrupt_vectors(damage, needles, compiled, tmp_path):
    out = _output_copy(compiled, tmp_path)
    path = out / "vectors" / "input.txt"
    path.write_text(damage(path.read_text()))
    _fails(tmp_path, ["simulate", out], *needles)

def test_vectors_of_different_lengths(compiled, tmp_path):
    out = _output_copy(compiled, tmp_path)
    path = out / "vectors" / "expected.txt"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:3]))
    _fails(tmp_path, ["simulate", out], "input.txt", "8 samples", "3")

# ----------------------------------------------------------------------------- sweep results
def _sweep(tmp_path: Path, out: Path) -> list:
    model = _case(tmp_path)
    return ["sweep", model, "--data", model.parent / "x_val.npy", "--weights", "6", "-o", out]

def test_results_csv_is_a_folder(tmp_path):
    out = tmp_path / "case" / "sweep"
    args = _sweep(tmp_path, out)
    (out / "results.csv").mkdir(parents=True)
    _fails(tmp_path, args, str(out))

@pytest.mark.parametrize("text", [
    "name,age,email\nalice,31,a@example.org\n",
    "id,weights,mean_abs_error,status,favourite_colour\nabc,6,0.1,ok,blue\n",
    "my precious notes, not a csv at all",
], ids=["foreign-csv", "extra-column", "no-newline"])
def test_results_csv_with_a_foreign_header(text, tmp_path):
    out = tmp_path / "case" / "sweep"
    args = _sweep(tmp_path, out)
    out.mkdir(parents=True)
    (out / "results.csv").write_text(text)
    _fails(tmp_path, args, str(out))

# ----------------------------------------------------------------------------- op attributes
@pytest.mark.parametrize("op,attrs", [
    ("upsample", {"scale": "abc"}),
    ("depth_to_space", {"block_size": "abc"}),
    ("reshape", {"shape": "abc"}),
    ("clip", {"min_value": "abc"}),
    ("shift", {"shift": "abc"}),
    ("maxpool2d", {"kernel_size": "3x3"}),
])
def test_malformed_op_attribute(op, attrs, tmp_path):
    """Attribute values are typed by each op as it reads them; a wrong type names the node."""
    folder = tmp_path / "case"
    folder.mkdir()
    model = folder / "m.yaml"
    model.write_text(yaml.safe_dump({"qhw_model": 1, "name": "m", "nodes": [
        {"name": "x", "op": "input", "attrs": {"shape": [4, 4, 2]}, "formats": {"result": "ap_fixed<8,3>"}},
        {"name": "bad_node", "op": op, "inputs": ["x"], "attrs": attrs},
        {"name": "y", "op": "output", "inputs": ["bad_node"]}]}, sort_keys=False))
    _compile_fails(tmp_path, model, "'bad_node'", f"({op})", next(iter(attrs)))

@pytest.mark.parametrize("suffix,text", [
    (".json", '{"nodes": [{"name": "x", "op": "input", "attrs": {"shape": [4]}, "formats": {"result": '
              '"ap_fixed<8,3>"}}, {"name": "c", "op": "clip", "inputs": ["x"], "attrs": {"min_value": NaN, '
              '"max_value": 1.0}}, {"name": "y", "op": "output", "inputs": ["c"]}]}'),
    (".yaml", "nodes:\n- {name: x, op: input, attrs: {shape: [4]}, formats: {result: 'ap_fixed<8,3>'}}\n"
              "- {name: c, op: clip, inputs: [x], attrs: {min_value: -.inf, max_value: 1.0}}\n"
              "- {name: y, op: output, inputs: [c]}\n"),
], ids=["json-NaN", "yaml-inf"])
def test_non_finite_attribute(suffix, text, tmp_path):
    model = tmp_path / "case" / f"m{suffix}"
    model.parent.mkdir()
    model.write_text(text)
    _compile_fails(tmp_path, model, f"m{suffix}", "node 'c'", "min_value", "non-finite")

@pytest.mark.parametrize("edit,needles", [
    (None, ["qhw_hls.json", "not valid JSON"]),
    (lambda d: d["sources"].append("../../elsewhere.cpp"), ["qhw_hls.json", "sources[", "outside"]),
    (lambda d: d["outputs"][0].__setitem__("size", -5), ["qhw_hls.json", "outputs[0].size"]),
], ids=["corrupt", "source-outside", "size-negative"])
def test_malformed_hls_manifest(edit, needles, compiled, tmp_path):
    out = _output_copy(compiled, tmp_path)
    path = out / "hls" / "qhw_hls.json"
    if edit is None:
        path.write_text("{bad")
    else:
        _edit_json(path, edit)
    _fails(tmp_path, ["simulate", out, "--backend", "hls"], *needles)
