"""A FINN-style TFC network quantized with Brevitas, exported to QONNX, imported by qhw from the
command line, checked against qonnx's own execution and simulated as HLS C++.

Run: python examples/brevitas_tfc/run.py [--bits 2] [--samples 50] [--vectors 40]
(needs ``pip install 'qhw[dev]'`` for Brevitas and qonnx).

The network is FINN's TFC shape at a reduced size (8x8 inputs, 32-32 hidden, 10 classes):
``2x - 1`` input scaling in float, an 8-bit input quantizer, bias-free QuantLinear layers each
followed by BatchNorm1d and a quantized activation, and a TensorNorm tail
``(x - mean) / sqrt(var + eps) * weight + bias``. qhw runs the float scaling and the TensorNorm
tail on the host (float32, as qonnx/onnxruntime compute them) and the integer layers in
hardware; ``qhw inspect`` says where that boundary is.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def build(bits: int, sizes=(64, 32, 32, 10), seed: int = 0):
    """The Brevitas TFC twin, calibrated on random images (its activation scales come from
    statistics of the first batches) and given trained-looking batch-norm statistics."""
    try:
        import torch
        import torch.nn as nn
        import brevitas.nn as qnn
        from brevitas.quant import Int8ActPerTensorFloat, Int8WeightPerTensorFloat
    except ImportError:
        raise SystemExit("this example needs Brevitas: pip install 'qhw[dev]'") from None

    torch.manual_seed(seed)

    class TensorNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor(0.3))
            self.register_buffer("var", torch.tensor(2.0))
            self.weight = nn.Parameter(torch.tensor(1.5))
            self.bias = nn.Parameter(torch.tensor(0.25))

        def forward(self, x):
            return (x - self.mean) / torch.sqrt(self.var + 1e-4) * self.weight + self.bias

    layers = [qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=8)]
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [qnn.QuantLinear(a, b, bias=False, weight_quant=Int8WeightPerTensorFloat, weight_bit_width=bits),
                   nn.BatchNorm1d(b),
                   qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=bits, scaling_init=2.0)]
    layers += [qnn.QuantLinear(sizes[-2], sizes[-1], bias=False, weight_quant=Int8WeightPerTensorFloat,
                               weight_bit_width=bits), TensorNorm()]
    body = nn.Sequential(*layers)

    class TFC(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(2.0 * x.reshape(x.shape[0], -1) - 1.0)

    net = TFC()
    side = int(sizes[0] ** 0.5)
    g = torch.Generator().manual_seed(seed)
    net.train()
    with torch.no_grad():
        for _ in range(32):
            net(torch.rand(16, 1, side, side, generator=g))
    for m in net.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) * 1.5 + 0.5)
    return net.eval(), (1, side, side)


def qhw_cli(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "qhw", *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr.strip())
    return r.stdout


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=2, help="weight and activation bits (default 2)")
    ap.add_argument("--samples", type=int, default=50, help="images compared with qonnx")
    ap.add_argument("--vectors", type=int, default=40, help="HLS C simulation vectors (0: skip)")
    args = ap.parse_args(argv)

    import torch
    from brevitas.export import export_qonnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    net, shape = build(args.bits)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "tfc.onnx"
        export_qonnx(net, torch.rand(1, *shape), str(model), dynamo=False)
        x = np.random.default_rng(1).random((args.samples, *shape)).astype(np.float32)

        # the producer's reference: qonnx's executor, one image at a time (exported at batch 1)
        m = ModelWrapper(str(model)).transform(InferShapes())
        i, o = m.graph.input[0].name, m.graph.output[0].name
        ref = np.concatenate([execute_onnx(m, {i: x[k:k + 1]})[o] for k in range(len(x))])

        # qhw from the command line: the input is channels-last (here (8, 8, 1))
        np.save(tmp / "x.npy", x.transpose(0, 2, 3, 1))
        qhw_cli("predict", str(model), "--input", str(tmp / "x.npy"), "--output", str(tmp / "y.npy"))
        out = np.load(tmp / "y.npy")
        print(qhw_cli("inspect", str(model)).split("mapping report")[-1])
        diff = float(np.abs(out - ref).max())
        print(f"qhw predict vs qonnx execute_onnx on {len(x)} images: max |difference| {diff:.2e} "
              f"(float32 rounding of qonnx's float MatMul), same class on "
              f"{float(np.mean(out.argmax(1) == ref.argmax(1))):.0%}")
        result = {"max_abs_diff": diff, "max_abs_output": float(np.abs(ref).max()),
                  "same_class": float(np.mean(out.argmax(1) == ref.argmax(1)))}
        if args.vectors:
            from qhw.io import load_model
            from qhw.verify import verify

            sim = verify(load_model(model), n=args.vectors, backend="hls")
            print(f"HLS C simulation: {sim.summary()}")
            result["hls_mismatches"] = sim.mismatches
    return result


if __name__ == "__main__":
    main()
