"""Hostile host steps and import options: one error line naming the node, step and key; exit
code 2; nothing written; nothing evaluated (the host steps are plain data from a fixed list)."""
from __future__ import annotations

import numpy as np
import pytest

from bad_input_harness import assert_error, edit_yaml, example_case, run_qhw, unchanged


def _with_host(doc, host, node="x"):
    for n in doc["nodes"]:
        if n["name"] == node:
            n.setdefault("attrs", {})["host"] = host


CASES = [
    ({"steps": [{"op": "eval", "value": "__import__('os').system('true')"}]}, ("input 'x'", "host step #0", "valid ops")),
    ({"steps": [{"op": "mul", "value": [1e400], "shape": []}]}, ("host.steps[0].value[0]", "non-finite")),
    ({"steps": [{"op": "mul", "value": [1.0, 2.0], "shape": [3]}]}, ("host step #0", "shape [3]")),
    ({"steps": [{"op": "transpose", "perm": [0, 0]}]}, ("host step #0", "not a permutation")),
    ({"steps": [{"op": "reshape", "shape": [-1]}]}, ("host step #0", "integers >= 1")),
    ({"steps": [], "shape": [16], "pickle": "x"}, ("input 'x'", "unknown keys", "pickle")),
    ({"steps": [{"op": "relu"}] * 65, "shape": [16]}, ("input 'x'", "at most 64")),
    ("not a mapping", ("input 'x'", "must be a mapping")),
]


@pytest.mark.parametrize("host,needles", CASES, ids=[str(i) for i in range(len(CASES))])
def test_hostile_host_attribute_is_one_error_line(tmp_path, host, needles):
    model = example_case(tmp_path)
    if isinstance(host, dict) and "shape" not in host and host.get("steps") is not None:
        host = {**host, "shape": [16]}
    edit_yaml(model, lambda doc: _with_host(doc, host))
    np.save(tmp_path / "x.npy", np.zeros((2, 16), np.float32))
    with unchanged(model.parent):
        r = run_qhw(["predict", model, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy"])
    assert_error(r, *needles)
    assert not (tmp_path / "y.npy").exists()


def test_input_quant_on_a_native_model_is_refused(tmp_path):
    model = example_case(tmp_path)
    with unchanged(model.parent):
        r = run_qhw(["inspect", model, "--input-quant", "0.1,0,8"])
    assert_error(r, "--input-quant", "quantized ONNX models only")


@pytest.mark.parametrize("spec", ["0.1,0", "abc,0,8", "0.1,0,8,maybe", "x=nan,0,8", "-1,0,8"])
def test_bad_input_quant_spec_is_a_usage_error(tmp_path, spec):
    model = example_case(tmp_path)
    r = run_qhw(["inspect", model, "--input-quant", spec])
    assert r.returncode == 2 and "--input-quant" in r.stderr and "Traceback" not in r.stderr
