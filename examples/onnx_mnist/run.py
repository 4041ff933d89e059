"""Import an ONNX model from the qonnx package (its MNIST conv net), check it, quantize it, and
run the HLS C simulation against the golden model.

The model and one test input with its expected output ship inside the ``qonnx`` wheel
(``qonnx/data/onnx/mnist-conv``; install with ``pip install 'qhw[onnx]'``).
Run: python examples/onnx_mnist/run.py [--bits 16] [--vectors 20]

Steps: import (float ONNX → qhw graph, layers named after the ONNX nodes, channels last); the
float graph must reproduce the bundled expected output; integer bits are fitted on calibration
images (the bundled digit plus noisy variants of it); the fixed-point golden model must pick
the same class; then the HLS C++ is compiled with g++ and simulated on test vectors.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from qhw import golden
from qhw.passes import fit_integer_bits


def bundled_model() -> tuple[Path, np.ndarray, np.ndarray]:
    """Path of qonnx's mnist-conv model, its test input (NHWC) and expected output."""
    try:
        import onnx
        import qonnx
        from onnx import numpy_helper
    except ImportError:
        raise SystemExit("this example needs the [onnx] extra: pip install 'qhw[onnx]'") from None
    d = Path(qonnx.__file__).parent / "data" / "onnx" / "mnist-conv"
    x = numpy_helper.to_array(onnx.load_tensor(d / "test_data_set_0" / "input_0.pb"))
    y = numpy_helper.to_array(onnx.load_tensor(d / "test_data_set_0" / "output_0.pb"))
    return d / "model.onnx", np.transpose(x, (0, 2, 3, 1)).astype(np.float64), y.astype(np.float64)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=16, help="width of every activation (default 16)")
    ap.add_argument("--vectors", type=int, default=20, help="HLS C simulation vectors (0: skip)")
    args = ap.parse_args(argv)

    from qhw.frontends.onnx_float import ImportReport, load_onnx

    path, x, want = bundled_model()
    report = ImportReport()
    graph = load_onnx(path, input_format=f"ap_fixed<{args.bits},9>", default=f"ap_fixed<{args.bits},6>",
                      report=report)
    print(report.table())
    f = golden.run(graph, x, float_mode=True).output()
    rel = float(np.abs(f - want).max() / np.abs(want).max())
    print(f"float graph vs the bundled expected output: max relative error {rel:.1e}")

    rng = np.random.default_rng(0)
    calib = np.clip(x + rng.normal(0, 40, (64,) + x.shape[1:]), 0, 255)
    graph = fit_integer_bits(graph, np.concatenate([x, calib]), margin=1)
    q = golden.to_float(graph, golden.run(graph, x))
    q = next(iter(q.values()))
    print(f"{args.bits}-bit fixed point: class {int(q.argmax())} (expected {int(want.argmax())}), "
          f"max relative error {float(np.abs(q - want).max() / np.abs(want).max()):.1e}")
    result = {"float_rel_error": rel, "fixed_class": int(q.argmax()), "expected_class": int(want.argmax())}
    if args.vectors:
        from qhw.verify import verify

        sim = verify(graph, n=args.vectors, backend="hls")
        print(f"HLS C simulation: {sim.summary()}")
        result["hls_mismatches"] = sim.mismatches
    return result


if __name__ == "__main__":
    main()
