"""Merges of quantized tensors from onnxruntime's quantizer: Add and Mul of two quantized
tensors (QDQ; QOperator QLinearAdd / QLinearMul) and Concat with per-input requantization (QDQ;
QOperator QLinearConcat), in models exported by PyTorch and quantized by ``quantize_static``
(per tensor, uint8 and int8) inside the test.

Oracle: onnxruntime itself, with default session options (on CPU it fuses the QDQ groups into its
QLinear kernels). ``qhw predict`` through the CLI must equal it, random and edge-of-range inputs
and every pair of input codes of QLinearAdd / QDQ Add (the op qlinear_add reproduces
onnxruntime's float32 kernel); the importer's own comparison over every pair of input codes (the
mapping report's note) must agree with what the model run shows. One compiled
design per backend: RTL (Verilator) and HLS C++ (g++) == golden."""
from __future__ import annotations


import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
quantization = pytest.importorskip("onnxruntime.quantization")

from click.testing import CliRunner  # noqa: E402

from qhw.cli import cli  # noqa: E402
from qhw.frontends.onnx_qdq import import_qdq  # noqa: E402
from onnx_helpers import calibration_reader, assert_simulates, ort_run as _ort  # noqa: E402


class _Net(torch.nn.Module):
    """Three Linear branches; a + b, a * b and c with their own scales, concatenated."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.c = torch.nn.Linear(8, 6), torch.nn.Linear(8, 6), torch.nn.Linear(8, 4)

    def forward(self, x):
        a, b = self.a(x), torch.relu(self.b(x))
        return torch.cat([a + b, a * b, self.c(x)], dim=1)


class _SoftmaxNet(torch.nn.Module):
    """The merges, then a Linear layer and a softmax over its 10 outputs."""

    def __init__(self):
        super().__init__()
        self.merge = _Net()
        torch.manual_seed(1)
        self.fc = torch.nn.Linear(16, 10)
        self.fc.weight.data *= 3.0

    def forward(self, x):
        return torch.softmax(self.fc(self.merge(x)), dim=1)



_MODELS: dict = {}


def _quantized(tmp_path_factory, fmt: str, act: str, net=_Net):
    """The quantized model file, built once per (net, format, activation type)."""
    key = (net.__name__, fmt, act)
    if key not in _MODELS:
        d = tmp_path_factory.mktemp(f"merge_{fmt}_{act}")
        src, dst = d / "f.onnx", d / "q.onnx"
        torch.onnx.export(net().eval(), torch.zeros(1, 8), str(src), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=13, dynamo=False)
        quantization.quantize_static(str(src), str(dst), calibration_reader((8,), 32),
                                     quant_format=getattr(quantization.QuantFormat, fmt),
                                     activation_type=getattr(quantization.QuantType, act),
                                     weight_type=quantization.QuantType.QInt8)
        _MODELS[key] = dst
    return _MODELS[key]


def _inputs() -> np.ndarray:
    """Random inputs, inputs far outside the calibration range (codes saturate at both ends of
    every tensor), and zeros (codes at the zero points)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 8)) * 1.5
    big = np.sign(rng.normal(size=(200, 8))) * 50.0
    return np.concatenate([x, big, np.zeros((8, 8))]).astype(np.float32)


@pytest.mark.parametrize("act", ["QUInt8", "QInt8"])
@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_merge_predict_equals_onnxruntime(tmp_path, tmp_path_factory, fmt, act):
    path = _quantized(tmp_path_factory, fmt, act)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    if fmt == "QOperator":
        assert {"QLinearAdd", "QLinearMul", "QLinearConcat"} <= ops, ops
    else:
        assert {"Add", "Mul", "Concat", "DequantizeLinear"} <= ops, ops
    graph, report = import_qdq(path)
    used = {n.op for n in graph.nodes()}
    assert {"qlinear_add", "mul", "concat", "code_table"} <= used, used  # concat inputs requantized by tables
    x = _inputs()
    np.save(tmp_path / "x.npy", x)
    r = CliRunner().invoke(cli, ["predict", str(path), "--input", str(tmp_path / "x.npy"),
                                 "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    y = np.load(tmp_path / "y.npy")
    ref = _ort(path, x)
    lsb = float(graph.node(graph.output_names[0]).qparams.scale)
    off = np.abs(y.astype(np.float64) - ref) / lsb
    differing = int((off > 0.5).sum())
    print(f"{fmt} {act}: {off.size} outputs, {differing} differ, max {off.max():.3g} LSB; notes: {report.notes}")
    assert differing == 0  # a + b (qlinear_add), a * b and the concatenation: onnxruntime's codes
    assert not any("differ from onnxruntime" in n for n in report.notes), report.notes
    r = CliRunner().invoke(cli, ["inspect", str(path)])
    assert r.exit_code == 0, r.output
    assert "concat" in r.output and "code_table" in r.output


@pytest.mark.parametrize("op,sa,sb,sc,zp,dt", [
    ("QLinearAdd", 0.02, 0.02, 0.04, 0, "uint8"),          # exact binary ratio: ties everywhere
    ("QLinearAdd", 0.0131, 0.0297, 0.0514, 131, "uint8"),   # calibration-like scales
    ("QLinearAdd", 0.013, 0.029, 0.05, 128, "uint8"),       # decimal scales: many near-ties
    ("QLinearAdd", 0.0131, 0.0297, 0.0514, -3, "int8"),
    ("QLinearAdd", 0.1, 0.3, 0.07, 17, "uint8"),            # decimal scales
    ("QLinearAdd", 0.1, 0.3, 0.07, -3, "int8"),
    ("QLinearAdd", 0.0939629477220745, 0.111788395710241, 0.28855410068497156, 212, "uint8"),  # F's fma
    ("Add", 0.013, 0.029, 0.05, 128, "uint8"),              # QDQ: DequantizeLinear x2 -> Add -> QuantizeLinear
    ("Add", 0.1, 0.3, 0.07, -3, "int8"),
    ("QLinearMul", 0.0213, 0.0371, 0.617, 131, "uint8"),
    ("QLinearMul", 0.0625, 0.125, 0.25, 0, "uint8"),
    ("QLinearMul", 0.0213, 0.0371, 0.617, 5, "int8")])
def test_every_code_pair_against_onnxruntime(op, sa, sb, sc, zp, dt):
    """Every pair of input codes through a hand-made QLinearAdd / QLinearMul: the golden model's
    output codes against onnxruntime's, and the mapping report's note must count exactly the
    pairs that differ (never more than 1 LSB)."""
    from onnx import TensorProto as TP
    from onnx import helper as h

    from qhw import golden
    from qhw.passes.lower_affine import output_codes, quantize_inputs

    T = TP.UINT8 if dt == "uint8" else TP.INT8
    inits = [h.make_tensor(k, TP.FLOAT, [], [v]) for k, v in (("sa", sa), ("sb", sb), ("sc", sc))]
    inits += [h.make_tensor(k, T, [], [zp]) for k in ("za", "zb", "zc")]
    nodes = [h.make_node("QuantizeLinear", ["x0", "sa", "za"], ["a"], name="qa"),
             h.make_node("QuantizeLinear", ["x1", "sb", "zb"], ["b"], name="qb")]
    if op == "Add":  # onnxruntime fuses the group into QLinearAdd (default session options)
        nodes += [h.make_node("DequantizeLinear", ["a", "sa", "za"], ["fa"], name="da"),
                  h.make_node("DequantizeLinear", ["b", "sb", "zb"], ["fb"], name="db"),
                  h.make_node("Add", ["fa", "fb"], ["s"], name="m"),
                  h.make_node("QuantizeLinear", ["s", "sc", "zc"], ["c"], name="qc")]
    else:
        nodes.append(h.make_node(op, ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"], ["c"], name="m",
                                 domain="com.microsoft"))
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info(n, TP.FLOAT, [None, 4]) for n in ("x0", "x1")],
                     [h.make_tensor_value_info("c", T, [None, 4])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid("com.microsoft", 1)])
    graph, report = import_qdq(m)
    info = np.iinfo(dt)
    qa, qb = np.meshgrid(np.arange(info.min, info.max + 1), np.arange(info.min, info.max + 1), indexing="ij")
    x0 = ((qa.ravel() - zp) * np.float32(sa)).astype(np.float32).reshape(-1, 4)
    x1 = ((qb.ravel() - zp) * np.float32(sb)).astype(np.float32).reshape(-1, 4)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    ref = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(
        None, {"x0": x0, "x1": x1})[0].astype(np.int64)
    feeds = {graph.input_names[0]: quantize_inputs(graph, x0, graph.input_names[0]),
             graph.input_names[1]: quantize_inputs(graph, x1, graph.input_names[1])}
    assert np.array_equal(feeds[graph.input_names[0]].ravel() + zp, qa.ravel())  # every pair reached
    res = golden.run_raw(graph, feeds)
    raw = res.output()
    mine = output_codes(graph, raw)
    differ = int((mine != ref).sum())
    notes = [n for n in report.notes if "differ from onnxruntime" in n]
    print(f"{op} {dt} s=({sa}, {sb}, {sc}) z={zp}: {differ} of {ref.size} pairs differ; {notes}")
    assert np.abs(mine - ref).max(initial=0) <= 1
    if "Add" in op:  # qlinear_add: onnxruntime's kernel exactly, every pair
        assert any(n.op == "qlinear_add" for n in graph.nodes())
        assert differ == 0 and not notes, (differ, notes)
    if differ:
        assert len(notes) == 1 and notes[0].startswith(f"m: {differ} of 65536 input code pairs"), notes
    else:
        assert not notes, notes
    assert differ <= 0.005 * ref.size
    if sa == sb or sc == 0.25:  # exact binary ratios: no float32 rounding at all
        assert differ == 0


@pytest.mark.parametrize("act", ["QUInt8", "QInt8"])
@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_softmax_predict_equals_onnxruntime(tmp_path, tmp_path_factory, fmt, act):
    """The merges, a Linear layer and a softmax (QDQ: DequantizeLinear -> Softmax ->
    QuantizeLinear; QOperator: QLinearSoftmax) through ``qhw predict``: onnxruntime's output
    codes, random inputs, saturating inputs and zeros."""
    path = _quantized(tmp_path_factory, fmt, act, _SoftmaxNet)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert ("QLinearSoftmax" if fmt == "QOperator" else "Softmax") in ops, ops
    graph, report = import_qdq(path)
    assert any(n.op == "code_softmax" for n in graph.nodes())
    x = _inputs()
    np.save(tmp_path / "x.npy", x)
    r = CliRunner().invoke(cli, ["predict", str(path), "--input", str(tmp_path / "x.npy"),
                                 "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    y = np.load(tmp_path / "y.npy")
    ref = _ort(path, x)
    lsb = float(graph.node(graph.output_names[0]).qparams.scale)
    off = np.abs(y.astype(np.float64) - ref) / lsb
    differing = int((off > 0.5).sum())
    print(f"softmax {fmt} {act}: {off.size} outputs, {differing} differ, max {off.max():.3g} LSB; {report.notes}")
    assert off.max() <= 1.0 + 1e-6 and differing <= 0.005 * off.size


@pytest.mark.parametrize("dt,xs,n", [("uint8", 0.05, 4), ("int8", 0.3, 4), ("uint8", 0.0123, 16),
                                     ("int8", 0.11, 3)])
def test_softmax_codes_against_onnxruntime(dt, xs, n):
    """A hand-made QLinearSoftmax on chosen rows of codes (random, near-equal, all equal, one
    code at the top and the rest at the bottom of the range): the golden model's codes ==
    onnxruntime's, every one."""
    from onnx import TensorProto as TP
    from onnx import helper as h

    from qhw import golden
    from qhw.passes.lower_affine import output_codes, quantize_inputs

    T = TP.UINT8 if dt == "uint8" else TP.INT8
    info = np.iinfo(dt)
    zp, yz = (17, 0) if dt == "uint8" else (-5, -128)
    inits = [h.make_tensor("xs", TP.FLOAT, [], [xs]), h.make_tensor("ys", TP.FLOAT, [], [1 / 256]),
             h.make_tensor("xz", T, [], [zp]), h.make_tensor("yz", T, [], [yz])]
    nodes = [h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["q"], name="q"),
             h.make_node("QLinearSoftmax", ["q", "xs", "xz", "ys", "yz"], ["y"], name="sm",
                         domain="com.microsoft", axis=-1, opset=13)]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, [None, n])],
                     [h.make_tensor_value_info("y", T, [None, n])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid("com.microsoft", 1)])
    graph, _ = import_qdq(m)
    rng = np.random.default_rng(3)
    lo, hi = int(info.min), int(info.max)
    codes = np.concatenate([rng.integers(lo, hi + 1, size=(3000, n)),
                            np.clip(rng.integers(-2, 3, size=(1000, n)) + rng.integers(lo, hi + 1, size=(1000, 1)), lo, hi),
                            np.full((1, n), lo), np.full((1, n), hi), np.full((1, n), zp),
                            np.where(np.eye(n, dtype=bool), hi, lo), np.where(np.eye(n, dtype=bool), lo, hi)])
    x = ((codes - zp) * np.float32(xs)).astype(np.float32)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    ref = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0].astype(np.int64)
    feed = quantize_inputs(graph, x)
    assert np.array_equal(feed + zp, codes)
    mine = output_codes(graph, golden.run_raw(graph, {graph.input_names[0]: feed}).output())
    print(f"QLinearSoftmax {dt} x_scale {xs} n {n}: {int((mine != ref).sum())} of {ref.size} differ")
    assert np.array_equal(mine, ref)


@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_merge_compiles_and_simulates(tmp_path, tmp_path_factory, backend):
    """add, mul, code tables, concat, a dense layer and the softmax in one design: RTL
    (Verilator) and HLS C++ (g++) == golden, edge-of-range vectors included."""
    path = _quantized(tmp_path_factory, "QOperator", "QInt8", _SoftmaxNet)
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["compile", str(path), "-o", str(out), "--backend", backend, "--vectors", "60"])
    assert r.exit_code == 0, r.output
    assert_simulates(out, backend)


@pytest.mark.parametrize("pow2", [True, False])
def test_qonnx_merges_equal_qonnx_execution(pow2):
    """QONNX (qonnx's own Quant nodes, run by qonnx's execute_onnx): two quantized inputs with
    different scales, their Add and Mul requantized by a Quant, and a Concat of both sums with
    the inputs under one Quant (each input requantized). Power-of-two scales: exact; others:
    qonnx's float32 against qhw's integer requantization, within 1 LSB on < 0.5% of outputs."""
    pytest.importorskip("qonnx")
    from onnx import TensorProto as TP
    from onnx import helper as h
    from onnx import numpy_helper as nh
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    from qhw import golden
    from qhw.frontends.qonnx import import_qonnx
    from qhw.passes.lower_affine import dequantize_outputs, quantize_inputs

    dom = "qonnx.custom_op.general"
    s = (2.0**-4, 2.0**-3, 2.0**-3, 2.0**-4, 2.0**-2) if pow2 else (0.0371, 0.0893, 0.1013, 0.0517, 0.2113)
    inits = [nh.from_array(np.float32(v), k) for k, v in zip(("s0", "s1", "sa", "sm", "sc"), s)]
    inits += [nh.from_array(np.float32(v), k) for k, v in (("z0", 0), ("b8", 8))]

    def quant(x, sc, out):
        return h.make_node("Quant", [x, sc, "z0", "b8"], [out], domain=dom, signed=1, narrow=0,
                           rounding_mode="ROUND", name="q_" + out)

    nodes = [quant("x0", "s0", "a"), quant("x1", "s1", "b"),
             h.make_node("Add", ["a", "b"], ["ab"], name="add"), quant("ab", "sa", "abq"),
             h.make_node("Mul", ["a", "b"], ["mb"], name="mul"), quant("mb", "sm", "mbq"),
             h.make_node("Concat", ["abq", "mbq", "a", "b"], ["cat"], axis=1, name="cat"), quant("cat", "sc", "y")]
    g = h.make_graph(nodes, "merges", [h.make_tensor_value_info(n, TP.FLOAT, [304, 6]) for n in ("x0", "x1")],
                     [h.make_tensor_value_info("y", TP.FLOAT, [304, 24])], inits)
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid(dom, 1)])
    graph, report = import_qonnx(model)
    assert {"add", "mul", "concat"} <= {n.op for n in graph.nodes()}
    rng = np.random.default_rng(9)
    x0 = np.concatenate([rng.normal(size=(300, 6)) * 3, np.full((2, 6), 50.0), np.full((2, 6), -50.0)]).astype(np.float32)
    x1 = np.concatenate([rng.normal(size=(300, 6)) * 5, np.full((2, 6), -50.0), np.full((2, 6), 50.0)]).astype(np.float32)
    wrapped = ModelWrapper(model).transform(InferShapes())
    ref = execute_onnx(wrapped, {"x0": x0, "x1": x1})["y"]
    feeds = {graph.input_names[0]: quantize_inputs(graph, x0, graph.input_names[0]),
             graph.input_names[1]: quantize_inputs(graph, x1, graph.input_names[1])}
    y = dequantize_outputs(graph, golden.run_raw(graph, feeds).output())
    off = np.abs(y.astype(np.float64) - ref) / s[-1]
    print(f"QONNX merges pow2={pow2}: {int((off > 0.5).sum())} of {off.size} differ, max {off.max():.3g} LSB")
    assert off.max() <= 1.0 + 1e-6 and (off > 0.5).mean() < 0.005
    if pow2:
        assert off.max() < 1e-6


def test_square_of_one_tensor_against_onnxruntime():
    """x * x (one DequantizeLinear read twice, QDQ): every input code == onnxruntime's output."""
    from onnx import TensorProto as TP
    from onnx import helper as h

    from qhw import golden
    from qhw.passes.lower_affine import output_codes, quantize_inputs

    inits = [h.make_tensor("s", TP.FLOAT, [], [0.0137]), h.make_tensor("so", TP.FLOAT, [], [0.0061]),
             h.make_tensor("z", TP.UINT8, [], [128])]
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="qx"),
             h.make_node("DequantizeLinear", ["q", "s", "z"], ["d"], name="dq"),
             h.make_node("Mul", ["d", "d"], ["m"], name="sq"),
             h.make_node("QuantizeLinear", ["m", "so", "z"], ["y"], name="qy")]
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TP.FLOAT, [None, 4])],
                     [h.make_tensor_value_info("y", TP.UINT8, [None, 4])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    graph, report = import_qdq(m)
    assert not any("not compared" in n for n in report.notes), report.notes
    x = ((np.arange(256) - 128) * np.float32(0.0137)).astype(np.float32).reshape(-1, 4)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    ref = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    mine = output_codes(graph, golden.run_raw(graph, {graph.input_names[0]: quantize_inputs(graph, x)}).output())
    assert np.array_equal(mine, ref)


def _pairs_model(fmt: str, dt: str, s: float, ws: tuple[float, float], sc: float, zc: int):
    """One float input x of 8 values per row: quantized (scale s, zero point z), its first and
    second halves picked by a MatMul with 0/1 weights whose requantization factor is exactly 1
    (a, b: every code of x, scales fl32(s * ws)), then a + b requantized (QOperator: QLinearMatMul,
    QLinearAdd; QDQ: DequantizeLinear/MatMul/Add/QuantizeLinear groups onnxruntime fuses)."""
    from onnx import TensorProto as TP
    from onnx import helper as h

    T, npt = (TP.UINT8, np.uint8) if dt == "uint8" else (TP.INT8, np.int8)
    z = 128 if dt == "uint8" else 0
    sa, sb = (float(np.float32(np.float32(s) * np.float32(w))) for w in ws)
    sel = [np.eye(8, 4, k, dtype=np.int8) for k in (0, -4)]  # rows 0-3 -> a, rows 4-7 -> b
    inits = [h.make_tensor(k, TP.FLOAT, [], [v]) for k, v in (("s", s), ("sa", sa), ("sb", sb), ("sc", sc),
                                                              ("wsa", ws[0]), ("wsb", ws[1]))]
    inits += [h.make_tensor(k, T, [], [v]) for k, v in (("z", z), ("zc", zc))]
    inits += [h.make_tensor("w0", TP.INT8, [], [0])]
    inits += [h.make_tensor(f"W{i}", TP.INT8, [8, 4], w.ravel().tolist()) for i, w in enumerate(sel)]
    nodes = [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="qx")]
    if fmt == "QOperator":
        nodes += [h.make_node("QLinearMatMul", ["q", "s", "z", f"W{i}", f"ws{t}", "w0", f"s{t}", "z"], [t], name=f"mm{t}")
                  for i, t in enumerate("ab")]
        nodes += [h.make_node("QLinearAdd", ["a", "sa", "z", "b", "sb", "z", "sc", "zc"], ["c"], name="add",
                              domain="com.microsoft"),
                  h.make_node("DequantizeLinear", ["c", "sc", "zc"], ["y"], name="dy")]
    else:
        nodes += [h.make_node("DequantizeLinear", ["q", "s", "z"], ["xd"], name="dx")]
        for i, t in enumerate("ab"):
            nodes += [h.make_node("DequantizeLinear", [f"W{i}", f"ws{t}", "w0"], [f"wd{t}"], name=f"dw{t}"),
                      h.make_node("MatMul", ["xd", f"wd{t}"], [f"m{t}"], name=f"mm{t}"),
                      h.make_node("QuantizeLinear", [f"m{t}", f"s{t}", "z"], [t], name=f"q{t}"),
                      h.make_node("DequantizeLinear", [t, f"s{t}", "z"], [f"{t}d"], name=f"d{t}")]
        nodes += [h.make_node("Add", ["ad", "bd"], ["sum"], name="add"),
                  h.make_node("QuantizeLinear", ["sum", "sc", "zc"], ["c"], name="qc"),
                  h.make_node("DequantizeLinear", ["c", "sc", "zc"], ["y"], name="dy")]
    g = h.make_graph(nodes, "pairs", [h.make_tensor_value_info("x", TP.FLOAT, [None, 8])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [None, 4])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13), h.make_opsetid("com.microsoft", 1)])
    info = np.iinfo(npt)
    c = np.arange(info.min, info.max + 1)
    qa, qb = (v.reshape(-1, 4) for v in np.meshgrid(c, c, indexing="ij"))
    x = ((np.concatenate([qa, qb], axis=1) - z) * np.float32(s)).astype(np.float32)
    return m, x


_PAIR_SETS = [(0.1, (1.0, 3.0), 0.07, 3), (0.0131, (1.0, 2.2672), 0.0514, 127), (0.013, (1.0, 2.2308), 0.05, 128),
              (0.0037, (4.0, 0.5), 0.0214, 100)]


@pytest.mark.parametrize("fmt,dt,k", [(f, d, k) for f in ("QOperator", "QDQ") for d in ("uint8", "int8")
                                      for k in range(len(_PAIR_SETS))])
def test_every_code_pair_through_the_cli(tmp_path, fmt, dt, k):
    """``qhw predict`` on every pair of 8-bit codes (a and b from the two halves of one input)
    for decimal and calibration-like scale sets, QOperator QLinearAdd and QDQ Add: onnxruntime's
    output, every one of 65,536 pairs per set. (QDQ int8: onnxruntime turns the int8 Q -> DQ
    pairs into uint8 ones, zero points + 128, before it fuses the Add; the last set tells the
    two forms apart on 31 pairs.)"""
    for s, ws, sc, zc in _PAIR_SETS[k:k + 1]:
        zc = zc if dt == "uint8" else zc - 128
        m, x = _pairs_model(fmt, dt, s, ws, sc, zc)
        path = tmp_path / f"pairs_{fmt}_{dt}.onnx"
        onnx.save(m, str(path))
        graph, report = import_qdq(path)
        assert any(n.op == "qlinear_add" for n in graph.nodes())
        from qhw.passes.lower_affine import quantize_inputs

        codes = quantize_inputs(graph, x)
        assert len({(int(p), int(q)) for p, q in zip(codes[:, :4].ravel(), codes[:, 4:].ravel())}) == 65536
        np.save(tmp_path / "x.npy", x)
        r = CliRunner().invoke(cli, ["predict", str(path), "--input", str(tmp_path / "x.npy"),
                                     "--output", str(tmp_path / "y.npy")])
        assert r.exit_code == 0, r.output
        y, ref = np.load(tmp_path / "y.npy"), _ort(path, x)
        differ = int((y != ref).sum())
        print(f"{fmt} {dt} s={s} ws={ws} sc={sc} zc={zc}: {differ} of {ref.size} differ")
        assert differ == 0


@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_qlinear_add_hardware_on_every_code_pair(tmp_path, backend):
    """The compiled design of a QLinearAdd net (``qhw compile``) on all 65,536 code pairs:
    RTL (Verilator, random gaps and stalls) and HLS C++ (g++ with ap_types) == golden."""
    from qhw import golden
    from qhw.passes.lower_affine import quantize_inputs

    m, x = _pairs_model("QOperator", "int8", 0.1, (1.0, 3.0), 0.07, -5)
    path = tmp_path / "pairs.onnx"
    onnx.save(m, str(path))
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["compile", str(path), "-o", str(out), "--backend", backend, "--vectors", "8"])
    assert r.exit_code == 0, r.output
    graph, _ = import_qdq(path)
    raw = {graph.input_names[0]: quantize_inputs(graph, x)}
    want = golden.run_raw(graph, raw).outputs
    if backend == "hls":
        from qhw.backends.hls import run_raw as hls_run_raw

        got = hls_run_raw(out / "hls", raw)
        assert all(np.array_equal(got[k], want[k]) for k in want)
        return
    from rtl_checks import assert_lint_clean, design_in

    from qhw.verify.stream import run_harness
    from qhw.verify.vectors import read_matrix, write_vectors

    write_vectors(tmp_path / "vectors", [raw[n] for n in graph.input_names], [want[n] for n in graph.output_names])
    sim = run_harness(out / "rtl", tmp_path / "vectors", seed=17, gap=0.2, stall=0.2, work_dir=tmp_path / "sim")
    assert sim.samples == x.shape[0], sim.summary()
    actual = read_matrix(tmp_path / "sim" / "actual.txt")
    assert np.array_equal(actual, want[graph.output_names[0]].reshape(x.shape[0], -1))
    assert_lint_clean(design_in(out / "rtl"))
