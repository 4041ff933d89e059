"""Brevitas' TruncAvgPool2d in QONNX (exported by Brevitas 0.13.4 inside the test: Quant ->
AveragePool -> Trunc): the exact window sum of codes, then the code qonnx's Trunc gives it.

Oracle: qonnx's own execution (execute_onnx) of the exported model. ``qhw predict`` through the
CLI must equal it on every output, on random inputs and on inputs at the ends of the code range
(windows of the smallest and the largest sums); the compiled design's RTL (Verilator) and HLS
C++ (g++) == golden."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
qnn = pytest.importorskip("brevitas.nn")
pytest.importorskip("qonnx")

from click.testing import CliRunner  # noqa: E402

from qhw.cli import cli  # noqa: E402
from onnx_helpers import compile_and_simulate  # noqa: E402


class _TruncPool(torch.nn.Module):
    """A quantized input, then Brevitas' truncating average pool."""

    def __init__(self, bits: int, kernel: int, signed: bool):
        super().__init__()
        self.q = qnn.QuantIdentity(bit_width=bits, return_quant_tensor=True, signed=signed)
        self.p = qnn.TruncAvgPool2d(kernel_size=kernel, stride=kernel, bit_width=bits, return_quant_tensor=True)

    def forward(self, x):
        return self.p(self.q(x))


def _export(tmp_path, bits: int, kernel: int, signed: bool):
    from brevitas.export import export_qonnx

    torch.manual_seed(bits * 10 + kernel)
    m = _TruncPool(bits, kernel, signed).train()
    with torch.no_grad():  # calibrate the input scale on data, as a user's training would
        for _ in range(4):
            m(torch.randn(16, 3, 2 * kernel, 2 * kernel) * 2)
    m.eval()
    path = tmp_path / f"truncpool_{bits}_{kernel}_{int(signed)}.onnx"
    export_qonnx(m, torch.randn(1, 3, 2 * kernel, 2 * kernel), export_path=str(path))
    return path


def _qonnx(path, x):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    mw = ModelWrapper(str(path)).transform(InferShapes())
    name_in, name_out = mw.graph.input[0].name, mw.graph.output[0].name
    return np.stack([execute_onnx(mw, {name_in: x[i:i + 1]})[name_out][0] for i in range(x.shape[0])])


def _inputs(kernel: int) -> np.ndarray:
    rng = np.random.default_rng(kernel)
    x = rng.normal(size=(40, 3, 2 * kernel, 2 * kernel)) * 2
    big = np.sign(rng.normal(size=(8, 3, 2 * kernel, 2 * kernel))) * 100.0  # every code at an end
    return np.concatenate([x, big, np.full((2, 3, 2 * kernel, 2 * kernel), 100.0),
                           np.full((2, 3, 2 * kernel, 2 * kernel), -100.0)]).astype(np.float32)


@pytest.mark.parametrize("bits,kernel,signed", [(4, 2, True), (8, 2, True), (4, 3, True), (6, 2, False)])
def test_trunc_avg_pool_equals_qonnx_execution(tmp_path, bits, kernel, signed):
    path = _export(tmp_path, bits, kernel, signed)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "Trunc" in ops and "AveragePool" in ops, ops
    x = _inputs(kernel)
    ref = _qonnx(path, x)
    np.save(tmp_path / "x.npy", np.moveaxis(x, 1, -1))
    r = CliRunner().invoke(cli, ["predict", str(path), "--input", str(tmp_path / "x.npy"),
                                 "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    y = np.moveaxis(np.load(tmp_path / "y.npy"), -1, 1).reshape(ref.shape)
    differ = int((np.abs(y.astype(np.float64) - ref) > 1e-9 * np.abs(ref).max()).sum())
    print(f"TruncAvgPool {bits}-bit k={kernel} signed={signed}: {differ} of {ref.size} differ; ops {ops}")
    assert differ == 0
    assert len(np.unique(ref)) > 4  # the outputs are not all one value


@pytest.mark.parametrize("backend", ["rtl", "hls"])
def test_trunc_avg_pool_compiles_and_simulates(tmp_path, backend):
    """qhw compile + qhw simulate: RTL (Verilator) and HLS C++ (g++) == golden."""
    path = _export(tmp_path, 4, 3, True)
    compile_and_simulate(path, tmp_path / "out", backend, 60)
