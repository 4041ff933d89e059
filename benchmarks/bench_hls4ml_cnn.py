"""hls4ml io_stream on the CNN of issue 18, beside qhw's figures (benchmarks/bench_scale.py).

    PYTHONPATH=$PWD python benchmarks/bench_hls4ml_cnn.py [--samples 100] [--out EMPTY_DIR] [--trace N]

The CNN is ``qhw.testing.models.cnn()`` (3x32x32 -> three 3x3 'same' convs 16/32/32 + ReLU +
2x2 max pool -> dense 10; 4-bit weights, ap_fixed<8,3> activations). The same network is built
as a PyTorch module holding qhw's quantized weights and biases as their exact real values (so
neither tool rounds a parameter), converted by hls4ml 1.3.0 (``convert_from_pytorch_model``,
Vitis backend, ``io_stream``, every layer's precision set to the format qhw gives the matching
node: weight, bias, accumulator, result), and built by hls4ml's own ``compile()`` (its g++
C-simulation library). Beside it, qhw's own HLS C simulation of the graph (``write_hls``, its
g++ build with an empty qhw cache, as bench_scale.py's). Printed: conversion time, g++ build
times (wall, and CPU of the child processes), ``predict()`` and C-simulation rates, and how many
outputs equal qhw's golden model, on inputs over the whole input range and on narrow ones.
``--trace N`` also compares every layer's values on the first N samples (hls4ml's ``trace()``
against the golden model's tensors).

The conventions that make the two the same network (``--trace`` checks every layer):
- parameters: qhw's raw codes (``node.param_raw``) decoded to real values; ``FixedFormat.quantize``
  returns raw codes, not reals (the first draft of this script gave them to torch as weights);
- input: hls4ml's documentation says its PyTorch frontend cannot transpose a channels-first input
  under io_stream, so the config says ``channels_last_conversion="internal"`` and ``predict`` gets
  qhw's own channels-last (N, H, W, C) arrays (1.3.0's "full" does insert a working transpose
  layer for io_stream; the outputs are the same, with one more layer in the stream);
- flatten: hls4ml puts a transpose to channels-first before a PyTorch Flatten (PyTorch's
  (C, H, W) order), so the twin's Linear holds qhw's (H, W, C)-ordered rows reordered to (C, H, W);
- formats: each conv/dense gets qhw's weight, bias, accumulator (lossless) and result formats;
  ReLU and max pool their result format (exact: ap_fixed<8,3> -> ap_ufixed<7,2> drops no bit of
  a non-negative value); hls4ml's max pool reads its window through its ``accum`` type, set to
  the pool's result format rather than left to the model's default precision.
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from qhw import golden
from qhw.ops import Trait, has
from qhw.testing import models


#: the narrow input set's range: few results leave ap_fixed<8,3> (the whole range wraps nearly
#: every conv2/conv3 result: the weights' truncation to 4 bits biases their sums)
NARROW = 0.5


def child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _real(node, key: str) -> np.ndarray:
    """A parameter's exact real value in its qhw format (what qhw's hardware holds)."""
    return node.formats[key].to_float(node.param_raw(key))


def torch_twin(graph):
    """(model, nodes): the CNN as a torch.nn.Sequential (channels first) with qhw's quantized
    parameters, and for each module the graph node it stands for (None for the Flatten)."""
    import torch

    mods, nodes = [], []
    for node in graph.nodes():
        if node.op == "conv2d":
            w = _real(node, "weight")  # qhw: (kh, kw, cin, cout); torch: (cout, cin, kh, kw)
            pad = node.attrs["padding"]  # top, left, bottom, right
            if pad[:2] != pad[2:]:
                raise ValueError(f"{node.name}: asymmetric padding {pad} has no torch.nn.Conv2d twin")
            m = torch.nn.Conv2d(w.shape[2], w.shape[3], w.shape[:2], padding=tuple(pad[:2]))
            m.weight.data = torch.tensor(np.transpose(w, (3, 2, 0, 1)), dtype=torch.float32)
        elif node.op == "dense":
            w = _real(node, "weight")  # rows in qhw's (H, W, C) flatten order
            h, wd, c = graph.node(graph.node(node.inputs[0]).inputs[0]).shape  # before the flatten
            rows = np.arange(w.shape[0]).reshape(h, wd, c).transpose(2, 0, 1).ravel()
            m = torch.nn.Linear(w.shape[0], w.shape[1])
            m.weight.data = torch.tensor(w[rows].T, dtype=torch.float32)
            mods.append(torch.nn.Flatten())
            nodes.append(None)
        elif node.op == "relu":
            m = torch.nn.ReLU()
        elif node.op == "maxpool2d":
            m = torch.nn.MaxPool2d(node.attrs["kernel_size"])
        else:
            continue
        if has(node.op, Trait.MAC):
            m.bias.data = torch.tensor(_real(node, "bias"), dtype=torch.float32)
        mods.append(m)
        nodes.append(node)
    return torch.nn.Sequential(*mods), nodes


def hls4ml_config(graph, model, nodes, trace: bool = False) -> dict:
    """hls4ml's per-layer config (layer ``_i`` is module i) with qhw's formats."""
    import hls4ml

    x = graph.node(graph.input_names[0])
    cfg = hls4ml.utils.config_from_pytorch_model(
        model, input_shape=tuple(np.roll(x.shape, 1)), granularity="name", backend="Vitis",
        default_precision=str(x.formats["result"]), channels_last_conversion="internal")
    for lname, layer in cfg["LayerName"].items():
        layer["Trace"] = trace
        if lname.startswith("input"):
            layer["Precision"] = {"result": str(x.formats["result"])}
            continue
        node = nodes[int(lname.lstrip("_"))]
        if node is None:  # the Flatten: a reshape, no arithmetic
            continue
        f = {k: str(v) for k, v in node.formats.items()}
        if has(node.op, Trait.MAC):
            layer["Precision"] = {k: f[k] for k in ("weight", "bias", "accum", "result")}
        elif "accum" in layer["Precision"]:  # the pool's window type
            layer["Precision"] = {"accum": f["result"], "result": f["result"]}
        else:
            layer["Precision"] = {"result": f["result"]}
    return cfg


def convert(graph, out: Path, trace: bool = False):
    """(hls4ml model, torch nodes): the graph's twin converted with io_stream (not compiled)."""
    import hls4ml

    model, nodes = torch_twin(graph)
    cfg = hls4ml_config(graph, model, nodes, trace)
    hm = hls4ml.converters.convert_from_pytorch_model(model, hls_config=cfg, output_dir=str(out),
                                                      backend="Vitis", io_type="io_stream")
    return hm, nodes


def sample_inputs(graph, n: int, seed: int = 0, span: float | None = None) -> np.ndarray:
    """Real inputs on the input format's grid (channels last): uniform over its whole range (as
    qhw's own test vectors), or over [-span, span]."""
    f = graph.node(graph.input_names[0]).formats["result"]
    shape = graph.node(graph.input_names[0]).shape
    lo, hi = (f.raw_min, f.raw_max) if span is None else (-round(span / f.lsb), round(span / f.lsb))
    raw = np.random.default_rng(seed).integers(lo, hi + 1, (n, *shape))
    return f.to_float(raw)


def hls4ml_raw(graph, hm_out) -> np.ndarray:
    """hls4ml's output values as raw codes of qhw's output format (exact: same grid)."""
    f = graph.node(graph.output_names[0]).formats["result"]
    y = np.asarray(hm_out, np.float64)
    raw = f.quantize(y)
    assert np.array_equal(f.to_float(raw), y), "hls4ml output off qhw's output grid"
    return raw


def compare_layers(graph, hm, nodes, x: np.ndarray) -> list[tuple[str, str, int, int, int]]:
    """Per layer: (hls4ml layer, qhw node, equal elements, elements, max |diff| in LSBs)."""
    _, traces = hm.trace(np.ascontiguousarray(x, np.float32))
    ref = golden.run(graph, x, keep_all=True).tensors
    rows = []
    for lname, got in traces.items():
        if not lname.startswith("_"):
            continue
        node = nodes[int(lname.lstrip("_"))]
        if node is None:
            continue
        fmt = node.formats["result"]
        want = fmt.to_float(ref[node.name]).reshape(len(x), -1)
        got = np.asarray(got, np.float64).reshape(len(x), -1)
        rows.append((lname, node.name, int((got == want).sum()), want.size,
                     int(np.abs(got - want).max() / fmt.lsb) if got.shape == want.shape else -1))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--out", type=Path, default=None,
                    help="an empty folder for hls4ml's project, qhw's and qhw's g++ cache "
                         "(default: a temporary one)")
    ap.add_argument("--trace", type=int, default=0, metavar="N",
                    help="also compare every layer on the first N samples")
    args = ap.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="hls4ml_cnn_"))
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out}: not empty (both builds must start from an empty folder)")
    os.environ["QHW_CACHE_DIR"] = str(out / "qhw_cache")  # qhw's g++ build cold, as hls4ml's

    import hls4ml

    from qhw.backends.hls import sim as hls_sim
    from qhw.backends.hls import write_hls

    graph = models.cnn()
    t0 = time.perf_counter()
    hm, nodes = convert(graph, out / "hls4ml", trace=args.trace > 0)
    t_conv = time.perf_counter() - t0
    load0 = os.getloadavg()
    c0, t0 = child_cpu(), time.perf_counter()
    hm.compile()
    t_build, cpu_build = time.perf_counter() - t0, child_cpu() - c0
    t0 = time.perf_counter()
    write_hls(graph, out / "qhw")
    q_write = time.perf_counter() - t0
    q_load0 = os.getloadavg()
    c0, t0 = child_cpu(), time.perf_counter()
    hls_sim.build(out / "qhw")
    q_build, q_cpu = time.perf_counter() - t0, child_cpu() - c0

    print(f"hls4ml {hls4ml.__version__} io_stream, Vitis backend ({out / 'hls4ml'}) beside qhw's HLS "
          f"C simulation ({out / 'qhw'}), both g++ builds cold")
    print(f"  hls4ml: convert {t_conv:.1f} s; compile() (g++ -O3) {t_build:.1f} s wall, "
          f"{cpu_build:.1f} s CPU (load average at its start {load0[0]:.1f})")
    print(f"  qhw:    write_hls {q_write:.1f} s; g++ build ({' '.join(hls_sim.CSIM_FLAGS)}) "
          f"{q_build:.1f} s wall, {q_cpu:.1f} s CPU (load average at its start {q_load0[0]:.1f})")
    fmt = graph.node(graph.input_names[0]).formats["result"]
    for label, span in (("inputs over the whole input range", None), (f"inputs in +-{NARROW}", NARROW)):
        x = sample_inputs(graph, args.samples, span=span)
        t0, p0 = time.perf_counter(), time.process_time()
        y_h = hls4ml_raw(graph, hm.predict(np.ascontiguousarray(x, np.float32))).reshape(len(x), -1)
        t_pred, cpu_pred = time.perf_counter() - t0, time.process_time() - p0
        c0, t0 = child_cpu(), time.perf_counter()
        y_c = hls_sim.run_raw(out / "qhw", fmt.quantize(x))
        y_c = next(iter(y_c.values())).reshape(len(x), -1)
        t_csim, cpu_csim = time.perf_counter() - t0, child_cpu() - c0
        t0 = time.perf_counter()
        res = golden.run(graph, x)
        t_gold = time.perf_counter() - t0
        y_q = res.output().reshape(len(x), -1)
        diff = np.abs(y_h - y_q)
        wrapped = {k: f"{c.wrapped / c.total:.0%}" for k, c in res.overflow.items() if c.wrapped}
        print(f"{label}, {len(x)} samples:")
        print(f"  hls4ml predict {t_pred:.2f} s ({len(x) / t_pred:.1f} samples/s; {cpu_pred:.2f} s CPU); "
              f"qhw C simulation {t_csim:.2f} s ({len(x) / t_csim:.1f} samples/s; {cpu_csim:.2f} s CPU); "
              f"qhw golden {t_gold:.2f} s")
        print(f"  hls4ml outputs equal to qhw's golden: {int((diff == 0).sum())} of {y_q.size} "
              f"({int((diff == 0).all(axis=1).sum())} of {len(x)} samples all equal; "
              f"max difference {int(diff.max())} LSB); qhw's C simulation: "
              f"{int((y_c == y_q).sum())} of {y_q.size}; {len(np.unique(y_q))} distinct output codes")
        print(f"  results wrapped (AP_WRAP) in qhw's golden: {wrapped or 'none'}")
    if args.trace:
        x = sample_inputs(graph, args.trace)
        print(f"per layer, first {args.trace} samples over the whole input range (hls4ml's trace()):")
        for lname, name, same, size, worst in compare_layers(graph, hm, nodes, x):
            print(f"  {lname:>4} {name:6} {same:7} of {size:7} equal, max diff {worst} LSB")
    print(f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
