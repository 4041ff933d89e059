"""Side-by-side with hls4ml 1.3.0 (the run behind docs/hls_vs_hls4ml.md).

The same MLP and formats go through hls4ml (PyTorch frontend, Vitis backend, C simulation via
``compile()``/``predict()``) and through qhw's HLS backend (g++ C simulation). hls4ml==1.3.0 is
in the ``dev`` extra, so CI runs these; they skip only where hls4ml is not installed.
"""
from __future__ import annotations

import numpy as np
import pytest

import report
from qhw.backends.hls import run_raw, write_hls
from qhw.fixed import FixedFormat
from qhw.golden import run_raw as golden_raw
from qhw.flow import GraphBuilder

hls4ml = pytest.importorskip("hls4ml")
torch = pytest.importorskip("torch")

WIDTHS = (16, 64, 32, 32, 5)
FIN, FW, FB = FixedFormat(8, 3), FixedFormat(8, 1), FixedFormat(8, 2)
FRES, FRELU = FixedFormat(12, 6), FixedFormat(8, 4, False, "TRN", "SAT")
ACCUMS = {"trn_wrap": FixedFormat(18, 8), "rnd_zero_sat": FixedFormat(14, 6, True, "RND_ZERO", "SAT")}
N = 5000


def _weights(widths=WIDTHS, seed=0):
    rng = np.random.default_rng(seed)
    return [(FW.to_float(rng.integers(FW.raw_min, FW.raw_max + 1, (k, m))),
             FB.to_float(rng.integers(FB.raw_min, FB.raw_max + 1, m)))
            for k, m in zip(widths[:-1], widths[1:])]


def _mlp(name, layers, accum: FixedFormat, result: FixedFormat, hidden: FixedFormat,
         product_cast: bool, sigmoid: dict | None = None):
    """dense (+ relu between layers); the last layer followed by a sigmoid when given."""
    b = GraphBuilder(name)
    t = b.input("x", (layers[0][0].shape[0],), FIN)
    for i, (w, bias) in enumerate(layers):
        t = b.dense(f"fc{i}", t, w, bias, formats={"weight": FW, "bias": FB, "accum": accum,
                                                   "result": result}, product_cast=product_cast)
        if i < len(layers) - 1:
            t = b.relu(f"relu{i}", t, {"result": hidden})
        elif sigmoid:
            t = b.unary("sigmoid", "sigmoid", t, **sigmoid)
    b.output("y", t, FRES if not sigmoid else SIG_OUT)
    return b.build()


def _qhw_graph(accum: FixedFormat, product_cast: bool):
    return _mlp("mlp_vs_hls4ml", _weights(), accum, FRES, FRELU, product_cast)


def _hls4ml_predict(accum: FixedFormat, io_type: str, out_dir, x_float):
    layers = _weights()
    mods = []
    for i, (w, bias) in enumerate(layers):
        lin = torch.nn.Linear(*w.shape)
        lin.weight.data = torch.tensor(w.T, dtype=torch.float32)
        lin.bias.data = torch.tensor(bias, dtype=torch.float32)
        mods.append(lin)
        if i < len(layers) - 1:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    cfg = hls4ml.utils.config_from_pytorch_model(model, input_shape=(WIDTHS[0],),
                                                 granularity="name", backend="Vitis")
    for name, layer in cfg["LayerName"].items():
        if name == "input_1":
            layer["Precision"]["result"] = str(FIN)
        elif isinstance(model[int(name[1:])], torch.nn.Linear):
            layer["Precision"] = {"weight": str(FW), "bias": str(FB), "accum": str(accum),
                                  "result": str(FRES)}
        else:
            layer["Precision"] = {"result": str(FRELU)}
    hm = hls4ml.converters.convert_from_pytorch_model(
        model, hls_config=cfg, output_dir=str(out_dir), backend="Vitis", io_type=io_type)
    hm.compile()
    return FRES.quantize(np.asarray(hm.predict(x_float.astype(np.float32)), np.float64))


@pytest.fixture(scope="module")
def inputs():
    return np.random.default_rng(1).integers(FIN.raw_min, FIN.raw_max + 1, (N, WIDTHS[0]))


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
@pytest.mark.parametrize("acc_name", sorted(ACCUMS))
def test_qhw_hls_against_hls4ml(acc_name, io_type, inputs, tmp_path, request):
    accum = ACCUMS[acc_name]
    theirs = _hls4ml_predict(accum, io_type, tmp_path / "hls4ml", FIN.to_float(inputs))
    mismatches = {}
    for product_cast in (True, False):
        g = _qhw_graph(accum, product_cast)
        write_hls(g, tmp_path / f"qhw_pc{int(product_cast)}",
                  interface="stream" if io_type == "io_stream" else "array")
        ours = run_raw(tmp_path / f"qhw_pc{int(product_cast)}", inputs)["y"]
        np.testing.assert_array_equal(ours, golden_raw(g, inputs).outputs["y"])
        mismatches[product_cast] = int((ours != theirs).any(axis=1).sum())
        report.add(f"qhw hls vs hls4ml 1.3.0 ({io_type}, accum {accum}, product_cast="
                   f"{product_cast}): {mismatches[product_cast]} of {N} samples differ", request)
    # hls4ml casts every product to accum_t: with product_cast qhw must match it exactly.
    assert mismatches[True] == 0
    if accum.rounding == "TRN" and accum.overflow == "WRAP":
        assert mismatches[False] == 0  # separable modes: the cast of each product changes nothing
    else:
        assert mismatches[False] > 0  # non-separable: the two conventions really differ


# --- issue 4's acceptance model: 16-32-16-4 with a sigmoid output, hls4ml's conventions throughout
SIG_WIDTHS = (16, 32, 16, 4)
SIG_ACC, SIG_RES = FixedFormat(16, 6), FixedFormat(16, 6)
SIG_OUT, SIG_TABLE = FixedFormat(16, 6), FixedFormat(18, 8)  # hls4ml's defaults for the table


def _sigmoid_layers():
    return _weights(SIG_WIDTHS, seed=7)


def _sigmoid_qhw_graph():
    return _mlp("mlp_sigmoid_vs_hls4ml", _sigmoid_layers(), SIG_ACC, SIG_RES, SIG_RES, True,
                sigmoid={"formats": {"result": SIG_OUT, "table": SIG_TABLE}, "variant": "hls4ml",
                         "table_size": 1024})


def test_sigmoid_mlp_golden_equals_hls4ml_csim(tmp_path, request):
    """Golden model (and qhw's HLS) == hls4ml 1.3.0's C simulation, 16-32-16-4 + sigmoid table."""
    layers = _sigmoid_layers()
    mods = []
    for i, (w, bias) in enumerate(layers):
        lin = torch.nn.Linear(*w.shape)
        lin.weight.data = torch.tensor(w.T, dtype=torch.float32)
        lin.bias.data = torch.tensor(bias, dtype=torch.float32)
        mods += [lin, torch.nn.ReLU() if i < len(layers) - 1 else torch.nn.Sigmoid()]
    model = torch.nn.Sequential(*mods)
    cfg = hls4ml.utils.config_from_pytorch_model(model, input_shape=(SIG_WIDTHS[0],),
                                                 granularity="name", backend="Vitis",
                                                 default_precision=str(SIG_RES))
    for name, layer in cfg["LayerName"].items():
        if name == "input_1":
            layer["Precision"]["result"] = str(FIN)
        elif isinstance(model[int(name[1:])], torch.nn.Linear):
            layer["Precision"] = {"weight": str(FW), "bias": str(FB), "accum": str(SIG_ACC),
                                  "result": str(SIG_RES)}
        elif isinstance(model[int(name[1:])], torch.nn.Sigmoid):
            layer["Precision"] = {"result": str(SIG_OUT), "table": str(SIG_TABLE)}
            layer["table_size"] = 1024
        else:
            layer["Precision"] = {"result": str(SIG_RES)}
    hm = hls4ml.converters.convert_from_pytorch_model(
        model, hls_config=cfg, output_dir=str(tmp_path / "hls4ml"), backend="Vitis",
        io_type="io_parallel")
    hm.compile()
    raw = np.random.default_rng(3).integers(FIN.raw_min, FIN.raw_max + 1, (N, SIG_WIDTHS[0]))
    theirs = SIG_OUT.quantize(np.asarray(hm.predict(FIN.to_float(raw).astype(np.float32)), np.float64))
    g = _sigmoid_qhw_graph()
    golden = golden_raw(g, raw).outputs["y"]
    sat = float((golden == 0).mean() + (golden == SIG_OUT.quantize(1.0)).mean())
    assert sat < 0.9, "inputs should exercise the table, not only its ends"
    np.testing.assert_array_equal(golden, theirs)
    write_hls(g, tmp_path / "qhw")
    np.testing.assert_array_equal(run_raw(tmp_path / "qhw", raw)["y"], golden)
    report.add(f"golden == hls4ml 1.3.0 csim, MLP 16-32-16-4 + sigmoid table: {N} samples, "
               f"0 differ ({len(np.unique(golden))} distinct outputs)", request)
