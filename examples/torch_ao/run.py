"""A PyTorch conv net quantized with torch.ao (eager mode, x86 backend), saved as TorchScript,
imported by qhw from the command line, checked against the quantized module and simulated as RTL
and HLS.

Run: python examples/torch_ao/run.py [--samples 500] [--vectors 40]
(needs PyTorch: ``pip install 'qhw[dev]'``).

Steps: QuantStub, Conv2d+ReLU (fused), MaxPool2d, Conv2d+ReLU, Flatten, Linear, DeQuantStub on
1x8x8 images; ``torch.ao.quantization`` calibrates it on random images and converts it (int8
per-channel weights, uint8 activations), and ``torch.jit.save(torch.jit.script(model))`` writes
the archive users deploy. ``qhw predict model.pt --input-shape 1,8,8`` reads the archive's graph
and attributes (its code is never run) and must equal the quantized module's output (fbgemm
rounds to float32 before its last rounding: a float32 tie may move one code, counted);
``qhw compile`` and ``qhw simulate`` check Verilog and HLS C++ against the golden codes.
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


def build(shape, seed: int = 0):
    """The converted (quantized) torch.ao model, calibrated on random images."""
    try:
        import torch
        import torch.nn as nn
        import torch.ao.quantization as tq
    except ImportError:
        raise SystemExit("this example needs PyTorch: pip install 'qhw[dev]'") from None

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
            self.conv1, self.relu1 = nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.conv2, self.relu2 = nn.Conv2d(4, 6, 3), nn.ReLU()
            self.flat = nn.Flatten()
            self.fc = nn.Linear(24, 5)

        def forward(self, x):
            x = self.pool(self.relu1(self.conv1(self.quant(x))))
            return self.dequant(self.fc(self.flat(self.relu2(self.conv2(x)))))

    torch.manual_seed(seed)
    torch.backends.quantized.engine = "x86"
    net = Net().eval()
    net.qconfig = tq.get_default_qconfig("x86")
    with warnings.catch_warnings():  # torch.ao's notes that torchao is its successor
        warnings.simplefilter("ignore")
        tq.fuse_modules(net, [["conv1", "relu1"], ["conv2", "relu2"]], inplace=True)
        prepared = tq.prepare(net)
        with torch.no_grad():
            prepared(torch.rand(256, *shape))
        return tq.convert(prepared)


def qhw_cli(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "qhw", *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stderr.strip() or r.stdout.strip())
    return r.stdout


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=500, help="images compared with the quantized module")
    ap.add_argument("--vectors", type=int, default=40, help="RTL and HLS simulation vectors (0: skip)")
    args = ap.parse_args(argv)

    import torch

    shape = (1, 8, 8)
    model = build(shape)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        archive = tmp / "model.pt"
        torch.jit.save(torch.jit.script(model), str(archive))
        x = torch.rand(args.samples, *shape, generator=torch.Generator().manual_seed(1))

        # the producer's reference: the quantized module itself (PyTorch's fbgemm kernels)
        with torch.no_grad():
            ref = model(x).numpy()
        lsb = float(model.fc.scale)

        # qhw from the command line: images channels-last (here (8, 8, 1)), the shape given
        # in PyTorch's layout (a scripted archive does not record it)
        np.save(tmp / "x.npy", x.numpy().transpose(0, 2, 3, 1))
        dims = ",".join(map(str, shape))
        qhw_cli("predict", str(archive), "--input-shape", dims, "--input", str(tmp / "x.npy"),
                "--output", str(tmp / "y.npy"))
        out = np.load(tmp / "y.npy")
        off = np.abs(out.astype(np.float64) - ref) / lsb
        print(f"qhw predict vs the quantized module on {len(x)} images: {int((off > 0.5).sum())} of "
              f"{off.size} outputs differ, by at most {off.max():.0f} output LSB")
        result = {"outputs": int(off.size), "differing": int((off > 0.5).sum()), "max_lsb": float(off.max())}
        if args.vectors:
            out_dir = tmp / "build"
            qhw_cli("compile", str(archive), "--input-shape", dims, "-o", str(out_dir),
                    "--vectors", str(args.vectors))
            for backend in ("rtl", "hls"):
                sim = json.loads(qhw_cli("simulate", str(out_dir), "--backend", backend, "--json"))
                print(f"{backend.upper()} simulation: {sim['mismatches']} mismatches on "
                      f"{sim.get('samples', args.vectors)} vectors")
                result[f"{backend}_mismatches"] = sim["mismatches"] if sim["ok"] else -1
    return result


if __name__ == "__main__":
    main()
