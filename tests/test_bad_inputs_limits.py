"""Bad input: a few hundred bytes that ask for tens of GiB or never end.

Each case writes a small hostile file into its own folder, runs the real CLI as a subprocess under
an address-space cap far below what the file asks for (tests/bad_input_harness.py), and checks:
exit code 2, exactly one ``qhw: error:`` line naming the culprit and the limit's environment
variable, no traceback, the case's folder unchanged, nothing written. A case that allocated what
the file declares would die of the cap (MemoryError, or a killed process) instead of failing
cleanly. Cases where the Python API has its own entry (``qhw.io.load_model``) check that too.
"""
from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from bad_input_harness import EXAMPLE, assert_error, edit_yaml as _edit, example_case as _case, run_qhw, unchanged

#: far below what any case here declares (GiB to EiB), enough for numpy and the CLI
MEMORY_MB = 1536

def _compile_fails(tmp_path: Path, model: Path, *needles: str, env=None, extra=()) -> str:
    out = tmp_path / "out"
    with unchanged(tmp_path):
        res = run_qhw(["compile", model, "-o", out, "--vectors", "4", *extra], cwd=tmp_path,
                      memory_mb=MEMORY_MB, env=env, timeout=60)
    return assert_error(res, *needles)

def _npy_header(shape, descr="<f8") -> bytes:
    """A .npy file whose header declares ``shape`` but holds only 16 bytes of data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": tuple(shape)})
    return buf.getvalue() + b"\0" * 16

def _npz_with(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name + ".npy", data)

def _example_npz_members() -> dict[str, bytes]:
    out = {}
    with np.load(EXAMPLE / "model.npz") as z:
        for k in z.files:
            buf = io.BytesIO()
            np.save(buf, z[k])
            out[k] = buf.getvalue()
    return out

# ----------------------------------------------------------------------------- YAML / JSON
def test_yaml_alias_bomb(tmp_path):
    """Billion laughs: 9 levels of 9 aliases, under the alias count, expand to 9**9 values."""
    model = _case(tmp_path)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    model.write_text("\n".join(lines) + "\nnodes: *a9\n")
    _compile_fails(tmp_path, model, "model.yaml", "QHW_MAX_DOCUMENT_NODES")

def test_yaml_too_many_aliases(tmp_path):
    model = _case(tmp_path)
    model.write_text("x: &x 1\nnodes: [" + ", ".join(["*x"] * 5000) + "]\n")
    _compile_fails(tmp_path, model, "model.yaml", "QHW_MAX_YAML_ALIASES")

def test_yaml_recursive_alias(tmp_path):
    model = _case(tmp_path)
    model.write_text("nodes: &n [*n]\n")
    _compile_fails(tmp_path, model, "model.yaml", "recursive")

def test_yaml_deep_nesting(tmp_path):
    model = _case(tmp_path)
    model.write_text("nodes: " + "[" * 100_000 + "]" * 100_000 + "\n")
    _compile_fails(tmp_path, model, "model.yaml", "QHW_MAX_NESTING_DEPTH")

def test_yaml_deep_block_nesting(tmp_path):
    model = _case(tmp_path)
    model.write_text("nodes:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 200)) + " " * 200 + "v\n")
    _compile_fails(tmp_path, model, "model.yaml", "QHW_MAX_NESTING_DEPTH")

def test_json_deep_nesting(tmp_path):
    """json.loads would raise RecursionError; the depth is measured on the text first."""
    model = tmp_path / "case" / "model.json"
    model.parent.mkdir()
    model.write_text('{"nodes": ' + "[" * 200_000 + "]" * 200_000 + "}")
    _compile_fails(tmp_path, model, "model.json", "QHW_MAX_NESTING_DEPTH")

def test_json_brackets_inside_strings_do_not_count(tmp_path):
    """Depth is counted outside strings: a name full of brackets is not nesting."""
    from qhw.io.documents import json_depth

    assert json_depth('{"a": "[[[[[[[[\\"[[[[", "b": [[1]]}') == 3
    assert json_depth("[" * 70 + "]" * 70) == 70

def test_document_bytes_limit_via_environment(tmp_path):
    model = _case(tmp_path)
    _compile_fails(tmp_path, model, "model.yaml", "QHW_MAX_DOCUMENT_BYTES",
                   env={"QHW_MAX_DOCUMENT_BYTES": "100"})

def test_grid_file_alias_bomb(tmp_path):
    case = tmp_path / "case"
    shutil.copytree(EXAMPLE, case)
    grid = case / "grid.yaml"
    lines = ["a0: &a0 [4, 4, 4, 4, 4, 4, 4, 4, 4, 4]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    grid.write_text("\n".join(lines) + "\nweights: *a8\n")
    with unchanged(tmp_path):
        res = run_qhw(["sweep", case / "model.yaml", "--data", case / "x_val.npy", "--grid", grid,
                       "-o", tmp_path / "out"], memory_mb=MEMORY_MB, timeout=60)
    assert_error(res, "grid.yaml", "QHW_MAX_DOCUMENT_NODES")

# ----------------------------------------------------------------------------- npz / npy headers
def test_npz_header_declares_80_gb(tmp_path):
    model = _case(tmp_path)
    members = _example_npz_members()
    members["fc1/weight"] = _npy_header((100_000, 100_000))
    _npz_with(model.parent / "model.npz", members)
    _compile_fails(tmp_path, model, "model.npz", "fc1/weight", "QHW_MAX_LAYER_WEIGHTS")

def test_npz_header_larger_than_member(tmp_path):
    """Within the limits, but the member does not hold what its header declares."""
    model = _case(tmp_path)
    members = _example_npz_members()
    members["fc1/weight"] = _npy_header((1000, 1000))
    _npz_with(model.parent / "model.npz", members)
    _compile_fails(tmp_path, model, "model.npz", "fc1/weight", "(1000, 1000)")

def test_npz_array_bytes_limit(tmp_path):
    """Within the weights-per-layer limit, over the bytes limit (lowered for the test)."""
    model = _case(tmp_path)
    members = _example_npz_members()
    members["fc1/weight"] = _npy_header((20_000,), "<f8")
    _npz_with(model.parent / "model.npz", members)
    _compile_fails(tmp_path, model, "fc1/weight", "QHW_MAX_ARRAY_BYTES",
                   env={"QHW_MAX_ARRAY_BYTES": "100000"})

def test_npz_pickled_object_is_never_loaded(tmp_path):
    """An object array would be unpickled by np.load(allow_pickle=True): its payload would run."""
    model = _case(tmp_path)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    buf = io.BytesIO()
    np.save(buf, np.array([Payload()], dtype=object), allow_pickle=True)
    members = _example_npz_members()
    members["fc1/weight"] = buf.getvalue()
    _npz_with(model.parent / "model.npz", members)
    _compile_fails(tmp_path, model, "fc1/weight", "never unpickles")
    assert not marker.exists()

def test_npy_data_header_declares_80_gb(tmp_path):
    case = tmp_path / "case"
    shutil.copytree(EXAMPLE, case)
    (case / "x.npy").write_bytes(_npy_header((100_000, 100_000)))
    with unchanged(tmp_path):
        res = run_qhw(["predict", case / "model.yaml", "--input", case / "x.npy", "--output",
                       tmp_path / "y.npy"], memory_mb=MEMORY_MB, timeout=60)
    assert_error(res, "x.npy", "QHW_MAX_ARRAY_BYTES")

def test_npy_data_pickled_object_is_never_loaded(tmp_path):
    case = tmp_path / "case"
    shutil.copytree(EXAMPLE, case)
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    np.save(case / "x.npy", np.array([Payload()] * 16, dtype=object), allow_pickle=True)
    with unchanged(tmp_path):
        res = run_qhw(["inspect", case / "model.yaml", "--data", case / "x.npy"],
                      memory_mb=MEMORY_MB, timeout=60)
    assert_error(res, "x.npy", "never unpickles")
    assert not marker.exists()

def test_npy_data_truncated(tmp_path):
    case = tmp_path / "case"
    shutil.copytree(EXAMPLE, case)
    (case / "x.npy").write_bytes((case / "x_val.npy").read_bytes()[:200])
    with unchanged(tmp_path):
        res = run_qhw(["inspect", case / "model.yaml", "--data", case / "x.npy"],
                      memory_mb=MEMORY_MB, timeout=60)
    assert_error(res, "x.npy", "holds")

# ----------------------------------------------------------------------------- shapes and options
def test_input_shape_100000_by_100000(tmp_path):
    def edit(doc):
        doc["nodes"][0]["attrs"]["shape"] = [100_000, 100_000]
    model = _edit(_case(tmp_path), edit)
    _compile_fails(tmp_path, model, "'x'", "QHW_MAX_TENSOR_ELEMENTS")

def _upsample_model(tmp_path: Path, scale, shape=(4, 4, 2)) -> Path:
    folder = tmp_path / "case"
    folder.mkdir()
    model = folder / "up.yaml"
    model.write_text(yaml.safe_dump({"qhw_model": 1, "name": "up", "nodes": [
        {"name": "x", "op": "input", "attrs": {"shape": list(shape)},
         "formats": {"result": "ap_fixed<8,3>"}},
        {"name": "up", "op": "upsample", "inputs": ["x"], "attrs": {"scale": scale}},
        {"name": "y", "op": "output", "inputs": ["up"]}]}, sort_keys=False))
    return model

def test_huge_upsample_factor(tmp_path):
    _compile_fails(tmp_path, _upsample_model(tmp_path, [1_000_000_000, 1]), "'up'",
                   "QHW_MAX_UPSAMPLE_FACTOR")

def test_upsample_output_too_large(tmp_path):
    """Each factor within its limit, the product over the tensor limit."""
    _compile_fails(tmp_path, _upsample_model(tmp_path, [1000, 1000], (64, 64, 2)), "'up'",
                   "QHW_MAX_TENSOR_ELEMENTS")

def test_reuse_factor_attribute_over_limit(tmp_path):
    def edit(doc):
        doc["nodes"][1].setdefault("attrs", {})["reuse_factor"] = 1_000_000_000
    model = _edit(_case(tmp_path), edit)
    _compile_fails(tmp_path, model, "'fc1'", "QHW_MAX_REUSE_FACTOR")

def test_table_size_over_limit(tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    model = folder / "sig.yaml"
    model.write_text(yaml.safe_dump({"qhw_model": 1, "name": "sig", "nodes": [
        {"name": "x", "op": "input", "attrs": {"shape": [4]}, "formats": {"result": "ap_fixed<8,3>"}},
        {"name": "s", "op": "sigmoid", "inputs": ["x"], "attrs": {"table_size": 1 << 40}},
        {"name": "y", "op": "output", "inputs": ["s"]}]}, sort_keys=False))
    _compile_fails(tmp_path, model, "'s'", "QHW_MAX_TABLE_ENTRIES")

def test_vectors_option_over_limit(tmp_path):
    model = _case(tmp_path)
    out = tmp_path / "out"
    with unchanged(tmp_path):
        res = run_qhw(["compile", model, "-o", out, "--vectors", "1000000000"], memory_mb=MEMORY_MB)
    assert_error(res, "--vectors", "QHW_MAX_VECTORS")

def test_sweep_grid_points_over_limit(tmp_path):
    case = tmp_path / "case"
    shutil.copytree(EXAMPLE, case)
    grid = case / "grid.yaml"
    grid.write_text("weights: '1:64'\nactivations: '1:64'\naccum: '1:64'\n")  # 262144 points
    with unchanged(tmp_path):
        res = run_qhw(["sweep", case / "model.yaml", "--data", case / "x_val.npy", "--grid", grid,
                       "-o", tmp_path / "out"], memory_mb=MEMORY_MB, timeout=60)
    assert_error(res, "sweep grid", "QHW_MAX_SWEEP_POINTS")

def test_sweep_range_of_1e11_points(tmp_path):
    case = tmp_path / "case"
    shutil.copytree(EXAMPLE, case)
    with unchanged(tmp_path):
        res = run_qhw(["sweep", case / "model.yaml", "--data", case / "x_val.npy", "--weights",
                       "1:100000000000", "-o", tmp_path / "out"], memory_mb=MEMORY_MB, timeout=60)
    assert_error(res, "--weights", "QHW_MAX_SWEEP_POINTS")

# ----------------------------------------------------------------------------- raising a limit
def test_a_limit_is_raised_by_its_environment_variable(tmp_path):
    """The one documented mechanism: QHW_MAX_<NAME>. Lowered, it refuses what passes by default."""
    model = _case(tmp_path)
    line = _compile_fails(tmp_path, model, "--vectors", "QHW_MAX_VECTORS",
                          env={"QHW_MAX_VECTORS": "3"})
    assert "limit of 3" in line
    res = run_qhw(["compile", model, "-o", tmp_path / "out", "--vectors", "4", "--backend", "rtl"],
                  env={"QHW_MAX_VECTORS": "4"}, memory_mb=MEMORY_MB)
    assert res.returncode == 0, str(res)

def test_limit_variable_that_is_not_a_number(tmp_path):
    def edit(doc):
        doc["nodes"][0]["attrs"]["shape"] = [16]
    model = _edit(_case(tmp_path), edit)
    _compile_fails(tmp_path, model, "QHW_MAX_TENSOR_ELEMENTS", "positive integer",
                   env={"QHW_MAX_TENSOR_ELEMENTS": "lots"})

# ----------------------------------------------------------------------------- the Python API
def test_load_model_api_raises_limit_errors(tmp_path):
    """qhw.io.load_model has its own entry: the same checks, as QhwError subclasses."""
    from qhw.errors import ModelError, QhwError
    from qhw.io import load_model
    from qhw.limits import LimitError

    model = _case(tmp_path)
    text = model.read_text()
    model.write_text("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"b{i}: &b{i} [{', '.join(['*a' if i == 0 else f'*b{i - 1}'] * 10)}]\n" for i in range(8))
        + "nodes: *b7\n")
    with pytest.raises(LimitError, match="QHW_MAX_DOCUMENT_NODES"):
        load_model(model)
    model.write_text(text)
    members = _example_npz_members()
    members["fc2/weight"] = _npy_header((1 << 20, 1 << 20))
    _npz_with(model.parent / "model.npz", members)
    with pytest.raises(LimitError, match="QHW_MAX_LAYER_WEIGHTS"):
        load_model(model)
    members["fc2/weight"] = _npy_header((64, 64))
    _npz_with(model.parent / "model.npz", members)
    with pytest.raises(ModelError, match="fc2/weight") as info:
        load_model(model)
    assert isinstance(info.value, QhwError)

def test_vectors_times_tensor_size_over_the_batch_limit(tmp_path):
    """Each tensor within its limit (2**24 elements), but 200 test vectors of it would need
    27 GB of random inputs: refused before they are drawn."""
    _compile_fails(tmp_path, _upsample_model(tmp_path, [64, 64], (32, 64, 2)), "golden model",
                   "QHW_MAX_BATCH_ELEMENTS", extra=("--vectors", "200", "--backend", "rtl"))

def test_ordinary_aliases_still_load(tmp_path):
    """The counting loader is still YAML: a model sharing a format map through an anchor loads."""
    from qhw.io import load_model, native

    model = _case(tmp_path)
    text = model.read_text()
    first = "formats: {result: 'ap_fixed<16,6>'}"
    assert first in text
    text = text.replace(first, "formats: &fmt {result: 'ap_fixed<16,6>'}", 1)
    text = text.replace("formats: {result: 'ap_ufixed<15,5>'}", "formats: *fmt")
    model.write_text(text)
    assert str(native.load(model).node("relu1").formats["result"]) == "ap_fixed<16,6>"
    load_model(model)  # and prepares
