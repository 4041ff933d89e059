"""``qhw predict --float`` on a model with a host prefix and suffix (qhw.ops.host): the user's
values go through the float prefix, the hardware graph runs in float64 (an affine input in units
of its scale, the output read back as real values), then the float suffix.

The oracle is onnxruntime on the float model before quantization. Its weights lie on the int8
grid onnxruntime's quantizer picks (per channel, max |w| = 127 * 2**-6: the scale is 2**-6 and
every weight is exact) and its biases are 0, so the only differences left are float32 rounding
(of the requantization factors, of onnxruntime's sums) and no activation rounding: the float
run must agree to ~1e-5 relative, far closer than the fixed-point run (one activation LSB).
"""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
quantization = pytest.importorskip("onnxruntime.quantization")

from click.testing import CliRunner  # noqa: E402
from onnx import TensorProto as TP  # noqa: E402
from onnx import helper as h  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402

from qhw.cli import cli  # noqa: E402
from onnx_helpers import ort_run as _ort  # noqa: E402


def _grid_weights(rng, shape):
    """int8-grid weights, each output channel's largest |w| exactly 127 * 2**-6."""
    k = rng.integers(-127, 128, shape)
    k[rng.integers(0, shape[0], shape[1]), np.arange(shape[1])] = 127
    return (k * 2.0**-6).astype(np.float32)


def _float_model():
    """x * 2 - 1 (host prefix), Gemm, Relu, Gemm, Relu, then (y - 0.25) / 0.5 (host suffix)."""
    rng = np.random.default_rng(3)
    inits = {"two": np.float32(2), "one": np.float32(1), "half": np.float32(0.5), "quarter": np.float32(0.25),
             "w1": _grid_weights(rng, (12, 16)), "b1": np.zeros(16, np.float32),
             "w2": _grid_weights(rng, (16, 4)), "b2": np.zeros(4, np.float32)}
    nodes = [h.make_node("Mul", ["x", "two"], ["x2"], name="scale"),
             h.make_node("Sub", ["x2", "one"], ["xs"], name="shift"),
             h.make_node("Gemm", ["xs", "w1", "b1"], ["h"], name="fc1"),
             h.make_node("Relu", ["h"], ["a"], name="relu"),
             h.make_node("Gemm", ["a", "w2", "b2"], ["z0"], name="fc2"),
             h.make_node("Relu", ["z0"], ["z"], name="relu2"),
             h.make_node("Sub", ["z", "quarter"], ["z2"], name="tail_sub"),
             h.make_node("Div", ["z2", "half"], ["y"], name="tail_div")]
    g = h.make_graph(nodes, "m", [h.make_tensor_value_info("x", TP.FLOAT, [None, 12])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [None, 4])],
                     [nh.from_array(np.asarray(v), k) for k, v in inits.items()])
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


class _Reader(quantization.CalibrationDataReader):
    def __init__(self, x):
        self.it = iter([{"x": x[i:i + 1]} for i in range(len(x))])

    def get_next(self):
        return next(self.it, None)


def test_predict_float_runs_the_host_steps_and_equals_the_float_model(tmp_path):
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(_float_model(), src)
    calib = np.random.default_rng(0).random((64, 12)).astype(np.float32)
    quantization.quantize_static(str(src), str(dst), _Reader(calib), quant_format=quantization.QuantFormat.QDQ,
                                 op_types_to_quantize=["Gemm", "Relu"], per_channel=True,
                                 activation_type=quantization.QuantType.QUInt8,
                                 weight_type=quantization.QuantType.QInt8)
    r = CliRunner().invoke(cli, ["inspect", str(dst)])
    assert r.exit_code == 0 and "host prefix" in r.output and "host suffix" in r.output, r.output
    x = calib[:40] * np.float32(0.9)  # inside the calibrated range: no activation saturates
    np.save(tmp_path / "x.npy", x)
    outs = {}
    for mode in ("--float", None):
        r = CliRunner().invoke(cli, ["predict", str(dst), "--input", str(tmp_path / "x.npy"),
                                     "--output", str(tmp_path / "y.npy")] + ([mode] if mode else []))
        assert r.exit_code == 0, r.output
        outs[mode] = np.load(tmp_path / "y.npy")
    ref = _ort(src, x)
    scale = float(np.abs(ref).max())
    assert outs["--float"].shape == ref.shape
    float_err = float(np.abs(outs["--float"] - ref).max())
    fixed_err = float(np.abs(outs[None] - ref).max())
    assert float_err <= 1e-5 * scale, float_err
    assert fixed_err > 100 * float_err  # the fixed-point run rounds activations; the float one does not
    np.testing.assert_allclose(outs[None], _ort(dst, x), atol=1e-6 * scale)  # and equals onnxruntime
