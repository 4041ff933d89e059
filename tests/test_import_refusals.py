"""Export patterns that used to stop the import with an error line (issue 17), each made by the
real producing tool inside the test and compared with that tool's own runtime through the CLI:

- a host suffix of only constant Mul/Add after the last dequantizer (onnxruntime's
  ``quantize_static`` leaves a per-channel affine tail or a scale on the logits unquantized when
  it is told to quantize only the MACs), QDQ and QOperator: float32 on the host, as onnxruntime;
- ReduceMean after the last dequantizer: on the host, summed in onnxruntime's own order;
- a constant Mul between two QONNX ``Quant`` nodes (Brevitas scales a quantized tensor by a
  scalar or by one value per channel): a code table computed by qonnx's ``execute_onnx``,
  then a Brevitas affine tail on the host.

Oracles: onnxruntime (QDQ/QOperator) and qonnx's ``execute_onnx`` (QONNX). Every comparison is
exact (0 differing outputs). One small net per family is compiled and simulated (RTL by
Verilator, HLS by g++) against the golden model.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
quantization = pytest.importorskip("onnxruntime.quantization")

from click.testing import CliRunner  # noqa: E402

from qhw.cli import cli  # noqa: E402
from onnx_helpers import calibration_reader, compile_and_simulate, ort_run as _ort  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]


# ---------------------------------------------------------------------- onnxruntime models
class _Affine(torch.nn.Module):
    """A Linear layer, then a per-channel affine tail g * h + b (TensorNorm-like)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(8, 6)
        self.register_buffer("g", torch.tensor([0.5, 1.5, -2.0, 3.0, 0.25, 1.1]))
        self.register_buffer("b", torch.tensor([0.1, 0.2, -0.3, 0.4, 0.5, 0.6]))

    def forward(self, x):
        return self.fc(x) * self.g + self.b


class _Scale(torch.nn.Module):
    """A Linear layer, then a scalar scale on the logits."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(x) * 0.37


class _Mean(torch.nn.Module):
    """A Conv2d + ReLU, then the mean over H and W (keepdim False) or over W (keepdim True)."""

    def __init__(self, dims):
        super().__init__()
        torch.manual_seed(2)
        self.conv, self.dims = torch.nn.Conv2d(2, 3, 3), dims

    def forward(self, x):
        return torch.relu(self.conv(x)).mean(dim=self.dims, keepdim=len(self.dims) == 1)


_NETS = {"affine": (_Affine, (8,)), "scale": (_Scale, (8,)), "mean_hw": (lambda: _Mean((2, 3)), (2, 6, 6)),
         "mean_w": (lambda: _Mean((3,)), (2, 7, 5))}



_MODELS: dict = {}


def _quantized(tmp_path_factory, net: str, fmt: str) -> Path:
    """quantize_static told to quantize the MACs only: the tail stays float after the last
    DequantizeLinear."""
    key = (net, fmt)
    if key not in _MODELS:
        make, shape = _NETS[net]
        d = tmp_path_factory.mktemp(f"refusal_{net}_{fmt}")
        src, dst = d / "f.onnx", d / "q.onnx"
        torch.onnx.export(make().eval(), torch.zeros((1,) + shape), str(src), input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
                          opset_version=13, dynamo=False)
        quantization.quantize_static(str(src), str(dst), calibration_reader(shape, 16),
                                     quant_format=getattr(quantization.QuantFormat, fmt),
                                     op_types_to_quantize=["Gemm", "Conv", "Relu"],
                                     activation_type=quantization.QuantType.QUInt8,
                                     weight_type=quantization.QuantType.QInt8)
        _MODELS[key] = dst
    return _MODELS[key]


def _predict(tmp_path, path, x_channels_last) -> np.ndarray:
    np.save(tmp_path / "x.npy", x_channels_last)
    r = CliRunner().invoke(cli, ["predict", str(path), "--input", str(tmp_path / "x.npy"),
                                 "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    return np.load(tmp_path / "y.npy")


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("net", sorted(_NETS))
def test_host_suffix_after_the_last_dequantizer_equals_onnxruntime(tmp_path, tmp_path_factory, net, fmt):
    path = _quantized(tmp_path_factory, net, fmt)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops[-1] in ("Mul", "Add", "ReduceMean") and "DequantizeLinear" in ops, ops
    r = CliRunner().invoke(cli, ["inspect", str(path)])
    assert r.exit_code == 0 and "host suffix" in r.output, r.output
    shape = _NETS[net][1]
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(size=(1500,) + shape) * 1.5, np.zeros((4,) + shape),
                        np.sign(rng.normal(size=(40,) + shape)) * 50.0]).astype(np.float32)
    y = _predict(tmp_path, path, np.moveaxis(x, 1, -1) if x.ndim > 2 else x)
    ref = _ort(path, x)
    if ref.ndim > 2:  # a kept feature-map axis: qhw gives it channels-last
        ref = np.moveaxis(ref, 1, -1)
    assert y.shape == ref.shape and y.dtype == np.float32
    print(f"{net} {fmt}: {int((y != ref).sum())} of {ref.size} outputs differ")
    assert np.array_equal(y, ref)


def test_mean_row_sums_follow_onnxruntime_order():
    """The host's ReduceMean (float32 row sums in onnxruntime's kernel order, then / N) against
    onnxruntime's ReduceMean on values where the order matters: every row length 1..40 and a few
    long ones, every alignment of a row, scales that are not powers of two."""
    from onnx import TensorProto as TP
    from onnx import helper as h

    from qhw.ops.host import apply

    rng = np.random.default_rng(3)
    for n in list(range(1, 41)) + [49, 64, 100, 1024]:
        rows = 13
        x = (rng.integers(0, 256, size=(rows, 3, n)) * np.float32(0.0371)
             + rng.normal(size=(rows, 3, n)).astype(np.float32)).astype(np.float32)
        g = h.make_graph([h.make_node("ReduceMean", ["x"], ["y"], axes=[2], keepdims=0)], "g",
                         [h.make_tensor_value_info("x", TP.FLOAT, list(x.shape))],
                         [h.make_tensor_value_info("y", TP.FLOAT, None)])
        m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
        ref = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        mine = apply([{"op": "mean", "axes": [1], "keepdims": 0}], x)
        assert np.array_equal(mine, ref), (n, int((mine != ref).sum()))


# ---------------------------------------------------------------------- Brevitas (QONNX)
def _brevitas_net():
    """QuantIdentity -> QuantLinear -> QuantIdentity -> x * 0.3 -> QuantIdentity -> x * (one
    value per channel) -> QuantIdentity -> g * x + b (a float affine tail)."""
    import brevitas.nn as qnn
    from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerTensorFloat

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            act = {"act_quant": Int8ActPerTensorFloat}
            self.q0 = qnn.QuantIdentity(bit_width=6, **act)
            self.fc = qnn.QuantLinear(8, 6, bias=False, weight_quant=Int8WeightPerTensorFloat,
                                      weight_bit_width=4)
            self.q1, self.q2 = qnn.QuantIdentity(bit_width=5, **act), qnn.QuantIdentity(bit_width=6, **act)
            self.q3 = qnn.QuantIdentity(bit_width=8, **act)
            self.register_buffer("pc", torch.tensor([0.7, -1.3, 2.1, 0.45, 1.0, -0.6]))
            self.g = torch.nn.Parameter(torch.tensor([1.5, 0.5, -1.0, 2.0, 0.75, 1.25]))
            self.b = torch.nn.Parameter(torch.tensor([0.1, -0.2, 0.3, 0.0, 0.05, 1.0]))

        def forward(self, x):
            h = self.q1(self.fc(self.q0(x)))
            h = self.q3(self.q2(h * 0.3) * self.pc)
            return h * self.g + self.b

    net = Net().train()
    with torch.no_grad():  # Brevitas' activation scales from statistics
        for _ in range(32):
            net(torch.randn(16, 8))
    return net.eval()


@pytest.fixture(scope="module")
def brevitas_model(tmp_path_factory):
    pytest.importorskip("brevitas")
    pytest.importorskip("qonnx")
    sys.path.insert(0, str(Path(__file__).parent))
    import brevitas_nets as nets

    path = tmp_path_factory.mktemp("brevitas_mul") / "m.onnx"
    return nets.export(_brevitas_net(), (8,), path)


def test_brevitas_mul_between_quant_nodes_equals_qonnx(tmp_path, brevitas_model):
    import brevitas_nets as nets

    ops = [n.op_type for n in onnx.load(str(brevitas_model)).graph.node]
    assert ops.count("Mul") == 3 and ops[-2:] == ["Mul", "Add"], ops
    r = CliRunner().invoke(cli, ["inspect", str(brevitas_model)])
    assert r.exit_code == 0, r.output
    assert "6 channels x 64 codes" in r.output and "host suffix" in r.output, r.output
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(size=(600, 8)) * 2, np.zeros((2, 8)),
                        np.sign(rng.normal(size=(30, 8))) * 40]).astype(np.float32)
    y = _predict(tmp_path, brevitas_model, x)
    ref = nets.qonnx_reference(brevitas_model, x)
    print(f"brevitas Mul between Quant nodes: {int((y != ref).sum())} of {ref.size} outputs differ")
    assert np.array_equal(y, ref)


@pytest.mark.parametrize("c,signed", [(0.3, 1), (-1.7, 1), (0.5, 0), (3.0, 0)])
def test_every_code_of_a_mul_between_quant_nodes(c, signed):
    """Quant -> Mul by c -> Quant made with onnx's helper, every input code: the golden
    model's output codes equal qonnx's execute_onnx (0.5 with equal scales: a tie at every odd
    code in exact arithmetic, which qonnx's float32 dequantized values move off; 3.0 saturates)."""
    pytest.importorskip("qonnx")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    from qhw import golden
    from qhw.frontends.qonnx import import_qonnx
    from qhw.passes.lower_affine import output_codes, quantize_inputs

    dom = "qonnx.custom_op.general"
    inits = [h.make_tensor("s", TP.FLOAT, [], [0.05]), h.make_tensor("z", TP.FLOAT, [], [0.0]),
             h.make_tensor("b", TP.FLOAT, [], [8.0]), h.make_tensor("c", TP.FLOAT, [], [c]),
             h.make_tensor("s2", TP.FLOAT, [], [0.07])]
    nodes = [h.make_node("Quant", ["x", "s", "z", "b"], ["q"], "q0", domain=dom, signed=signed, narrow=0,
                         rounding_mode="ROUND"),
             h.make_node("Mul", ["q", "c"], ["m"], "mul"),
             h.make_node("Quant", ["m", "s2" if c != 0.5 else "s", "z", "b"], ["y"], "q1", domain=dom,
                         signed=1, narrow=0, rounding_mode="ROUND")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, [1, 4])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [1, 4])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid(dom, 1)])
    graph, _ = import_qonnx(m)
    assert [n.op for n in graph.nodes() if n.op == "code_table"] == ["code_table"]
    codes = np.arange(-128, 128) if signed else np.arange(0, 256)
    x = (codes * np.float32(0.05)).astype(np.float32).reshape(-1, 4)
    mw = ModelWrapper(m).transform(InferShapes())
    ref = np.concatenate([execute_onnx(mw, {"x": x[i:i + 1]})["y"] for i in range(len(x))])
    feeds = {graph.input_names[0]: quantize_inputs(graph, x, graph.input_names[0])}
    assert np.array_equal(feeds[graph.input_names[0]].ravel(), codes)  # every code reached
    out = graph.node(graph.output_names[0])
    mine = output_codes(graph, golden.run_raw(graph, feeds).output())
    sy = 0.05 if c == 0.5 else 0.07
    assert np.array_equal(mine, np.rint(ref / np.float32(sy)).astype(np.int64)), out.name


# ---------------------------------------------------------------------- compile + simulate
@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_brevitas_tables_compile_and_simulate(tmp_path, brevitas_model, backend):
    """The Brevitas net (two code tables, one of them per channel; the tail on the host): RTL
    and HLS == golden."""
    compile_and_simulate(brevitas_model, tmp_path / "out", backend, 40)


@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_mean_suffix_net_compiles_and_simulates(tmp_path, tmp_path_factory, backend):
    """The conv net whose ReduceMean runs on the host: its hardware part, RTL and HLS == golden."""
    compile_and_simulate(_quantized(tmp_path_factory, "mean_hw", "QDQ"), tmp_path / "out", backend, 40)


# ---------------------------------------------------------------------- Pad with a constant
def _pad_model(v: float, conv: bool):
    """Conv -> Relu -> Pad by the constant v (pads on H and W) -> Conv, made with onnx's helper
    (PyTorch's exporter computes a Pad's pads at run time); without ``conv`` the model is
    Pad -> MaxPool 1x1 (a copy quantize_static quantizes), so the comparison sees the pad alone."""
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(0)
    inits = [nh.from_array(rng.normal(size=(3, 2, 3, 3)).astype(np.float32) * 0.4, "w1"),
             nh.from_array(np.full(3, 0.1, np.float32), "b1"),
             nh.from_array(rng.normal(size=(2, 3, 3, 3)).astype(np.float32) * 0.3, "w2"),
             nh.from_array(np.zeros(2, np.float32), "b2"),
             nh.from_array(np.array([0, 0, 0, 1, 0, 0, 1, 2], np.int64), "pads"),
             nh.from_array(np.array(v, np.float32), "pv")]
    if conv:
        nodes = [h.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1"),
                 h.make_node("Relu", ["c1"], ["r1"], name="relu1"),
                 h.make_node("Pad", ["r1", "pads", "pv"], ["p"], name="pad", mode="constant"),
                 h.make_node("Conv", ["p", "w2", "b2"], ["y"], name="conv2")]
    else:
        nodes = [h.make_node("Pad", ["x", "pads", "pv"], ["p"], name="pad", mode="constant"),
                 h.make_node("MaxPool", ["p"], ["y"], name="keep", kernel_shape=[1, 1])]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, ["n", 2, 6, 6])],
                     [h.make_tensor_value_info("y", TP.FLOAT, None)], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid("", 13)])


def _pad_quantized(tmp_path_factory, v, conv, fmt, act) -> Path:
    key = ("pad", v, conv, fmt, act)
    if key not in _MODELS:
        d = tmp_path_factory.mktemp("pad")
        onnx.save(_pad_model(v, conv), d / "f.onnx")
        quantization.quantize_static(str(d / "f.onnx"), str(d / "q.onnx"), calibration_reader((2, 6, 6), 16),
                                     quant_format=getattr(quantization.QuantFormat, fmt),
                                     activation_type=getattr(quantization.QuantType, act),
                                     weight_type=quantization.QuantType.QInt8,
                                     **({} if conv else {"op_types_to_quantize": ["Pad", "MaxPool"]}))
        _MODELS[key] = d / "q.onnx"
    return _MODELS[key]


@pytest.mark.parametrize("act", ["QUInt8", "QInt8"])
@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
@pytest.mark.parametrize("v", [0.5, -0.3])
def test_pad_with_a_constant_equals_onnxruntime(tmp_path, tmp_path_factory, v, fmt, act):
    """0.5: inside the input's range (the same parameters after the pad); -0.3: below an
    unsigned input's range, so quantize_static gives the padded tensor its own parameters (a
    code table requantizes the input, then the pad writes the new code). The pad alone: exact;
    with convolutions around it: exact except onnxruntime's float32 requantization ties of the
    convolutions (the same count as with a zero pad)."""
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(500, 2, 6, 6)) * 1.5).astype(np.float32)
    for conv in (False, True):
        path = _pad_quantized(tmp_path_factory, v, conv, fmt, act)
        ops = [n.op_type for n in onnx.load(str(path)).graph.node]
        if "QuantizeLinear" not in ops:  # quantize_static leaves Pad -> MaxPool float in QOperator form
            continue
        y = _predict(tmp_path, path, np.moveaxis(x, 1, -1))
        ref = np.moveaxis(_ort(path, x), 1, -1)
        differ = int((y != ref).sum())
        print(f"pad {v} {fmt} {act} conv={conv}: {differ} of {ref.size} outputs differ")
        assert y.shape == ref.shape
        if conv:
            assert differ <= 0.005 * ref.size
        else:
            assert differ == 0


@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_pad_constant_compiles_and_simulates(tmp_path, tmp_path_factory, backend):
    """A conv net whose Pad writes a nonzero code after a requantizing code table: RTL and HLS ==
    golden."""
    compile_and_simulate(_pad_quantized(tmp_path_factory, -0.3, True, "QDQ", "QUInt8"), tmp_path / "out",
                         backend, 40)


@pytest.mark.parametrize("kind,value", [("transpose", 0.0), ("pad", 0.0), ("pad", 0.35), ("pad", -0.125)])
def test_qonnx_transpose_and_pad_equal_qonnx(kind, value):
    """Quant -> Transpose (moving the channel axis) or Pad (a constant: 0, 0.35 = 6.99999 codes
    in float32, which qonnx's Quant rounds to 7, -0.125 a tie at 2.5 codes) -> Quant, made with
    onnx's helper: the golden model equals qonnx's execute_onnx on every output."""
    pytest.importorskip("qonnx")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    from qhw import golden
    from qhw.frontends.qonnx import import_qonnx
    from qhw.ops import get

    dom = "qonnx.custom_op.general"
    inits = [h.make_tensor("s", TP.FLOAT, [], [0.05]), h.make_tensor("z", TP.FLOAT, [], [0.0]),
             h.make_tensor("b", TP.FLOAT, [], [8.0]), h.make_tensor("pads", TP.INT64, [8], [0, 0, 1, 0, 0, 0, 0, 2]),
             h.make_tensor("pv", TP.FLOAT, [], [value])]
    nodes = [h.make_node("Quant", ["x", "s", "z", "b"], ["q"], "q0", domain=dom, signed=1, narrow=0,
                         rounding_mode="ROUND")]
    if kind == "transpose":
        nodes.append(h.make_node("Transpose", ["q"], ["t"], "move", perm=[0, 2, 1, 3]))
        out = [1, 3, 2, 4]
    else:
        nodes.append(h.make_node("Pad", ["q", "pads", "pv"], ["t"], "move", mode="constant"))
        out = [1, 2, 4, 6]
    nodes.append(h.make_node("Quant", ["t", "s", "z", "b"], ["y"], "q1", domain=dom, signed=1, narrow=0,
                             rounding_mode="ROUND"))
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, [1, 2, 3, 4])],
                     [h.make_tensor_value_info("y", TP.FLOAT, out)], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid(dom, 1)])
    graph, _ = import_qonnx(m)
    assert kind in [n.op for n in graph.nodes()]
    x = (np.random.default_rng(0).normal(size=(60, 1, 2, 3, 4)) * 3).astype(np.float32)
    mw = ModelWrapper(m).transform(InferShapes())
    ref = np.moveaxis(np.concatenate([execute_onnx(mw, {"x": xi})["y"] for xi in x]), 1, -1)
    inp, o = graph.node(graph.input_names[0]), graph.node(graph.output_names[0])
    raw = golden.run_raw(graph, {inp.name: get("input").encode(inp, np.moveaxis(x[:, 0], 1, -1))}).outputs[o.name]
    assert np.array_equal(get("output").decode(o, raw), ref)
