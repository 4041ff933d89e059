"""hls4ml's own configs, used unchanged: `qhw predict MODEL --config CFG` == hls4ml's predict.

Configs come from hls4ml 1.3.0's generator (`config_from_pytorch_model`) at granularity model,
type and name, edited the way users edit them (per-layer result/weight/bias/accum with AP_RND /
AP_SAT / RND_CONV, hls4ml's printed `fixed<…>` spelling, `auto` left in place), written to YAML
and given to the real CLI. The oracle is hls4ml's `compile()` + `predict()` (Vitis backend,
io_parallel, g++ C simulation) on 5,000 samples of the same model; its outputs are cached on disk
by the hash of everything that determines them (model, config, inputs, hls4ml version), so only a
changed case pays for hls4ml's compile. MODEL is given both as a native YAML model and as an ONNX
file whose node names are the hls4ml layer names.
"""
from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from qhw.cli import cli
from qhw.flow import GraphBuilder
from qhw.io import save
from qhw.tools.cache import cache_dir

hls4ml = pytest.importorskip("hls4ml")
torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

N = 5000
MLP_WIDTHS = (10, 16, 8, 4)


def _grid(rng, shape, step=2.0 ** -5, lim=1.0):
    """Weights on a 2^-5 grid: every weight type of the tests holds them exactly, so hls4ml's
    decimal weight files and qhw's quantization start from the same values."""
    return np.round(rng.uniform(-lim, lim, shape) / step) * step


def _inputs(shape, seed):
    return np.round(np.random.default_rng(seed).uniform(-8, 8, (N,) + tuple(shape)) * 16) / 16


# ------------------------------------------------------------------ the models, three ways each
def _mlp_layers():
    rng = np.random.default_rng(11)
    return [(_grid(rng, (k, m)), _grid(rng, m)) for k, m in zip(MLP_WIDTHS[:-1], MLP_WIDTHS[1:])]


class _MLP(torch.nn.Module):
    def __init__(self, layers, sigmoid=True):
        super().__init__()
        for i, (w, b) in enumerate(layers):
            lin = torch.nn.Linear(*w.shape)
            lin.weight.data = torch.tensor(w.T, dtype=torch.float32)
            lin.bias.data = torch.tensor(b, dtype=torch.float32)
            setattr(self, f"fc{i + 1}", lin)
        self.relu1, self.relu2 = torch.nn.ReLU(), torch.nn.ReLU()
        if sigmoid:
            self.sig = torch.nn.Sigmoid()

    def forward(self, x):
        y = self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(x)))))
        return self.sig(y) if hasattr(self, "sig") else y


def _cnn_params(dims):
    rng = np.random.default_rng(20 + dims)
    k1, k2 = ((3,), (3,)) if dims == 1 else ((3, 3), (2, 2))
    return (_grid(rng, k1 + (3, 4)), _grid(rng, 4), _grid(rng, k2 + (4, 5)), _grid(rng, 5))


class _CNN(torch.nn.Module):
    """conv1 -> relu1 -> pool1 (max, 2) -> conv2, Conv1d or Conv2d."""

    def __init__(self, dims):
        super().__init__()
        w1, b1, w2, b2 = _cnn_params(dims)
        conv, pool = (torch.nn.Conv1d, torch.nn.MaxPool1d) if dims == 1 else (torch.nn.Conv2d, torch.nn.MaxPool2d)
        self.conv1, self.relu1 = conv(3, 4, w1.shape[:-2]), torch.nn.ReLU()
        self.pool1, self.conv2 = pool(2), conv(4, 5, w2.shape[:-2])
        for c, w, b in ((self.conv1, w1, b1), (self.conv2, w2, b2)):
            c.weight.data = torch.tensor(np.moveaxis(w, (-1, -2), (0, 1)), dtype=torch.float32)
            c.bias.data = torch.tensor(b, dtype=torch.float32)

    def forward(self, x):
        return self.conv2(self.pool1(self.relu1(self.conv1(x))))


CASES = {  # name: (torch module factory, input shape channels-last, torch input shape)
    "mlp": (lambda: _MLP(_mlp_layers()), (MLP_WIDTHS[0],), (MLP_WIDTHS[0],)),
    "cnn1d": (lambda: _CNN(1), (16, 3), (3, 16)),
    # the same net on 10 samples (conv1 8 pixels, pool 4, conv2 2): the compiled RTL is a
    # parallel MAC per output pixel, so half the pixels halve its Verilator build
    "cnn1d_short": (lambda: _CNN(1), (10, 3), (3, 10)),
    "cnn2d": (lambda: _CNN(2), (8, 8, 3), (3, 8, 8)),
}


def _native(case, path, sigmoid=True):
    """The qhw model: float weights, node names = hls4ml's layer names (the MLP without its
    sigmoid output where a test is about formats only: under any config a sigmoid computes
    hls4ml's table, without one qhw's own)."""
    b = GraphBuilder(case)
    shape = CASES[case][1]
    t = b.input("x", shape, "ap_fixed<16,6>")
    if case == "mlp":
        for i, (w, bias) in enumerate(_mlp_layers()):
            t = b.dense(f"fc{i + 1}", t, w, bias)
            if i < 2:
                t = b.relu(f"relu{i + 1}", t)
        if sigmoid:
            t = b.unary("sigmoid", "sig", t)  # a sigmoid output (hls4ml's table under its config)
    else:
        dims = len(shape) - 1
        w1, b1, w2, b2 = _cnn_params(dims)
        conv = b.conv1d if dims == 1 else b.conv2d
        t = conv("conv1", t, w1, b1)
        t = b.relu("relu1", t)
        t = b.pool(f"maxpool{dims}d", "pool1", t, 2)
        t = conv("conv2", t, w2, b2)
    b.output("y", t)
    return save(b.graph, path)


def _onnx(case, path):
    """The same model as an ONNX file (channels-first, as exported), nodes named as in hls4ml."""
    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr, np.float32), name))
        return name

    shape = CASES[case][2]
    if case == "mlp":
        t = "x"
        for i, (w, bias) in enumerate(_mlp_layers()):
            name = f"fc{i + 1}"
            nodes.append(helper.make_node("Gemm", [t, const(f"{name}.w", w), const(f"{name}.b", bias)],
                                          [name], name=name))
            t = name
            if i < 2:
                nodes.append(helper.make_node("Relu", [t], [f"relu{i + 1}"], name=f"relu{i + 1}"))
                t = f"relu{i + 1}"
        nodes.append(helper.make_node("Sigmoid", [t], ["sig"], name="sig"))
        t, out_shape = "sig", [1, MLP_WIDTHS[-1]]
    else:
        dims = len(shape) - 1
        w1, b1, w2, b2 = _cnn_params(dims)
        nchw = lambda w: np.moveaxis(w, (-1, -2), (0, 1))  # noqa: E731
        nodes += [
            helper.make_node("Conv", ["x", const("w1", nchw(w1)), const("b1", b1)], ["conv1"], name="conv1"),
            helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
            helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1", kernel_shape=[2] * dims,
                             strides=[2] * dims),
            helper.make_node("Conv", ["pool1", const("w2", nchw(w2)), const("b2", b2)], ["conv2"], name="conv2"),
        ]
        t, out_shape = "conv2", [1, 5] + ([5] if dims == 1 else [2, 2])
    graph = helper.make_graph(nodes, case, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *shape])],
                              [helper.make_tensor_value_info(t, TensorProto.FLOAT, out_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))
    return path


# ------------------------------------------------------------------ configs, as users make them
def _generated(case, granularity, default):
    model = CASES[case][0]()
    cfg = hls4ml.utils.config_from_pytorch_model(model, input_shape=CASES[case][2], granularity=granularity,
                                                 backend="Vitis", default_precision=default)
    cfg.pop("PytorchModel")  # a torch object; everything else goes to the YAML file unchanged
    return model, cfg


def _write(cfg, path):
    """The config as a user saves it (YAML has lists where hls4ml keeps a tuple)."""
    path.write_text(yaml.safe_dump(json.loads(json.dumps(cfg))))
    return path


def _config(case, variant):
    if variant == "model":  # generated, default precision rounding and saturating, nothing edited
        return _generated(case, "model", "fixed<12,4,RND,SAT,0>")
    if variant == "type":
        model, cfg = _generated(case, "type", "ap_fixed<14,5,AP_RND,AP_SAT>")
        mac = "Dense" if case == "mlp" else ("Conv1D" if case == "cnn1d" else "Conv2D")
        cfg["LayerType"][mac]["Precision"].update(weight="ap_fixed<8,2,AP_RND_CONV,AP_SAT>",
                                                  accum="ap_fixed<15,6,AP_RND,AP_SAT>")
        cfg["LayerType"]["Activation"]["Precision"]["result"] = "ufixed<10,4,RND,SAT,0>"
        return model, cfg
    model, cfg = _generated(case, "name", "fixed<16,6,TRN,WRAP,0>")
    names = cfg["LayerName"]
    names["x"]["Precision"]["result"] = "ap_fixed<10,4>"
    first = "fc1" if case == "mlp" else "conv1"
    names[first]["Precision"].update(weight="ap_fixed<8,2,AP_RND,AP_SAT>", bias="ap_fixed<8,3,AP_RND,AP_SAT>",
                                     accum="ap_fixed<13,5,AP_RND,AP_SAT>")  # result stays auto
    names["relu1"]["Precision"]["result"] = "ufixed<9,4,RND_CONV,SAT,0>"
    if case == "mlp":
        names["fc2"]["Precision"].update(result="fixed<12,5,RND,SAT,0>", accum="ap_fixed<18,8,AP_TRN,AP_SAT>")
        names["relu2"]["Precision"]["result"] = "ap_fixed<10,5,AP_RND_ZERO,AP_SAT>"
        names["fc3"]["ReuseFactor"] = 2
        names["sig"].update(TableSize=512, table_t="ap_fixed<14,2,AP_RND,AP_SAT>")
        names["sig"]["Precision"]["result"] = "ap_ufixed<10,0,AP_RND,AP_SAT>"
    else:
        names["pool1"]["Precision"]["accum"] = "ap_ufixed<8,3,AP_RND,AP_SAT>"
        names["conv2"]["Precision"].update(result="fixed<12,6,RND,SAT,0>")
    return model, cfg


def _hls4ml_predict(case, variant, model, cfg, x_cl, tmp_path_factory):
    """hls4ml's C simulation of the case (channels-last flat outputs), cached by content."""
    key = hashlib.sha256(json.dumps([case, variant, cfg, hls4ml.__version__, repr(model)], sort_keys=True, default=str)
                         .encode() + x_cl.tobytes()
                         + b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()
    cached = cache_dir("hls4ml_oracle") / f"{key}.npy"
    if cached.is_file():
        return np.load(cached)
    out = tmp_path_factory.mktemp(f"hls4ml_{case}_{variant}")
    hm = hls4ml.converters.convert_from_pytorch_model(model, hls_config=copy.deepcopy(cfg), output_dir=str(out),
                                                      backend="Vitis", io_type="io_parallel")
    hm.compile()
    x_cf = np.moveaxis(x_cl, -1, 1) if x_cl.ndim > 2 else x_cl  # hls4ml converts channels-first input
    y = np.asarray(hm.predict(np.ascontiguousarray(x_cf).reshape(len(x_cl), -1).astype(np.float32)), np.float64)
    np.save(cached, y)
    return y


def _qhw_predict(model_path, cfg_path, x, tmp_path):
    np.save(tmp_path / "x.npy", x)
    r = CliRunner().invoke(cli, ["predict", str(model_path), "--config", str(cfg_path), "--input",
                                 str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    return np.load(tmp_path / "y.npy").reshape(len(x), -1), r.output


MATRIX = [("mlp", "model"), ("mlp", "type"), ("mlp", "name"), ("cnn1d", "name"), ("cnn1d", "type"),
          ("cnn2d", "name"), ("cnn2d", "model")]


@pytest.mark.parametrize("case,variant", MATRIX)
def test_predict_equals_hls4ml(case, variant, tmp_path, tmp_path_factory):
    model, cfg = _config(case, variant)
    _write(cfg, tmp_path / "cfg.yaml")
    x = _inputs(CASES[case][1], seed=len(case) + len(variant))
    theirs = _hls4ml_predict(case, variant, model, cfg, x, tmp_path_factory)
    assert theirs.shape[0] == N and np.isfinite(theirs).all()
    for kind, path in (("yaml", _native(case, tmp_path / "m.yaml")), ("onnx", _onnx(case, tmp_path / "m.onnx"))):
        ours, output = _qhw_predict(path, tmp_path / "cfg.yaml", x, tmp_path)
        assert ours.shape == theirs.shape, kind
        differ = int((ours != theirs).any(axis=1).sum())
        assert differ == 0, f"{case}/{variant} as {kind}: {differ} of {N} samples differ from hls4ml"
    if variant != "model":  # generated configs carry Precision.table on every activation (type)
        n_act = 3 if case == "mlp" and variant == "name" else 1
        assert output.count("qhw: warning:") >= n_act
        assert output.count("Precision.table has no effect in hls4ml") == n_act
    if variant == "type":  # hls4ml matches LayerType by its class (Input, Pooling1D), not InputLayer
        assert "LayerType.InputLayer has no effect in hls4ml" in output


def test_configs_really_change_the_numbers(tmp_path):
    """The edited name config and the lossless default give different outputs (the comparison
    above is not vacuous), and `lossless` everywhere equals no config at all."""
    model, cfg = _config("mlp", "name")
    _write(cfg, tmp_path / "cfg.yaml")
    lossless = {"Model": {"Precision": {"default": "ap_fixed<16,6>", "weight": "lossless", "bias": "lossless",
                                        "accum": "lossless", "result": "lossless"}}}
    (tmp_path / "lossless.yaml").write_text(yaml.safe_dump(lossless))
    m = _native("mlp", tmp_path / "m.yaml", sigmoid=False)
    x = _inputs((MLP_WIDTHS[0],), seed=3)
    hls_style, _ = _qhw_predict(m, tmp_path / "cfg.yaml", x, tmp_path)
    lossless_y, _ = _qhw_predict(m, tmp_path / "lossless.yaml", x, tmp_path)
    np.save(tmp_path / "x.npy", x)
    r = CliRunner().invoke(cli, ["predict", str(m), "--input", str(tmp_path / "x.npy"), "--output",
                                 str(tmp_path / "plain.npy")])
    assert r.exit_code == 0, r.output
    plain = np.load(tmp_path / "plain.npy")
    assert (hls_style != plain).any(axis=1).sum() > N // 10
    np.testing.assert_array_equal(lossless_y, plain)
    from qhw.io import load_model
    g_plain, g_lossless = load_model(m), load_model(m, config=tmp_path / "lossless.yaml")
    for node in g_plain.nodes():
        assert g_lossless.node(node.name).formats == node.formats, node.name


# the MLP passes too; one build keeps CI time down. cnn1d_short: every layer still has two or more
# output pixels (the windows slide), the same config, casts and max-pool accum as cnn1d.
@pytest.mark.slow  # a Verilator and a g++ build of the conv net (cnn1d: 78 s CPU cold)
@pytest.mark.parametrize("case", ["cnn1d_short"])
def test_compile_with_an_hls4ml_config_rtl_and_csim_equal_golden(case, tmp_path):
    """`qhw compile MODEL --config CFG`: the RTL (Verilator) and the HLS C simulation (g++) give
    the golden model's codes on the compiled vectors, with hls4ml's product casts into saturating,
    rounding accumulators, a reuse factor of 2 (MLP), a max pooling accum narrower than its input
    (conv net) and hls4ml-spelled types."""
    model, cfg = _config(case, "name")
    _write(cfg, tmp_path / "cfg.yaml")
    m = _native(case, tmp_path / "m.yaml")
    runner = CliRunner()
    r = runner.invoke(cli, ["compile", str(m), "--config", str(tmp_path / "cfg.yaml"), "-o", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "AP_RND" in json.dumps(report)  # the configured formats reached the design
    r = runner.invoke(cli, ["simulate", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output[r.output.index("{"):])
    assert res.get("mismatches") == 0 and res.get("samples", 0) >= 100, res
    # (text output: `simulate --backend hls --json` fails on main, CsimResult has no to_dict)
    r = runner.invoke(cli, ["simulate", str(tmp_path / "out"), "--backend", "hls"])
    assert r.exit_code == 0 and " 0 mismatches" in r.output and "PASS" in r.output, r.output


def test_qhw_formats_exported_as_an_hls4ml_config_give_hls4mls_predict_the_golden_numbers(tmp_path,
                                                                                         tmp_path_factory):
    """The other direction: a model without a config (qhw's lossless accumulators), its formats
    written by qhw as an hls4ml config in hls4ml's spelling, given to hls4ml: hls4ml's predict
    equals qhw's golden model, and the same config read back by qhw changes no format."""
    from qhw import golden
    from qhw.config import hls4ml_config, load_config
    from qhw.io import load_model

    m = _native("mlp", tmp_path / "m.yaml", sigmoid=False)
    g = load_model(m)
    cfg = hls4ml_config(g)
    assert cfg["LayerName"]["fc2"]["Precision"]["accum"].startswith("fixed<")
    x = _inputs((MLP_WIDTHS[0],), seed=5)
    ours = golden.to_float(g, golden.run(g, x))["y"]
    # what hls4ml's PyTorch flow needs besides the types: the input shape, and the layout
    # conversion of PyTorch's weights (without it hls4ml reads them transposed)
    torch_cfg = copy.deepcopy(cfg)
    torch_cfg["InputShape"] = CASES["mlp"][2]
    torch_cfg["Model"].update(ChannelsLastConversion="full", TransposeOutputs=False)
    theirs = _hls4ml_predict("mlp", "exported", _MLP(_mlp_layers(), sigmoid=False), torch_cfg, x,
                             tmp_path_factory)
    assert int((ours != theirs).any(axis=1).sum()) == 0
    g2 = load_model(m, config=load_config(_write(cfg, tmp_path / "cfg.yaml")))
    for node in g.nodes():
        assert g2.node(node.name).formats == node.formats, node.name
