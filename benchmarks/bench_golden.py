"""Golden model vs float32 numpy on the MLP 16-64-32-32-5 at ap_fixed<16,6>, 100,000 samples.

Run: python benchmarks/bench_golden.py   (target, issue 4: golden <= 3x the float time)
Two precisions: qhw's default (lossless accumulators) and hls4ml's conventions from an hls4ml
config (Model Precision ap_fixed<16,6>: every slot, narrow accumulators, every product assigned to
accum_t, see qhw/fixed/accumulate.py). Targets (issue 15): hls4ml's predict / golden >= 50x with
hls4ml's conventions, >= 100x lossless.
If hls4ml is importable, its predict() (C simulation) on the hls4ml-style model is timed too.
"""
from __future__ import annotations

import numpy as np

from qhw import golden
from qhw.config import load_config
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
    # float32-representable inputs: hls4ml's predict takes float32
    x = np.random.default_rng(0).standard_normal((n, 16)).astype(np.float32).astype(np.float64)
    lossless = models.mlp(fmt="ap_fixed<16,6>")
    # hls4ml's conventions from hls4ml's own config (granularity model): ap_fixed<16,6> in every
    # slot, each product assigned to accum_t (qhw.config reads the config with hls4ml's meaning)
    flat = models.mlp(config=load_config({"Model": {"Precision": {"default": "ap_fixed<16,6>"},
                                                    "ReuseFactor": 1, "Strategy": "Latency"}}))
    assert all(n.attrs.get("product_cast") for n in flat.nodes() if n.op == "dense")
    for g in (lossless, flat):  # constants as hls4ml sees them: float32 (from torch)
        for node in g.nodes():
            node.params = {k: v.astype(np.float32).astype(np.float64) for k, v in node.params.items()}
    t_float = best_of(lambda: float32_mlp(lossless, x), repeat=7)
    print(f"{n:,} samples, MLP 16-64-32-32-5, {golden._threads(None)} golden threads")
    print(f"float32 numpy                                  {t_float:8.3f} s")
    times = {}
    for name, g in (("lossless accumulators", lossless), ("hls4ml-style ap_fixed<16,6> accum", flat)):
        for threads in (1, None):
            t = best_of(lambda: golden.run(g, x, count_overflow=False, threads=threads),
                        repeat=7 if g is lossless else 3)
            label = f"golden, {name}" + (", 1 thread" if threads == 1 else "")
            print(f"{label:47s}{t:8.3f} s   {t / t_float:6.1f}x float")
        times[name] = t
    try:
        import hls4ml  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        print("hls4ml (or torch) not installed: its predict() was not timed")
        return
    for name, g in (("lossless accumulators", lossless), ("hls4ml-style ap_fixed<16,6> accum", flat)):
        predict = _hls4ml_model(g)
        want = golden.to_float(g, golden.run(g, x[:2000]))
        same = np.array_equal(predict(x[:2000]), next(iter(want.values())))
        t_h = best_of(lambda: predict(x), repeat=1)
        label = f"hls4ml predict (C sim), {name.split()[0]}"
        print(f"{label:47s}{t_h:8.3f} s   {t_h / times[name]:6.1f}x the golden model's time"
              f"  (outputs {'identical' if same else 'DIFFER'})")


def _hls4ml_model(graph):
    """The same MLP through hls4ml (PyTorch frontend, Vitis backend, io_parallel), compiled."""
    import contextlib
    import io
    import tempfile

    import hls4ml
    import torch

    mods, names = [], {"input_1": graph.node(graph.input_names[0])}
    for n in graph.nodes():
        if n.op == "dense":
            lin = torch.nn.Linear(*n.params["weight"].shape)
            lin.weight.data = torch.tensor(n.params["weight"].T, dtype=torch.float32)
            lin.bias.data = torch.tensor(n.params["bias"], dtype=torch.float32)
        elif n.op == "relu":
            lin = torch.nn.ReLU()
        else:
            continue
        names[f"_{len(mods)}"] = n  # hls4ml names a Sequential's layers _0, _1, ...
        mods.append(lin)
    model = torch.nn.Sequential(*mods)
    cfg = hls4ml.utils.config_from_pytorch_model(model, input_shape=(16,), granularity="name",
                                                 backend="Vitis", default_precision="ap_fixed<16,6>")
    for name, layer in cfg["LayerName"].items():
        n = names[name]  # every layer gets qhw's formats
        slots = ("weight", "bias", "accum", "result") if n.op == "dense" else ("result",)
        layer["Precision"] = {k: str(n.formats[k]) for k in slots}
    out = tempfile.mkdtemp(prefix="bench_hls4ml_")
    with contextlib.redirect_stdout(io.StringIO()):  # hls4ml prints its topology
        hm = hls4ml.converters.convert_from_pytorch_model(model, hls_config=cfg, output_dir=out,
                                                          backend="Vitis", io_type="io_parallel")
    with contextlib.redirect_stdout(io.StringIO()):
        hm.compile()
    return lambda x: np.asarray(hm.predict(x.astype(np.float32)), np.float64).reshape(len(x), -1)


if __name__ == "__main__":
    main()
