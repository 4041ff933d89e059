"""Constant float ops between quantizers from onnxruntime's quantizer: x * c, x + c, x - c, x / c,
c - x and x * (one constant per channel) between a DequantizeLinear and a QuantizeLinear (QDQ;
quantize_static leaves Sub/Div so in QOperator models too, and writes Mul/Add by a constant as
QLinearMul/QLinearAdd with a quantized constant input), in models exported by PyTorch and
quantized by ``quantize_static`` inside the test (uint8 and int8).

qhw maps each as a table of output codes per input code (one per channel for a per-channel
constant) computed by onnxruntime, so the oracle is onnxruntime itself: ``qhw predict`` through
the CLI must equal it exactly on random inputs, inputs far outside the calibration range (codes
saturate), zeros, and inputs half-way between two codes of the input quantizer (ties). A
hand-made model with a tie in every other code checks every code of the table. One compiled
design per backend: RTL (Verilator) and HLS C++ (g++) == golden."""
from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
quantization = pytest.importorskip("onnxruntime.quantization")

from click.testing import CliRunner  # noqa: E402

from qhw.cli import cli  # noqa: E402
from qhw.frontends.onnx_qdq import import_qdq  # noqa: E402
from onnx_helpers import calibration_reader, ort_run as _ort  # noqa: E402


class _Dense(torch.nn.Module):
    """A Linear layer, then every constant op quantize_static leaves between quantizers."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = torch.nn.Linear(8, 6), torch.nn.Linear(6, 4)
        self.register_buffer("pc", torch.tensor([0.5, 1.5, -2.0, 3.0, 0.25, 1.0]))

    def forward(self, x):
        h = torch.relu(self.a(x)) * 3.0
        h = (h + 0.7 - 0.4) / 3.0
        return self.b(1.5 - h * self.pc)


class _Conv(torch.nn.Module):
    """A Conv2d, then a per-channel Mul (shape (1, C, 1, 1)) and a scalar Add on the feature map."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv, self.fc = torch.nn.Conv2d(2, 3, 3), torch.nn.Linear(27, 4)
        self.register_buffer("pc", torch.tensor([0.75, -1.25, 2.5]).reshape(1, 3, 1, 1))

    def forward(self, x):
        h = torch.relu(self.conv(x)) * self.pc + 0.5
        return self.fc(torch.flatten(h, 1))


_SHAPES = {"_Dense": (8,), "_Conv": (2, 5, 5)}



_MODELS: dict = {}


def _quantized(tmp_path_factory, net, fmt: str, act: str):
    """The quantized model file, built once per (net, format, activation type)."""
    key = (net.__name__, fmt, act)
    if key not in _MODELS:
        shape = _SHAPES[net.__name__]
        d = tmp_path_factory.mktemp(f"const_{net.__name__}_{fmt}_{act}")
        src, dst = d / "f.onnx", d / "q.onnx"
        torch.onnx.export(net().eval(), torch.zeros((1,) + shape), str(src), input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
                          opset_version=13, dynamo=False)
        quantization.quantize_static(str(src), str(dst), calibration_reader(shape, 32),
                                     quant_format=getattr(quantization.QuantFormat, fmt),
                                     activation_type=getattr(quantization.QuantType, act),
                                     weight_type=quantization.QuantType.QInt8)
        _MODELS[key] = dst
    return _MODELS[key]


def _inputs(path, shape) -> np.ndarray:
    """Random inputs, inputs far outside the calibration range, zeros, and inputs exactly half-way
    between two codes of the model's input quantizer (round-half-to-even ties)."""
    m = onnx.load(str(path))
    from onnx import numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    q = next(n for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "x")
    s, z = float(inits[q.input[1]]), int(inits[q.input[2]])
    rng = np.random.default_rng(5)
    n = int(np.prod(shape))
    x = rng.normal(size=(600, n)) * 1.5
    big = np.sign(rng.normal(size=(40, n))) * 50.0
    ties = (rng.integers(-40, 40, size=(100, n)) + 0.5 + 0 * z) * np.float32(s)
    return np.concatenate([x, big, np.zeros((4, n)), ties]).astype(np.float32).reshape((-1,) + shape)


@pytest.mark.parametrize("act", ["QUInt8", "QInt8"])
@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("net", [_Dense, _Conv], ids=["dense", "conv"])
def test_const_ops_predict_equals_onnxruntime(tmp_path, tmp_path_factory, net, fmt, act):
    path = _quantized(tmp_path_factory, net, fmt, act)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    if net is _Dense:
        if fmt == "QOperator":
            assert {"QLinearMul", "QLinearAdd", "Sub", "Div"} <= set(ops), ops
        else:
            assert {"Mul", "Add", "Sub", "Div"} <= set(ops), ops
    graph, report = import_qdq(path)
    tables = [n for n in graph.nodes() if n.op == "code_table"]
    per_channel = [n for n in tables if np.asarray(n.params["table"]).ndim == 2]
    # dense: x*3, +0.7, (-0.4 then /3: quantize_static quantizes neither Sub nor Div, one table for
    # both), *pc, 1.5 - h; conv: *pc, +0.5
    assert len(tables) == (5 if net is _Dense else 2), [n.name for n in tables]
    assert len(per_channel) == 1 and np.asarray(per_channel[0].params["table"]).shape[0] in (6, 3)
    x = _inputs(path, _SHAPES[net.__name__])
    np.save(tmp_path / "x.npy", np.moveaxis(x, 1, -1) if x.ndim > 2 else x)  # qhw: channels last
    r = CliRunner().invoke(cli, ["predict", str(path), "--input", str(tmp_path / "x.npy"),
                                 "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    y = np.load(tmp_path / "y.npy")
    ref = _ort(path, x)
    print(f"{net.__name__} {fmt} {act}: {y.size} outputs, {int((y != ref).sum())} differ")
    assert np.array_equal(y, ref)


@pytest.mark.parametrize("op,c,dt", [
    ("Mul", 0.5, "uint8"),      # same scales: every odd code is a tie (x.5 -> even)
    ("Mul", -1.5, "int8"),
    ("Div", 4.0, "int8"),       # ties every other code, negative too
    ("Add", 0.1, "uint8"),
    ("Sub", 0.3, "int8"),
    ("Sigmoid", 2.0, "uint8"),  # Sigmoid, then Mul by 2 (a chain of float ops: one table)
    ("Sub", 0.3, "uint8")])
def test_every_code_against_onnxruntime(op, c, dt):
    """DequantizeLinear -> op(constant) -> QuantizeLinear made by hand (Sigmoid: Sigmoid -> Mul by
    the constant), every input code: the golden model's output codes equal onnxruntime's."""
    from onnx import TensorProto as TP
    from onnx import helper as h

    from qhw import golden
    from qhw.passes.lower_affine import output_codes, quantize_inputs

    T = TP.UINT8 if dt == "uint8" else TP.INT8
    zp = 128 if dt == "uint8" else 0
    inits = [h.make_tensor("s", TP.FLOAT, [], [0.05]), h.make_tensor("c", TP.FLOAT, [], [c])]
    inits += [h.make_tensor("z", T, [], [zp])]
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q0"),
             h.make_node("DequantizeLinear", ["q", "s", "z"], ["d"], name="d0"),
             *([h.make_node("Sigmoid", ["d"], ["e"], name="sig"), h.make_node("Mul", ["e", "c"], ["f"], name="op")]
               if op == "Sigmoid" else [h.make_node(op, ["d", "c"], ["f"], name="op")]),
             h.make_node("QuantizeLinear", ["f", "s", "z"], ["y"], name="q1")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, [None, 4])],
                     [h.make_tensor_value_info("y", T, [None, 4])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    graph, _ = import_qdq(m)
    assert [n.op for n in graph.nodes() if n.op == "code_table"] == ["code_table"]
    info = np.iinfo(dt)
    codes = np.arange(info.min, info.max + 1)
    x = ((codes - zp) * np.float32(0.05)).astype(np.float32).reshape(-1, 4)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    ref = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0].astype(np.int64)
    feeds = {graph.input_names[0]: quantize_inputs(graph, x, graph.input_names[0])}
    assert np.array_equal(feeds[graph.input_names[0]].ravel() + zp, codes)  # every code reached
    mine = output_codes(graph, golden.run_raw(graph, feeds).output())
    print(f"{op} {c} {dt}: {int((mine != ref).sum())} of {ref.size} codes differ")
    assert np.array_equal(mine, ref)


@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_const_tables_compile_and_simulate(tmp_path, tmp_path_factory, backend):
    """A conv layer, a per-channel table on its feature map, a scalar table, a dense layer: RTL
    (Verilator) and HLS C++ (g++) == golden, edge-of-range vectors included."""
    path = _quantized(tmp_path_factory, _Conv, "QOperator", "QInt8")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["compile", str(path), "-o", str(out), "--backend", backend, "--vectors", "40"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["simulate", str(out), "--backend", backend, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["ok"]
    if backend == "rtl":
        from rtl_checks import assert_lint_clean, design_in

        assert_lint_clean(design_in(out / "rtl"))
