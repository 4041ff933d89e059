"""Agreement of QONNX average pools with qonnx's execute_onnx where the float32 window sum
decides the rounding (equal input and output scales), for the README and docs/imports.md.

    PYTHONPATH=$PWD python benchmarks/float32_pools.py [--images 1000]

Per case: the model of tests/test_import_pool.py (Quant -> AveragePool 2x2 / GlobalAveragePool
4x4 -> Quant, int8, 2 channels), imported by qhw (its float32 form: qhw.ops.fsum_pool), and
``images`` inputs, half of them codes one apart (ties are common there), the rest random codes.
Prints the outputs compared and how many differ from qonnx. Not a timed test.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

CASES = [("avg2", 0.0371, 0), ("avg2", 0.05, 3), ("gap", 0.0371, 0), ("gap", 0.05, 3)]


def main() -> None:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes
    from test_import_pool import _qonnx_pool

    from qhw import golden
    from qhw.frontends.qonnx import load_qonnx

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    n = ap.parse_args().images
    f32 = np.float32
    for kind, s, z in CASES:
        m = _qonnx_pool(kind, s, s, z)
        g = load_qonnx(m)
        hw = 4 if kind == "gap" else 8
        rng = np.random.default_rng(99)
        codes = rng.integers(-128, 128, size=(n, 2, hw, hw))
        codes[: n // 2] = rng.integers(-128, 127, size=(n // 2, 2, hw, hw)) + rng.integers(0, 2, size=(n // 2, 2, hw, hw))
        x = ((codes - z) * f32(s)).astype(f32)
        mw = ModelWrapper(m).transform(InferShapes())
        ref = np.concatenate([execute_onnx(mw, {"x": x[i:i + 1]})["y"] for i in range(n)])
        (y,) = golden.run(g, np.moveaxis(x, 1, -1)).outputs.values()  # zero-point-free codes
        y = np.moveaxis(y.reshape((n,) + ref.shape[2:] + (2,)), -1, 1)
        want = np.rint(ref.astype(np.float64) / s).astype(np.int64)
        ops = sorted({nd.op for nd in g.nodes()} - {"input", "output"})
        print(f"{kind} scale {s} zero point {z} ({', '.join(ops)}): {int(np.count_nonzero(y != want))} of "
              f"{want.size} outputs differ from qonnx")


if __name__ == "__main__":
    main()
