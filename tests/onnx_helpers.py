"""What the ONNX import tests share: onnxruntime on a model file, ``qhw predict`` through the
CLI in ONNX's layout, and a quantized model's output LSB."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from click.testing import CliRunner
from onnx import numpy_helper as nh

from qhw.cli import cli


def calibration_reader(shape, n: int, seed: int = 0):
    """An onnxruntime ``CalibrationDataReader`` over ``n`` standard-normal float32 samples of
    ``(1, *shape)`` (input ``x``), drawn from ``default_rng(seed)``."""
    from onnxruntime import quantization

    rng = np.random.default_rng(seed)
    data = [{"x": rng.normal(size=(1, *shape)).astype(np.float32)} for _ in range(n)]

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.it = iter(data)

        def get_next(self):
            return next(self.it, None)

    return Reader()


def ort_run(path, x):
    """onnxruntime (default session options, CPU) on the model's single input ``x``."""
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def predict_onnx_layout(path, x, tmp_path):
    """qhw predict through the CLI on ONNX-layout x (channels first); the outputs back in ONNX
    layout (a feature map moved back to channels first, a vector as it is)."""
    np.save(tmp_path / "x.npy", np.moveaxis(x, 1, -1))
    r = CliRunner().invoke(cli, ["predict", str(path), "--input", str(tmp_path / "x.npy"),
                                 "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    y = np.load(tmp_path / "y.npy")
    return np.moveaxis(y, -1, 1) if y.ndim > 2 else y


def output_lsb(path) -> float:
    """The scale of the model's last DequantizeLinear of a computed tensor (its output's LSB)."""
    m = onnx.load(path)
    init = {t.name: nh.to_array(t) for t in m.graph.initializer}
    dq = [n for n in m.graph.node if n.op_type == "DequantizeLinear" and n.input[0] not in init][-1]
    return float(init[dq.input[1]])


def assert_simulates(out, backend: str) -> None:
    """``qhw simulate OUT --backend BACKEND`` passes (RTL or HLS == golden); the RTL is lint clean."""
    import json

    r = CliRunner().invoke(cli, ["simulate", str(out), "--backend", backend, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["ok"]
    if backend == "rtl":
        from rtl_checks import assert_lint_clean, design_in

        assert_lint_clean(design_in(out / "rtl"))


def compile_and_simulate(path, out, backend: str, vectors: int) -> None:
    """``qhw compile PATH -o OUT --backend BACKEND --vectors N``, then :func:`assert_simulates`."""
    r = CliRunner().invoke(cli, ["compile", str(path), "-o", str(out), "--backend", backend,
                                 "--vectors", str(vectors)])
    assert r.exit_code == 0, r.output
    assert_simulates(out, backend)
