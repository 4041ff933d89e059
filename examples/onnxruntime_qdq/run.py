"""A small PyTorch conv net exported to ONNX, quantized by onnxruntime's ``quantize_static`` (QDQ),
imported by qhw from the command line, checked against onnxruntime and simulated as RTL and HLS.

Run: python examples/onnxruntime_qdq/run.py [--samples 500] [--vectors 40]
(needs ``pip install 'qhw[dev]'`` for PyTorch, onnx and onnxruntime).

Steps: the float model (Conv-ReLU-MaxPool-Conv-ReLU-Flatten-Linear-Sigmoid-Linear on 1x8x8
images) is exported with ``torch.onnx.export``; onnxruntime calibrates it on random images and
writes the QDQ model (uint8 activations, int8 weights, per-channel conv weights). ``qhw predict``
runs qhw's golden model and must equal onnxruntime's own output (the sigmoid is a table of
onnxruntime's output code for every input code; a float32 requantization tie may move one code:
counted); ``qhw compile`` writes Verilog and HLS C++, and ``qhw simulate`` runs both against the
golden codes.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np


def build(seed: int = 0):
    """The float PyTorch model (random weights: the example is about the import, not training)."""
    try:
        import torch
        import torch.nn as nn
    except ImportError:
        raise SystemExit("this example needs PyTorch: pip install 'qhw[dev]'") from None
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(24, 16), nn.Sigmoid(), nn.Linear(16, 5)).eval()


def quantize(net, shape, folder: Path) -> Path:
    """Export to ONNX and quantize with onnxruntime's quantize_static (QDQ)."""
    import torch
    from onnxruntime import quantization as q

    src, dst = folder / "float.onnx", folder / "qdq.onnx"
    with warnings.catch_warnings():  # the TorchScript-based exporter's deprecation note
        warnings.simplefilter("ignore")
        torch.onnx.export(net, torch.rand(1, *shape), str(src), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17, dynamo=False)
    rng = np.random.default_rng(0)

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.it = iter({"x": rng.random((1, *shape), dtype=np.float32)} for _ in range(64))

        def get_next(self):
            return next(self.it, None)

    q.quantize_static(str(src), str(dst), Reader(), quant_format=q.QuantFormat.QDQ, per_channel=True,
                      activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8)
    return dst


def qhw_cli(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "qhw", *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr.strip() or r.stdout.strip())
    return r.stdout


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=500, help="images compared with onnxruntime")
    ap.add_argument("--vectors", type=int, default=40, help="RTL and HLS simulation vectors (0: skip)")
    args = ap.parse_args(argv)

    import onnxruntime as ort

    shape = (1, 8, 8)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = quantize(build(), shape, tmp)
        x = np.random.default_rng(1).random((args.samples, *shape), dtype=np.float32)

        # the producer's reference: onnxruntime on the quantized model
        so = ort.SessionOptions()
        so.log_severity_level = 3
        ref = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

        # qhw from the command line: images channels-last (here (8, 8, 1))
        np.save(tmp / "x.npy", x.transpose(0, 2, 3, 1))
        qhw_cli("predict", str(model), "--input", str(tmp / "x.npy"), "--output", str(tmp / "y.npy"))
        out = np.load(tmp / "y.npy")
        info = json.loads(qhw_cli("inspect", str(model), "--json"))
        lsb = _output_lsb(model)
        off = np.abs(out.astype(np.float64) - ref) / lsb
        print(f"qhw predict vs onnxruntime on {len(x)} images: {int((off > 0.5).sum())} of {off.size} "
              f"outputs differ, by at most {off.max():.0f} output LSB")
        result = {"outputs": int(off.size), "differing": int((off > 0.5).sum()),
                  "max_lsb": float(off.max()), "ops": sorted({n["op"] for n in info.get("nodes", [])})}
        if args.vectors:
            out_dir = tmp / "build"
            qhw_cli("compile", str(model), "-o", str(out_dir), "--vectors", str(args.vectors))
            for backend in ("rtl", "hls"):
                sim = json.loads(qhw_cli("simulate", str(out_dir), "--backend", backend, "--json"))
                print(f"{backend.upper()} simulation: {sim['mismatches']} mismatches on "
                      f"{sim.get('samples', args.vectors)} vectors")
                result[f"{backend}_mismatches"] = sim["mismatches"] if sim["ok"] else -1
    return result


def _output_lsb(model: Path) -> float:
    """The scale of the model's last QuantizeLinear (one output code)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(model)
    inits = {t.name: t for t in m.graph.initializer}
    last = [n for n in m.graph.node if n.op_type == "QuantizeLinear"][-1]
    return float(numpy_helper.to_array(inits[last.input[1]]))


if __name__ == "__main__":
    main()
