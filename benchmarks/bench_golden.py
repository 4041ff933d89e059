"""Golden model vs float32 numpy on the MLP 16-64-32-32-5 at ap_fixed<16,6>, 100,000 samples.

Run: python benchmarks/bench_golden.py   (target, issue 4: golden <= 3x the float time)
Two precisions: qhw's default (lossless accumulators) and hls4ml's flat ap_fixed<16,6>
everywhere (narrow accumulators: every product rounded on its own, see qhw/fixed/accumulate.py).
If hls4ml is importable, its predict() (C simulation) on the hls4ml-style model is timed too.
"""
from __future__ import annotations

import numpy as np

from qhw import golden
from qhw.testing import models
from timing import best_of


def float32_mlp(graph, x):
    h = x.astype(np.float32)
    ws = [(n.params["weight"].astype(np.float32), n.params["bias"].astype(np.float32))
          for n in graph.nodes() if n.op == "dense"]
    for i, (w, b) in enumerate(ws):
        h = h @ w + b
        if i < len(ws) - 1:
            h = np.maximum(h, 0)
    return h


def main(n=100_000):
    x = np.random.default_rng(0).standard_normal((n, 16))
    lossless = models.mlp(fmt="ap_fixed<16,6>")
    flat = models.mlp(fmt="ap_fixed<16,6>", config={f"fc{i}": {"accum": "ap_fixed<16,6>"} for i in range(1, 5)})
    t_float = best_of(lambda: float32_mlp(lossless, x), repeat=7)
    print(f"{n:,} samples, MLP 16-64-32-32-5")
    print(f"float32 numpy                           {t_float:8.3f} s")
    for name, g in (("golden, lossless accumulators", lossless), ("golden, hls4ml-style ap_fixed<16,6> accum", flat)):
        t = best_of(lambda: golden.run(g, x, count_overflow=False), repeat=7 if g is lossless else 2)
        print(f"{name:40s}{t:8.3f} s   {t / t_float:6.1f}x float")
    try:
        import hls4ml  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        print("hls4ml (or torch) not installed: its predict() was not timed")
        return
    t_golden = best_of(lambda: golden.run(flat, x, count_overflow=False), repeat=2)
    predict = _hls4ml_model(flat)
    t_h = best_of(lambda: predict(x), repeat=1)
    print(f"{'hls4ml 1.3.0 predict (C sim), same formats':40s}{t_h:8.3f} s   "
          f"{t_h / t_golden:6.1f}x the golden model's time")


def _hls4ml_model(graph):
    """The same MLP through hls4ml (PyTorch frontend, Vitis backend, io_parallel), compiled."""
    import tempfile

    import hls4ml
    import torch

    mods, names = [], {}
    dense = [n for n in graph.nodes() if n.op == "dense"]
    for i, n in enumerate(dense):
        lin = torch.nn.Linear(*n.params["weight"].shape)
        lin.weight.data = torch.tensor(n.params["weight"].T, dtype=torch.float32)
        lin.bias.data = torch.tensor(n.params["bias"], dtype=torch.float32)
        names[str(len(mods))] = n
        mods.append(lin)
        if i < len(dense) - 1:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    cfg = hls4ml.utils.config_from_pytorch_model(model, input_shape=(16,), granularity="name",
                                                 backend="Vitis", default_precision="ap_fixed<16,6>")
    for name, layer in cfg["LayerName"].items():
        if name in names:
            layer["Precision"] = {k: str(names[name].formats[k]) for k in ("weight", "bias", "accum", "result")}
    out = tempfile.mkdtemp(prefix="bench_hls4ml_")
    hm = hls4ml.converters.convert_from_pytorch_model(model, hls_config=cfg, output_dir=out,
                                                      backend="Vitis", io_type="io_parallel")
    hm.compile()
    return lambda x: hm.predict(x.astype(np.float32))


if __name__ == "__main__":
    main()
