"""Brevitas -> QONNX -> qhw, the models made by Brevitas inside the test: FINN-style TFC
(784-64-64-64-10 at w1a1, w2a2, w4a4: BatchNorm1d after bias-free QuantLinear, a TensorNorm
tail, FINN's ``2x - 1`` input scaling) and a CNV-style conv net. ``qhw predict`` through the CLI
against qonnx's execute_onnx (the float prefix and suffix run on the host in float32, so the
outputs agree to float32 rounding of qonnx's float MatMul, far below one accumulator LSB);
``qhw compile`` + ``qhw simulate`` (RTL and HLS) == golden on a reduced-size TFC twin."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("brevitas")
pytest.importorskip("qonnx")

from click.testing import CliRunner  # noqa: E402

import brevitas_nets as nets  # noqa: E402
from qhw.cli import cli  # noqa: E402

TFC = (784, 64, 64, 64, 10)


def _predict(tmp_path, model, x_channels_last, *extra):
    np.save(tmp_path / "x.npy", x_channels_last)
    r = CliRunner().invoke(cli, ["predict", str(model), "--input", str(tmp_path / "x.npy"),
                                 "--output", str(tmp_path / "y.npy"), *extra])
    assert r.exit_code == 0, r.output
    return np.load(tmp_path / "y.npy")


def _agree(out, ref):
    """Equal up to float32 rounding of qonnx's float MatMul/Conv (a few float32 ulps of the
    largest output; one accumulator LSB is >= 2**-12 of it here). The predicted class is the
    same wherever the two largest outputs are not tied: with binary weights and activations
    equal accumulators are common, and qonnx's float32 sums break such ties by rounding noise
    (the same integer accumulator gives 0.3560635 and 0.35606334 in two of its columns)."""
    assert out.shape == ref.shape
    atol = 2.0**-20 * max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(out, ref, rtol=0, atol=atol)
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 2 * atol
    assert np.array_equal(out.argmax(1)[clear], ref.argmax(1)[clear]) and clear.mean() > 0.5


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_tfc_predict_equals_qonnx(tmp_path, bits):
    """FINN's TFC configuration (brevitas_examples bnn_pynq cfg/tfc_*: the input quantized to
    the activation width, at 1 bit a BipolarQuant whose +-1 codes are the hardware's input)."""
    from qhw.io import load_model

    model = nets.export(nets.build("tfc", bits, TFC, seed=bits), (1, 28, 28), tmp_path / "tfc.onnx")
    x = np.random.default_rng(bits).random((40, 1, 28, 28)).astype(np.float32)
    ref = nets.qonnx_reference(model, x)
    out = _predict(tmp_path, model, x.transpose(0, 2, 3, 1))
    _agree(out, ref)
    g = load_model(model)
    inp = g.node(g.input_names[0])
    assert inp.qparams.bits == max(bits, 2) and inp.formats["result"].width == max(bits, 2)
    if bits == 1:
        assert inp.attrs["quantizer"] == "bipolar"


def test_cnv_predict_equals_qonnx(tmp_path):
    sizes = (3, 8, 8, 10)
    model = nets.export(nets.build("cnv", 2, sizes), nets.cnv_input(sizes), tmp_path / "cnv.onnx")
    x = np.random.default_rng(5).random((30, *nets.cnv_input(sizes))).astype(np.float32)
    ref = nets.qonnx_reference(model, x)
    _agree(_predict(tmp_path, model, x.transpose(0, 2, 3, 1)), ref)


def test_topk_tail_becomes_the_argmax_output(tmp_path):
    """FINN's classifiers end in TopK (qonnx's InsertTopK): the index of the largest output,
    computed on the host after the TensorNorm tail — identical to qonnx's."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.insert_topk import InsertTopK

    model = nets.export(nets.build("tfc", 2, (64, 16, 16, 10)), (1, 8, 8), tmp_path / "tfc.onnx")
    ModelWrapper(str(model)).transform(InsertTopK(k=1)).save(str(tmp_path / "topk.onnx"))
    x = np.random.default_rng(3).random((50, 1, 8, 8)).astype(np.float32)
    ref = nets.qonnx_reference(tmp_path / "topk.onnx", x)
    out = _predict(tmp_path, tmp_path / "topk.onnx", x.transpose(0, 2, 3, 1))
    assert out.shape == ref.shape == (50, 1)
    np.testing.assert_array_equal(out, ref)


def test_inspect_prints_the_mapping_report_and_the_hardware_boundary(tmp_path):
    model = nets.export(nets.build("tfc", 2, (64, 16, 10)), (1, 8, 8), tmp_path / "tfc.onnx")
    r = CliRunner().invoke(cli, ["inspect", str(model)])
    assert r.exit_code == 0, r.output
    assert "mapping report" in r.output and "host prefix" in r.output and "host suffix" in r.output
    assert "reshape 64, mul 2, sub 1" in r.output and "BatchNormalization" in r.output
    # the batch-norm bias has no exact integer form: rounded, with its deviation in output LSBs
    assert "bias rounded" in r.output and "output LSB)" in r.output
    notes = [line for line in r.output.splitlines() if line.startswith("note: ")]
    assert notes and len(notes) == len(set(notes)), notes  # each note printed once
    r = CliRunner().invoke(cli, ["inspect", str(model), "--json"])
    doc = json.loads(r.output)
    assert any("hardware boundary" in n for n in doc["mapping_notes"])
    # --exact refuses the batch-norm bias that has no exact integer form, naming the node
    r = CliRunner().invoke(cli, ["inspect", str(model), "--exact"])
    assert r.exit_code == 2 and "bias" in r.output and "BatchNormalization" not in r.output.split("error:")[0]


@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_tfc_twin_compiles_and_simulates(tmp_path, backend):
    model = nets.export(nets.build("tfc", 2, (64, 16, 16, 10)), (1, 8, 8), tmp_path / "tfc.onnx")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["compile", str(model), "-o", str(out), "--vectors", "60"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["simulate", str(out), "--backend", backend, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["ok"]


def test_float_ops_between_quantizers_and_input_scaling(tmp_path):
    """Brevitas: x / 255 on the host; QuantLinear (with bias) -> (y - m) / s -> QuantReLU, and a
    TensorNorm between two quantizers: Sub/Div/Mul/Add by constants fold into the MAC's
    requantization. qhw predict == qonnx on every code except where qonnx's float32 lands
    within a rounding tie (none expected on these data; counted)."""
    import torch
    import torch.nn as nn
    import brevitas.nn as qnn

    torch.manual_seed(7)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.q0 = qnn.QuantIdentity(bit_width=8)
            self.fc1 = qnn.QuantLinear(12, 16, bias=True, weight_bit_width=4)
            self.register_buffer("m", torch.linspace(-0.5, 0.5, 16))
            self.register_buffer("s", torch.linspace(0.7, 1.9, 16))
            self.a1 = qnn.QuantReLU(bit_width=4)
            self.fc2 = qnn.QuantLinear(16, 6, bias=True, weight_bit_width=4)
            self.a2 = qnn.QuantIdentity(bit_width=6)

        def forward(self, x):
            x = self.q0(x / 255.0)
            x = self.a1((self.fc1(x) - self.m) / self.s)
            return self.a2((self.fc2(x) - 0.1) / 1.7 * 1.3 + 0.2)

    net = Net().train()
    with torch.no_grad():
        for _ in range(32):
            net(torch.rand(16, 12) * 255)
    model = nets.export(net.eval(), (12,), tmp_path / "m.onnx")
    x = np.random.default_rng(2).integers(0, 256, (200, 12)).astype(np.float32)
    ref = nets.qonnx_reference(model, x)
    out = _predict(tmp_path, model, x)
    step = float(np.min(np.diff(np.unique(ref))))  # the output LSB
    off = np.abs(out - ref) > step / 4
    assert off.mean() < 0.005 and np.abs(out - ref).max() <= step * 1.001
    r = CliRunner().invoke(cli, ["inspect", str(model)])
    assert "div 255" in r.output and "/Sub" in r.output and "/Div" in r.output


def test_input_quant_option_quantizes_an_unquantized_input(tmp_path):
    """A QONNX model whose first layer reads the raw input (no input quantizer): --input-quant
    says what the data is (8-bit codes of 1/255 steps); qhw predict == qonnx on such data."""
    import torch
    import torch.nn as nn
    import brevitas.nn as qnn

    torch.manual_seed(3)
    net = nn.Sequential(qnn.QuantLinear(8, 5, bias=False, weight_bit_width=4),
                        qnn.QuantIdentity(bit_width=8)).train()
    with torch.no_grad():
        for _ in range(32):
            net(torch.rand(16, 8))
    model = nets.export(net.eval(), (8,), tmp_path / "m.onnx")
    x = (np.random.default_rng(0).integers(0, 256, (50, 8)) / np.float32(255)).astype(np.float32)
    r = CliRunner().invoke(cli, ["inspect", str(model)])
    assert r.exit_code == 2 and "input_quant" in r.output
    out = _predict(tmp_path, model, x, "--input-quant", f"{1 / 255!r},0,8,unsigned")
    np.testing.assert_array_equal(out, nets.qonnx_reference(model, x))
    r = CliRunner().invoke(cli, ["inspect", str(model), "--input-quant", "x=abc"])
    assert r.exit_code == 2 and "NAME=SCALE,ZERO_POINT,BITS" in r.output


def _ort(path, x):
    """onnxruntime running the graph as written: its default optimizer folds the dequantized
    constant weights and fuses the float BatchNormalization into them, a different float32
    arithmetic (measured on the CNV: outputs off by up to 0.3% of their range on every sample)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(str(path), so)
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[k:k + 1]})[0] for k in range(len(x))])


@pytest.mark.parametrize("kind", ["tfc", "cnv"])
def test_qcdq_export_predict_equals_onnxruntime(tmp_path, kind):
    """Brevitas' QCDQ export (QuantizeLinear -> Clip -> DequantizeLinear for 4-bit codes,
    BatchNormalization as a float op between quantizers, the TensorNorm tail) against
    onnxruntime running the graph as written. The batch norm is folded into the requantization;
    measured on 200 samples: TFC and CNV identical to float32 rounding of the float MatMul."""
    import torch
    from brevitas.export import export_onnx_qcdq

    sizes, shape = ((64, 16, 16, 10), (1, 8, 8)) if kind == "tfc" else ((3, 8, 8, 10), (3, 12, 12))
    path = tmp_path / "m.onnx"
    export_onnx_qcdq(nets.build(kind, 4, sizes), torch.rand(1, *shape), str(path), dynamo=False)
    x = np.random.default_rng(4).random((200, *shape)).astype(np.float32)
    ref = _ort(path, x)
    out = _predict(tmp_path, path, x.transpose(0, 2, 3, 1))
    atol = 2.0**-20 * max(1.0, float(np.abs(ref).max()))
    off = np.any(np.abs(out - ref) > atol, axis=1)
    assert off.mean() <= 0.005, off.mean()  # a float32 tie in the batch norm may move a code
    assert np.mean(out.argmax(1) == ref.argmax(1)) >= 0.99
