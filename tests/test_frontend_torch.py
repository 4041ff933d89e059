"""PyTorch frontend against PyTorch itself: float semantics equal, fixed-point error within what
the formats allow (a bound derived here from the formats), clear errors for what cannot map."""
import sys

import numpy as np
import pytest

from qhw import golden
from qhw.errors import MissingToolError, ModelError
from qhw.fixed import FixedFormat

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
from qhw.frontends.torch import MappingReport, load_torch  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")



def _randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) * 2 - 1)
            m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=g) - 0.5)
    return model.eval()


def _torch64(model, x):
    with torch.no_grad():
        y = model.double()(torch.from_numpy(np.asarray(x, np.float64))).numpy()
    model.float()
    return y


def _mlp(seed=0, act=nn.ReLU):
    torch.manual_seed(seed)
    return _randomize_bn(nn.Sequential(nn.Linear(16, 32), nn.BatchNorm1d(32), act(),
                                       nn.Linear(32, 16), act(), nn.Linear(16, 5)), seed)


class ConvNet(nn.Module):
    """Conv2d + BN + pools + functional calls + view flatten + residual add."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Conv2d(8, 6, 2, padding="same"),
                                      nn.ReLU6(), nn.AvgPool2d(2))
        self.fc1 = nn.Linear(6 * 2 * 2, 10)
        self.fc2 = nn.Linear(10, 10)
        self.head = nn.Linear(10, 3)

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        h = F.relu(self.fc1(x))
        return self.head(h + torch.tanh(self.fc2(h)))


class FunctionalNet(nn.Module):
    """Activations and flattening called as functions and tensor methods."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 3)
        self.fc = nn.Linear(16, 6)

    def forward(self, x):
        x = torch.flatten(F.relu6(self.conv(x)), 1)
        x = self.fc(x.relu())
        return F.hardsigmoid(x) + x.sigmoid() + torch.relu(x).reshape(-1, 6)


def _conv1d_net():
    torch.manual_seed(3)
    return _randomize_bn(nn.Sequential(
        nn.Conv1d(2, 4, 3, stride=2, padding=2), nn.BatchNorm1d(4), nn.Sigmoid(),
        nn.AvgPool1d(2, padding=1), nn.MaxPool1d(2, stride=1), nn.Conv1d(4, 3, 2, dilation=2),
        nn.Hardsigmoid(), nn.Flatten(), nn.BatchNorm1d(9), nn.Dropout(), nn.Linear(9, 2),
        nn.Hardtanh(-0.5, 0.5)), 3)


def _cl(x):
    """PyTorch's channels-first batch as the channels-last data the qhw graph takes."""
    return np.moveaxis(x, 1, -1)


def _upsample_net():
    torch.manual_seed(4)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Upsample(scale_factor=(2, 3)), nn.ReLU(),
                         nn.Conv2d(3, 2, 3), nn.Upsample(size=(16, 14)), nn.Flatten(),
                         nn.Linear(2 * 16 * 14, 3))


# ------------------------------------------------------------------ float semantics
@pytest.mark.parametrize("case", ["mlp", "mlp_sigmoid", "conv2d", "conv1d", "functional", "upsample"])
def test_float_mode_equals_torch(case):
    model, shape = {"mlp": (_mlp(), (16,)), "mlp_sigmoid": (_mlp(1, nn.Sigmoid), (16,)),
                    "conv2d": (ConvNet().eval(), (3, 8, 8)), "conv1d": (_conv1d_net(), (2, 17)),
                    "functional": (FunctionalNet().eval(), (3, 6)),
                    "upsample": (_upsample_net().eval(), (2, 5, 3))}[case]
    torch.manual_seed(5)
    _randomize_bn(model, 5)
    g = load_torch(model, shape)
    x = np.random.default_rng(21).normal(size=(64,) + shape)
    got = golden.run(g, _cl(x) if len(shape) > 1 else x, float_mode=True).output()
    want = _torch64(model, x)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    with torch.no_grad():  # and the float32 module itself, to float32 precision
        want32 = model(torch.from_numpy(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(got, want32, rtol=0, atol=1e-5)


# ------------------------------------------------------------------ fixed point vs float
def _q_err(fmt: FixedFormat) -> float:
    """Largest error of assigning an in-range real to ``fmt``: truncation < 1 LSB, rounding 1/2."""
    return fmt.lsb if fmt.rounding in ("TRN", "TRN_ZERO") else fmt.lsb / 2


def _mlp_bound(g, x) -> np.ndarray:
    """Per-sample, per-output bound on |fixed - exact| for a dense/relu chain with lossless
    accumulators, from the formats alone: x^w^ - xw = (x^ - x) w^ + x (w^ - w), |w^| <= |w| + e_w,
    then the result assignment's error; relu is 1-Lipschitz and its result is lossless."""
    tensors = golden.run(g, x, float_mode=True, keep_all=True).tensors
    e = np.full_like(x, _q_err(g.node(g.input_names[0]).formats["result"]))
    for node in list(g.nodes())[1:]:
        if node.op == "dense":
            f = node.formats
            w = np.abs(node.params["weight"])
            x_in = np.abs(tensors[node.inputs[0]])
            ew = _q_err(f["weight"])
            eb = _q_err(f["bias"]) if "bias" in f else 0.0
            e = e @ (w + ew) + x_in.sum(axis=1, keepdims=True) * ew + eb + _q_err(f["result"])
        else:
            assert node.op in ("relu", "output")
    return e


@pytest.mark.parametrize("fmt", ["ap_fixed<16,6>", "ap_fixed<12,5,AP_RND,AP_SAT>"])
def test_mlp_golden_within_format_bound(fmt):
    model = _mlp(7)
    g = load_torch(model, (16,), input_format=fmt, default=fmt)
    assert not [n for n in g.notes if ".accum" in n], g.notes  # lossless accumulators
    x = np.random.default_rng(21).normal(size=(500, 16)) * 1.5
    res = golden.run(g, x)
    assert all(c.saturated + c.wrapped + c.zeroed == 0 for c in res.overflow.values())
    want = _torch64(model, x)
    err = np.abs(golden.to_float(g, res)["output"] - want)
    bound = _mlp_bound(g, x)
    assert np.all(err <= bound + 1e-9), float((err - bound).max())
    assert 0 < err.max() and bound.max() < 0.2 * np.ptp(want)  # the bound is not vacuous


@pytest.mark.parametrize("case", ["mlp", "conv2d", "conv1d"])
def test_error_shrinks_as_bits_grow(case):
    if case == "conv1d":  # drop the ROM activations, whose table size sets an error floor
        torch.manual_seed(4)
        model, shape = _randomize_bn(nn.Sequential(
            nn.Conv1d(2, 4, 3, padding=1), nn.BatchNorm1d(4), nn.ReLU(), nn.MaxPool1d(2),
            nn.Flatten(), nn.Linear(16, 3))), (2, 8)
    else:
        model, shape = {"mlp": (_mlp(2), (16,)),
                        "conv2d": (nn.Sequential(*list(ConvNet().features), nn.Flatten(),
                                                 nn.Linear(24, 4)), (3, 8, 8))}[case]
        _randomize_bn(model, 9)
    x = np.random.default_rng(21).normal(size=(200,) + shape)
    want = _torch64(model, x)
    errs = []
    for w in (8, 12, 16, 20, 24):
        g = load_torch(model, shape, input_format=f"ap_fixed<{w},4,AP_RND>",
                       default=f"ap_fixed<{w},6,AP_RND,AP_SAT>")
        got = golden.to_float(g, golden.run(g, _cl(x) if len(shape) > 1 else x))["output"]
        errs.append(float(np.abs(got - want).max()))
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-3, errs


# ------------------------------------------------------------------ mapping
def test_names_layout_and_report():
    rep = MappingReport()
    g = load_torch(ConvNet().eval(), (3, 8, 8), report=rep)
    assert g.node("x").shape == (8, 8, 3)
    assert g.node("features.0").op == "conv2d" and g.node("features.0").params["weight"].shape == (3, 3, 3, 8)
    assert g.node("fc1").params["weight"].shape == (24, 10)
    assert "features.1" not in g  # folded
    rows = {r.source: r for r in rep.rows}
    assert rows["features.1"].op == "folded into features.0"
    assert rows["view"].op == "flatten" and rows["view"].shape == (24,)
    assert rows["fc1"].formats["weight"] == str(g.node("fc1").formats["weight"])
    assert rows["add"].op == "add"
    table = rep.table()
    assert "features.4" in table and "conv2d" in table and "folded into features.0" in table


def test_batchnorm_after_flatten_and_before_linear_folds_forward():
    torch.manual_seed(8)
    model = _randomize_bn(nn.Sequential(nn.Conv2d(2, 3, 2), nn.Flatten(), nn.BatchNorm1d(27),
                                        nn.Linear(27, 4)), 8)
    rep = MappingReport()
    g = load_torch(model, (2, 4, 4), report=rep)
    assert [r.op for r in rep.rows if r.kind == "BatchNorm1d"] == ["folded into 3"]
    x = np.random.default_rng(21).normal(size=(20, 2, 4, 4))
    np.testing.assert_allclose(golden.run(g, _cl(x), float_mode=True).output(), _torch64(model, x),
                               rtol=0, atol=1e-9)


def test_module_is_not_modified():
    model = _mlp(1)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    load_torch(model, (16,))
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_channels_last_input_layout_for_sequences():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU()).eval()
    g = load_torch(model, (5, 6), input_layout="channels_last")
    assert g.node("input_1").shape == (5, 6)
    x = np.random.default_rng(21).normal(size=(7, 5, 6))
    np.testing.assert_allclose(golden.run(g, x, float_mode=True).output(), _torch64(model, x), atol=1e-12)
    with pytest.raises(ModelError, match="channels-first"):
        load_torch(model, (5, 6))  # taken as (C, L): a Linear over L cannot map


# ------------------------------------------------------------------ errors
class _Untraceable(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


class _Exp(nn.Module):
    def forward(self, x):
        return torch.exp(x)


@pytest.mark.parametrize("model,shape,match", [
    (nn.Sequential(nn.Linear(4, 4), nn.LeakyReLU()), (4,), r"module '1' \(LeakyReLU\).*supported modules: .*Linear"),
    (_Exp(), (4,), r"'exp'.*supported"),
    (_Untraceable(), (4,), "not torch.fx-traceable"),
    (nn.Sequential(nn.Conv2d(4, 4, 3, groups=2)), (4, 6, 6), "groups=2"),
    (nn.Sequential(nn.MaxPool2d(2, ceil_mode=True)), (1, 5, 5), "ceil_mode"),
    (nn.Sequential(nn.AvgPool2d(3, padding=1, count_include_pad=False)), (1, 5, 5), "count_include_pad"),
    (nn.Sequential(nn.Flatten(0)), (2, 3), "start_dim=0"),
    (nn.Sequential(nn.BatchNorm1d(4), nn.ReLU()), (4,), "batch norm '0'"),
    (nn.Sequential(nn.BatchNorm1d(4, track_running_stats=False), nn.Linear(4, 2)), (4,), "track_running_stats"),
    (nn.Sequential(nn.Linear(4, 4)), (5,), "does not run on an input of shape"),
    (nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear")), (1, 4, 4), "mode 'bilinear'"),
    (nn.Sequential(nn.Upsample(scale_factor=1.5)), (1, 4, 4), "not an integer factor"),
])
def test_unsupported_models_raise_one_clear_error(model, shape, match):
    with pytest.raises(ModelError, match=match):
        load_torch(model.eval(), shape)


def test_bad_arguments():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        load_torch(lambda x: x, (3,))
    with pytest.raises(ValueError, match="example_input_shape"):
        load_torch(nn.Linear(3, 2), (0,))
    with pytest.raises(ValueError, match="input_layout"):
        load_torch(nn.Linear(3, 2), (3,), input_layout="nhwc")


def test_missing_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingToolError, match=r"pip install 'qhw\[torch\]'"):
        load_torch(object(), (3,))


def test_embedding_imports_with_the_per_row_scheme():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 3)).eval()
    g = load_torch(model, (3,))
    assert g.node("input_1").formats["result"] == FixedFormat(4, 4, False)
    idx = np.random.default_rng(6).integers(0, 10, size=(30, 3))
    with torch.no_grad():
        want = model.double()(torch.from_numpy(idx)).numpy()
    np.testing.assert_allclose(golden.run(g, idx, float_mode=True).output(), want, rtol=0, atol=1e-9)
    emb = next(n for n in g.nodes() if n.op == "embedding")
    assert {"table", "scale", "result"} <= set(emb.formats)
    # fixed point: every looked-up value within half a code step of its row (plus the result LSB)
    table = model[0].weight.detach().double().numpy()
    got = golden.run(g, idx, keep_all=True)
    vals = emb.formats["result"].to_float(got.tensors[emb.name])
    step = np.abs(table).max(axis=1) / 127
    bound = step[idx][..., None] * 0.51 + emb.formats["result"].lsb
    assert (np.abs(vals - table[idx]) <= bound).all()