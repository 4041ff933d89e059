"""torch.ao quantized models (eager and FX, x86/fbgemm) against PyTorch's own quantized kernels.

The models are quantized by torch.ao inside the tests (calibrated on random data), run by PyTorch,
and imported by qhw from the live module (Python API) and from a TorchScript archive (the CLI).
The oracle is the quantized module's output; qhw must equal it except at float32 ties (fbgemm
rounds acc + bias and the requantization product to float32 first, qhw computes them exactly).
"""
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
tq = pytest.importorskip("torch.ao.quantization")

from qhw.errors import ModelError  # noqa: E402
from qhw.frontends import load_torch  # noqa: E402
from qhw.frontends.torch_quantized import load_torchscript  # noqa: E402
from qhw.golden import run_raw  # noqa: E402
from qhw.ops import get  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

#: the documented float32-tie band: at most this share of outputs may differ, by one code
TIE_SHARE = 0.005


@pytest.fixture(autouse=True, scope="module")
def _engine():
    if "x86" not in torch.backends.quantized.supported_engines:
        pytest.skip("PyTorch without the x86 quantized engine")
    old = torch.backends.quantized.engine
    torch.backends.quantized.engine = "x86"
    yield
    torch.backends.quantized.engine = old


class EagerMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.fc1, self.relu1 = nn.Linear(16, 24), nn.ReLU()
        self.fc2, self.relu2 = nn.Linear(24, 12), nn.ReLU()
        self.fc3 = nn.Linear(12, 5)

    def forward(self, x):
        return self.dequant(self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(self.quant(x)))))))


class EagerCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.conv1, self.relu1 = nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2)
        self.relu2 = nn.ReLU()
        self.flat = nn.Flatten()
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        x = self.pool(self.relu1(self.conv1(self.quant(x))))
        return self.dequant(self.fc(self.flat(self.relu2(self.conv2(x)))))


class FxConv1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.relu = nn.Conv1d(2, 6, 3, padding=1), nn.ReLU()
        self.conv2 = nn.Conv1d(6, 4, 3)
        self.fc = nn.Linear(24, 3)

    def forward(self, x):
        return self.fc(torch.flatten(self.conv2(self.relu(self.conv1(x))), 1))


class EagerResidual(nn.Module):
    """FloatFunctional add and add_relu (QFunctional after convert), ReLU6 and Hardtanh on codes."""

    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.fc1, self.fc2, self.fc3 = nn.Linear(12, 12), nn.Linear(12, 12), nn.Linear(12, 6)
        self.six, self.tanh = nn.ReLU6(), nn.Hardtanh(-0.7, 0.9)
        self.skip, self.skip_relu = nn.quantized.FloatFunctional(), nn.quantized.FloatFunctional()

    def forward(self, x):
        x = self.quant(x)
        h = self.six(self.fc1(x))
        y = self.skip.add(self.tanh(self.fc2(h)), x)
        return self.dequant(self.fc3(self.skip_relu.add_relu(y, h)))


class EagerTables(nn.Module):
    """Sigmoid / Hardsigmoid / Tanh (fixed output qparams) and quantized LeakyReLU as code tables,
    joined by FloatFunctional.cat (every input requantized to the cat's own qparams)."""

    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.fc1, self.fc2, self.fc3 = nn.Linear(10, 8), nn.Linear(8, 8), nn.Linear(32, 5)
        self.sig, self.hsig, self.tanh, self.leaky = nn.Sigmoid(), nn.Hardsigmoid(), nn.Tanh(), nn.LeakyReLU(0.1)
        self.cat = nn.quantized.FloatFunctional()

    def forward(self, x):
        h = self.fc1(self.quant(x))
        parts = [self.sig(h), self.hsig(self.fc2(h)), self.tanh(h), self.leaky(h)]
        return self.dequant(self.fc3(self.cat.cat(parts, 1)))


class EagerPoolCat(nn.Module):
    """Channel cat of two convolutions (channels-last quantized tensors: quantized::cat's fast
    path), AvgPool2d, AdaptiveAvgPool2d to 1x1 (global average), Sigmoid on a conv."""

    def __init__(self, cin=3, c1=4, c2=3):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.conv1, self.conv2 = nn.Conv2d(cin, c1, 3, padding=1), nn.Conv2d(cin, c2, 3, padding=1)
        self.sig, self.cat = nn.Sigmoid(), nn.quantized.FloatFunctional()
        self.pool, self.gap = nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c1 + c2, 4)

    def forward(self, x):
        x = self.quant(x)
        y = self.cat.cat([self.conv1(x), self.sig(self.conv2(x))], 1)
        return self.dequant(self.fc(torch.flatten(self.gap(self.pool(y)), 1)))


class FxPoolCat(nn.Module):
    """The functional forms FX converts: torch.cat, torch.sigmoid/tanh, F.avg_pool2d with a
    3x3 window (9 taps), F.leaky_relu (quantized::leaky_relu with its own qparams)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1, self.fc2 = nn.Linear(5, 6), nn.Linear(6, 3)

    def forward(self, x):
        y = torch.cat([self.conv1(x), torch.sigmoid(self.conv2(x))], 1)
        y = self.gap(torch.nn.functional.avg_pool2d(y, 3))
        h = torch.tanh(self.fc1(torch.flatten(y, 1)))
        return self.fc2(torch.nn.functional.leaky_relu(h, 0.1))


def _eager(model, fuse, shape, per_channel=True, seed=0):
    torch.manual_seed(seed)
    model = model.eval()
    model.qconfig = tq.get_default_qconfig("x86") if per_channel else tq.QConfig(
        activation=tq.HistogramObserver.with_args(reduce_range=True), weight=tq.default_weight_observer)
    if fuse:
        tq.fuse_modules(model, fuse, inplace=True)
    prepared = tq.prepare(model)
    with torch.no_grad():
        prepared(torch.randn((256,) + shape) * 1.5)
    return tq.convert(prepared)


def _fx(model, shape, seed=0):
    from torch.ao.quantization import quantize_fx

    torch.manual_seed(seed)
    model = model.eval()
    prepared = quantize_fx.prepare_fx(model, tq.get_default_qconfig_mapping("x86"),
                                      (torch.randn((1,) + shape),))
    with torch.no_grad():
        prepared(torch.randn((256,) + shape) * 1.5)
    return quantize_fx.convert_fx(prepared)


def _channels_last(x: np.ndarray) -> np.ndarray:
    return x.transpose((0,) + tuple(range(2, x.ndim)) + (1,)) if x.ndim > 2 else x


def _qhw(graph, x: np.ndarray) -> np.ndarray:
    inp, out = graph.node(graph.input_names[0]), graph.node(graph.output_names[0])
    raw = run_raw(graph, {inp.name: get("input").encode(inp, _channels_last(x))}).outputs[out.name]
    return get("output").decode(out, raw)


def _inputs(shape, n=3000, seed=1):
    """Random inputs plus values on the input quantizer's ties are added per model below."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n,) + shape, generator=g) * 1.5


def _compare(model, graph, x) -> None:
    with torch.no_grad():
        ref = model(x).numpy()
    y = _qhw(graph, x.numpy())
    assert y.shape == ref.shape
    out = graph.node(graph.output_names[0])
    lsb = float(np.max(out.qparams.scale))
    diff = np.abs(y.astype(np.float64) - ref)
    assert diff.max() <= lsb * 1.0001, f"off by more than one output code: {diff.max() / lsb:.2f} LSB"
    share = float(np.mean(diff > 0))
    assert share <= TIE_SHARE, f"{share:.4%} of outputs differ (the float32 tie band allows {TIE_SHARE:.1%})"


CASES = {
    "eager_mlp_per_channel": lambda: (_eager(EagerMlp(), [["fc1", "relu1"], ["fc2", "relu2"]], (16,)), (16,)),
    "eager_mlp_per_tensor": lambda: (_eager(EagerMlp(), [["fc1", "relu1"]], (16,), per_channel=False), (16,)),
    "eager_cnn": lambda: (_eager(EagerCnn(), [["conv1", "relu1"]], (3, 6, 6)), (3, 6, 6)),
    "fx_conv1d": lambda: (_fx(FxConv1d(), (2, 8)), (2, 8)),
    "eager_residual": lambda: (_eager(EagerResidual(), None, (12,)), (12,)),
    "eager_tables_cat": lambda: (_eager(EagerTables(), None, (10,)), (10,)),
    "eager_pool_cat": lambda: (_eager(EagerPoolCat(), None, (3, 6, 6)), (3, 6, 6)),
    "fx_pool_cat": lambda: (_fx(FxPoolCat(), (2, 6, 6)), (2, 6, 6)),
}


@pytest.mark.parametrize("case", ["eager_tables_cat", "eager_pool_cat", "fx_pool_cat"])
def test_tables_cat_pool_from_torchscript(case, tmp_path):
    """The same models through a TorchScript archive (what the CLI reads)."""
    model, shape = CASES[case]()
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    graph = load_torchscript(path, input_shape=shape)
    assert {"code_table", "concat"} <= {n.op for n in graph.nodes()}
    _compare(torch.jit.load(str(path)), graph, _inputs(shape, seed=5))


class _Pool(nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.quant, self.pool, self.dequant = tq.QuantStub(), pool, tq.DeQuantStub()

    def forward(self, x):
        return self.dequant(self.pool(self.quant(x)))


@pytest.mark.parametrize("zero_point", [0, 37, 128])
@pytest.mark.parametrize("pool", ["avg2", "avg3", "avg2x3", "adaptive4"])
def test_average_pool_rounds_every_window_sum_as_pytorch(pool, zero_point):
    """Windows holding every possible sum of codes 0..255 (the x.5 ties of even windows, odd
    zero points where subtracting the zero point first would round the other way), through
    the quantized module with its input scale and zero point set by hand."""
    mod = {"avg2": nn.AvgPool2d(2), "avg3": nn.AvgPool2d(3), "avg2x3": nn.AvgPool2d((2, 3)),
           "adaptive4": nn.AdaptiveAvgPool2d(1)}[pool]
    k = {"avg2": (2, 2), "avg3": (3, 3), "avg2x3": (2, 3), "adaptive4": (4, 4)}[pool]
    taps = k[0] * k[1]
    model = _eager(_Pool(mod), None, (1,) + k)
    scale = 0.05
    model.quant.scale, model.quant.zero_point = torch.tensor([scale]), torch.tensor([zero_point])
    sums = np.arange(0, 255 * taps + 1)
    codes = np.zeros((sums.size, taps))
    rest = sums.copy()
    for i in range(taps):  # fill each window greedily to reach every sum
        codes[:, i] = np.minimum(rest, 255)
        rest = rest - codes[:, i]
    x = torch.from_numpy(((codes - zero_point) * scale).astype(np.float32).reshape((-1, 1) + k))
    graph = load_torch(model, (1,) + k)
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_array_equal(_qhw(graph, x.numpy()), ref)


def _qint8_pool(pool):
    """A quant -> pool -> dequant module converted by torch.ao with qint8 activations."""
    model = _Pool(pool).eval()
    model.qconfig = tq.QConfig(activation=tq.MinMaxObserver.with_args(dtype=torch.qint8),
                               weight=tq.default_weight_observer)
    prepared = tq.prepare(model)
    with torch.no_grad():
        prepared(torch.randn(64, 1, 6, 6))
    return tq.convert(prepared)


@pytest.mark.parametrize("zero_point", [-128, -5, 0, 37, 127])
@pytest.mark.parametrize("pool", ["avg2", "avg3", "adaptive4"])
def test_qint8_average_pool_rounds_every_window_sum_as_pytorch(pool, zero_point):
    """qint8 activations (signed codes, signed window sums): every window sum of codes
    -128..127 reached by greedy and evenly spread windows, through the converted module."""
    mod = {"avg2": nn.AvgPool2d(2), "avg3": nn.AvgPool2d(3), "adaptive4": nn.AdaptiveAvgPool2d(1)}[pool]
    k = {"avg2": (2, 2), "avg3": (3, 3), "adaptive4": (4, 4)}[pool]
    taps = k[0] * k[1]
    model = _qint8_pool(mod)
    assert model.quant(torch.zeros(1, 1, *k)).dtype == torch.qint8
    scale = 0.05
    model.quant.scale, model.quant.zero_point = torch.tensor([scale]), torch.tensor([zero_point])
    sums = np.arange(-128 * taps, 127 * taps + 1)
    greedy = np.zeros((sums.size, taps))
    rest = sums - (-128) * taps
    for i in range(taps):  # fill each window greedily (offsets from -128) to reach every sum
        greedy[:, i] = np.minimum(rest, 255) - 128
        rest = rest - (greedy[:, i] + 128)
    even = np.floor_divide(sums, taps)[:, None] + (np.arange(taps)[None, :] < (sums % taps)[:, None])
    codes = np.concatenate([greedy, even])
    assert np.array_equal(codes.sum(axis=1), np.concatenate([sums, sums])) and np.abs(codes).max() <= 128
    x = torch.from_numpy(((codes - zero_point) * scale).astype(np.float32).reshape((-1, 1) + k))
    graph = load_torch(model, (1,) + k)
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_array_equal(_qhw(graph, x.numpy()), ref)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_equals_pytorch(case):
    model, shape = CASES[case]()
    graph = load_torch(model, shape)
    _compare(model, graph, _inputs(shape))


def test_input_quantization_equals_quantize_per_tensor():
    """Values exactly on x.5 codes (where the order of rounding and adding the zero point
    matters), random values and lengths that are not a multiple of the vector width."""
    model, _ = CASES["eager_mlp_per_channel"]()
    graph = load_torch(model, (16,))
    inp = graph.node(graph.input_names[0])
    s, z = float(model.quant.scale), int(model.quant.zero_point)
    k = np.arange(-300, 300, dtype=np.float32)
    for x in [(k + 0.5) * np.float32(s), np.random.default_rng(0).standard_normal(997).astype(np.float32) * 4,
              np.float32(s) * np.array([0.49999997, 0.5, 1.5, 2.5, -0.5, -1.5, 1e9, -1e9], np.float32)]:
        ref = torch.quantize_per_tensor(torch.from_numpy(x), s, z, torch.quint8).int_repr().numpy()
        got = get("input").encode(inp, x.reshape(-1, 1).repeat(16, 1))[:, 0]
        np.testing.assert_array_equal(got + z, ref.astype(np.int64))


@pytest.fixture(scope="module")
def cnn_archive(tmp_path_factory):
    model, shape = CASES["eager_cnn"]()
    path = tmp_path_factory.mktemp("ts") / "cnn.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    return model, shape, path


def test_torchscript_archive_equals_its_module(cnn_archive):
    model, shape, path = cnn_archive
    graph = load_torchscript(path, input_shape=shape)
    _compare(torch.jit.load(str(path)), graph, _inputs(shape, seed=3))


def test_fx_torchscript_archive(tmp_path):
    model, shape = CASES["fx_conv1d"]()
    path = tmp_path / "fx.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    _compare(model, load_torchscript(path, input_shape=shape), _inputs(shape, seed=4))


def test_archive_code_is_never_run(cnn_archive, tmp_path, monkeypatch):
    """qhw reads the archive's graph and attributes; a forward call would be the archive's code."""
    model, shape, path = cnn_archive
    calls = []
    real = torch.jit.load

    def load(*a, **k):
        sm = real(*a, **k)
        sm.forward = lambda *x: calls.append(x)  # a call would be recorded, not run
        return sm

    monkeypatch.setattr(torch.jit, "load", load)
    load_torchscript(path, input_shape=shape)
    assert calls == []


def test_state_dict_and_pickles_are_refused_unread(tmp_path):
    model, _ = CASES["eager_mlp_per_tensor"]()
    sd = tmp_path / "weights.pth"
    torch.save(model.state_dict(), str(sd))
    with pytest.raises(ModelError, match="not a TorchScript archive"):
        load_torchscript(sd, input_shape=(16,))
    junk = tmp_path / "junk.pt"
    with zipfile.ZipFile(junk, "w") as z:
        z.writestr("m/data.pkl", b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(ModelError, match="not a TorchScript archive"):
        load_torchscript(junk, input_shape=(16,))
    text = tmp_path / "text.pt"
    text.write_text("hello")
    with pytest.raises(ModelError, match="not a TorchScript archive"):
        load_torchscript(text, input_shape=(16,))


def test_missing_input_shape_is_one_clear_error(cnn_archive):
    with pytest.raises(ModelError, match="input shape"):
        load_torchscript(cnn_archive[2])


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.fc = nn.Linear(4, 4)
        self.act = nn.Hardswish()

    def forward(self, x):
        return self.dequant(self.act(self.fc(self.quant(x))))


def test_unsupported_quantized_module_is_named(tmp_path):
    model = _eager(Unsupported(), None, (4,))
    with pytest.raises(ModelError, match=r"'act' \(Hardswish\)"):
        load_torch(model, (4,))
    path = tmp_path / "u.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    with pytest.raises(ModelError, match="module 'act'.*Hardswish"):
        load_torchscript(path, input_shape=(4,))


def test_cli_predict_compile_simulate(cnn_archive, tmp_path):
    """The archive through the CLI: `qhw predict` equals the TorchScript module; `qhw compile`
    then `qhw simulate` (RTL under Verilator, HLS under g++ with ap_types) equal the golden codes."""
    from click.testing import CliRunner

    from qhw.cli import cli

    model, shape, path = cnn_archive
    x = _inputs(shape, n=500, seed=7)
    np.save(tmp_path / "x.npy", _channels_last(x.numpy()))
    run = CliRunner().invoke
    r = run(cli, ["predict", str(path), "--input-shape", ",".join(map(str, shape)),
                  "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    with torch.no_grad():
        ref = torch.jit.load(str(path))(x).numpy()
    y = np.load(tmp_path / "y.npy")
    assert y.shape == ref.shape and np.mean(y != ref) <= TIE_SHARE
    out = tmp_path / "out"
    r = run(cli, ["compile", str(path), "--input-shape", ",".join(map(str, shape)), "-o", str(out),
                  "--vectors", "64"])
    assert r.exit_code == 0, r.output
    for backend in ("rtl", "hls"):
        r = run(cli, ["simulate", str(out), "--backend", backend])
        assert r.exit_code == 0 and "0 mismatches" in r.output, r.output


def test_cli_input_shape_errors(cnn_archive, tmp_path):
    from bad_input_harness import assert_error, run_qhw

    _, shape, path = cnn_archive
    assert_error(run_qhw(["inspect", str(path)], cwd=tmp_path), "input shape", "--input-shape")
    assert_error(run_qhw(["inspect", str(path), "--input-shape", "3,x,6"], cwd=tmp_path),
                 "--input-shape", "integers")
    assert_error(run_qhw(["inspect", str(path), "--input-shape", "3,0,6"], cwd=tmp_path), ">= 1")
    native = tmp_path / "m.yaml"
    native.write_text("name: m\n")
    assert_error(run_qhw(["inspect", str(native), "--input-shape", "3,6,6"], cwd=tmp_path),
                 "--input-shape applies to TorchScript")


def test_cli_tables_cat_pool_compile_simulate(tmp_path):
    """Code tables, cat and the window-sum average pool through the CLI: `qhw predict` equals
    the archive's module; RTL (Verilator) and HLS (g++) simulations equal the golden codes."""
    from click.testing import CliRunner

    from qhw.cli import cli

    shape = (2, 4, 4)  # a small twin of eager_pool_cat: each code table is a ROM per element
    model = _eager(EagerPoolCat(2, 2, 1), None, shape)
    path = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    x = _inputs(shape, n=400, seed=8)
    np.save(tmp_path / "x.npy", _channels_last(x.numpy()))
    dims = ",".join(map(str, shape))
    run = CliRunner().invoke
    r = run(cli, ["predict", str(path), "--input-shape", dims, "--input", str(tmp_path / "x.npy"),
                  "--output", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    with torch.no_grad():
        ref = torch.jit.load(str(path))(x).numpy()
    y = np.load(tmp_path / "y.npy")
    assert y.shape == ref.shape and np.mean(y != ref) <= TIE_SHARE
    out = tmp_path / "out"
    r = run(cli, ["compile", str(path), "--input-shape", dims, "-o", str(out), "--vectors", "48"])
    assert r.exit_code == 0, r.output
    for backend in ("rtl", "hls"):
        r = run(cli, ["simulate", str(out), "--backend", backend])
        assert r.exit_code == 0 and "0 mismatches" in r.output, r.output


def test_non_uniform_average_pools_are_named():
    """Windows of different sizes (AdaptiveAvgPool2d to a size that does not divide the input)
    and padded average pools are refused, naming the module and why."""
    model = _eager(_Pool(nn.AdaptiveAvgPool2d(2)), None, (1, 5, 5))
    with pytest.raises(ModelError, match=r"'pool' \(AdaptiveAvgPool2d\).*uniform windows"):
        load_torch(model, (1, 5, 5))
    model = _eager(_Pool(nn.AvgPool2d(3, padding=1)), None, (1, 6, 6))
    with pytest.raises(ModelError, match=r"'pool' \(AvgPool2d\).*padding"):
        load_torch(model, (1, 6, 6))
