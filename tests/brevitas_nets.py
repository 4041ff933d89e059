"""Brevitas networks for the import tests and the example: FINN-style TFC (fully connected,
BatchNorm1d after bias-free QuantLinear, a TensorNorm-style float tail) and a small CNV-style conv
net, both with FINN's float input scaling ``2x - 1`` before the first quantizer. Built and
exported to QONNX with Brevitas itself (its QONNX exporter, PyTorch's TorchScript ONNX path)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _quantizers(bits: int):
    from brevitas.quant import (Int8ActPerTensorFloat, Int8WeightPerTensorFloat,
                                SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst)

    if bits == 1:
        return SignedBinaryWeightPerTensorConst, SignedBinaryActPerTensorConst
    return Int8WeightPerTensorFloat, Int8ActPerTensorFloat


def build(kind: str, bits: int, sizes=None, seed: int = 0):
    """An eval-mode Brevitas module: kind "tfc" (sizes: in, hidden..., classes; input (1, H, W))
    or "cnv" (sizes: channels, hidden convs..., classes; input (channels, H, W))."""
    import torch
    import torch.nn as nn
    import brevitas.nn as qnn

    torch.manual_seed(seed)
    wq, aq = _quantizers(bits)
    # hidden activations start at a range of +-2 (Brevitas' default of 10 zeroes 2-bit codes)
    act = {"act_quant": aq} if bits == 1 else {"act_quant": aq, "bit_width": bits, "scaling_init": 2.0}
    wkw = {"weight_quant": wq} if bits == 1 else {"weight_quant": wq, "weight_bit_width": bits}

    class TensorNorm(nn.Module):
        """FINN's scalar affine tail: (x - mean) / sqrt(var + eps) * weight + bias."""

        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor(0.3))
            self.register_buffer("var", torch.tensor(2.0))
            self.weight = nn.Parameter(torch.tensor(1.5))
            self.bias = nn.Parameter(torch.tensor(0.25))

        def forward(self, x):
            return (x - self.mean) / torch.sqrt(self.var + 1e-4) * self.weight + self.bias

    layers = [_input_quantizer(kind, bits)]
    if kind == "tfc":
        for a, b in zip(sizes[:-2], sizes[1:-1]):
            layers += [qnn.QuantLinear(a, b, bias=False, **wkw), nn.BatchNorm1d(b), qnn.QuantIdentity(**act)]
        layers += [qnn.QuantLinear(sizes[-2], sizes[-1], bias=False, **wkw), TensorNorm()]
    else:
        c = sizes[0]
        for k in sizes[1:-1]:
            layers += [qnn.QuantConv2d(c, k, 3, bias=False, **wkw), nn.BatchNorm2d(k),
                       qnn.QuantIdentity(**act), nn.MaxPool2d(2)]
            c = k
        layers += [nn.Flatten()]
    body = nn.Sequential(*layers)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body
            self.head = None

        def forward(self, x):
            if kind == "tfc":
                x = x.reshape(x.shape[0], -1)
            x = 2.0 * x - 1.0
            x = self.body(x)
            return self.head(x) if self.head is not None else x

    net = Net()
    if kind == "cnv":
        with torch.no_grad():
            n = net.body(torch.zeros(1, *cnv_input(sizes))).shape[1]
        net.head = nn.Sequential(qnn.QuantLinear(n, sizes[-1], bias=False, **wkw), TensorNorm())
    g = torch.Generator().manual_seed(seed)
    shape = (1, *sizes[:1], 1) if kind == "tfc" else cnv_input(sizes)
    net.train()  # Brevitas' activation scales come from statistics of the first 30 batches
    with torch.no_grad():
        for _ in range(32):
            x = torch.rand(16, *((1, int(sizes[0] ** 0.5), int(sizes[0] ** 0.5)) if kind == "tfc" else shape),
                           generator=g)
            net(x)
    for m in net.modules():  # trained-looking batch-norm statistics
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return net.eval()


def _input_quantizer(kind: str, bits: int):
    """The input quantizer as brevitas_examples' bnn_pynq configures FINN's networks
    (cfg/tfc_*.ini, cnv_*.ini: IN_BIT_WIDTH): a TFC quantizes its scaled input ``2x - 1`` to the
    activation width with ``CommonActQuant`` (constant scale, range [-1, 1], signed, narrow
    range: at 1 bit a binary quantizer, exported as QONNX ``BipolarQuant``); a CNV to 8 bits."""
    import brevitas.nn as qnn

    if kind == "tfc":
        from brevitas_examples.bnn_pynq.models.common import CommonActQuant

        return qnn.QuantIdentity(act_quant=CommonActQuant, bit_width=bits)
    from brevitas.quant import Int8ActPerTensorFloat

    return qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=8)


def cnv_input(sizes, hw: int = 12):
    return (sizes[0], hw, hw)


def export(net, input_shape, path: Path) -> Path:
    """QONNX file of ``net`` (Brevitas' export_qonnx, batch 1)."""
    import torch
    from brevitas.export import export_qonnx

    export_qonnx(net, torch.rand(1, *input_shape), str(path), dynamo=False)
    return path


def qonnx_reference(path: Path, x_nchw: np.ndarray) -> np.ndarray:
    """qonnx's own executor (execute_onnx), one sample at a time (the export has batch 1)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    from qonnx.transformation.infer_shapes import InferShapes

    m = ModelWrapper(str(path)).transform(InferShapes())
    i, o = m.graph.input[0].name, m.graph.output[0].name
    return np.concatenate([execute_onnx(m, {i: x_nchw[k:k + 1].astype(np.float32)})[o]
                           for k in range(len(x_nchw))])
