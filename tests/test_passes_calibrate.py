"""calibrate: the qparams it puts on tensors equal PyTorch's observers fed with PyTorch's own
activations of the same network (captured by forward hooks), batch by batch."""
import math

import numpy as np
import pytest

from qhw import golden
from qhw.errors import ModelError
from qhw.passes.calibrate import calibrate, observe
from qhw.quant import observers as qo

torch = pytest.importorskip("torch")
nn = torch.nn
from qhw.frontends.torch import load_torch  # noqa: E402


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 24), nn.ReLU(), nn.Linear(24, 16), nn.Tanh(),
                         nn.Linear(16, 5)).eval()


def _data(n=600, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 12)) * rng.uniform(0.5, 3, 12) + 0.3).astype(np.float32)


def _torch_activations(model, x) -> dict[str, np.ndarray]:
    """Every module's output (named as the module), and the input, computed by PyTorch."""
    acts = {"input_1": x}
    hooks = [m.register_forward_hook(lambda mod, i, o, name=name: acts.__setitem__(name, o.detach().numpy()))
             for name, m in model.named_children()]
    with torch.no_grad():
        model.double()(torch.from_numpy(x.astype(np.float64)))
    model.float()
    for h in hooks:
        h.remove()
    return acts


def _torch_observer(observer, scheme, per_channel, bits=8, **kw):
    tq = torch.ao.quantization.observer
    qmin, qmax = (0, 2**bits - 1) if scheme == "affine" else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    kind = "affine" if scheme == "affine" else "symmetric"
    dtype = torch.quint8 if scheme == "affine" else torch.qint8
    if per_channel:
        cls = {"minmax": tq.PerChannelMinMaxObserver,
               "moving_average": tq.MovingAveragePerChannelMinMaxObserver}[observer]
        return cls(ch_axis=-1, dtype=dtype, qscheme=getattr(torch, f"per_channel_{kind}"),
                   quant_min=qmin, quant_max=qmax, **kw)
    cls = {"minmax": tq.MinMaxObserver, "moving_average": tq.MovingAverageMinMaxObserver,
           "histogram": tq.HistogramObserver}[observer]
    return cls(dtype=dtype, qscheme=getattr(torch, f"per_tensor_{kind}"), quant_min=qmin,
               quant_max=qmax, **kw)


def _torch_qparams(model, x, batch, observer, scheme, per_channel, bits=8, **kw):
    out = {}
    obs = {}
    for s in range(0, len(x), batch):
        for name, a in _torch_activations(model, x[s:s + batch]).items():
            o = obs.setdefault(name, _torch_observer(observer, scheme, per_channel, bits, **kw))
            o(torch.from_numpy(np.asarray(a, np.float32)))
    for name, o in obs.items():
        sc, zp = o.calculate_qparams()
        out[name] = (sc.numpy(), zp.numpy())
    return out


@pytest.mark.parametrize("observer,kw", [("minmax", {}), ("moving_average", {"averaging_constant": 0.2})])
@pytest.mark.parametrize("scheme", ["symmetric", "affine"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_qparams_equal_torch_observers(observer, kw, scheme, per_channel):
    model, x = _net(), _data()
    g = load_torch(model, (12,))
    cal = calibrate(g, x, observer=observer, scheme=scheme, per_channel=per_channel,
                    batch_size=150, **kw)
    want = _torch_qparams(model, x, 150, observer, scheme, per_channel, **kw)
    assert set(want) == {n.name for n in cal.nodes() if n.op != "output"}
    for name, (scale, zp) in want.items():
        qp = cal.node(name).qparams
        np.testing.assert_array_equal(np.atleast_1d(qp.scale_array()), scale.astype(np.float64), err_msg=name)
        np.testing.assert_array_equal(np.atleast_1d(qp.zero_point_array()), zp, err_msg=name)
        assert qp.signed == (scheme == "symmetric") and qp.bits == 8
        assert qp.axis == (0 if per_channel else None)


def test_six_bit_codes_equal_torch():
    model, x = _net(3), _data(200, 4)
    cal = calibrate(load_torch(model, (12,)), x, scheme="symmetric", bits=6)
    want = _torch_qparams(model, x, len(x), "minmax", "symmetric", False, bits=6)
    for name, (scale, zp) in want.items():
        assert cal.node(name).qparams.scale == float(scale[0])
        assert cal.node(name).formats["result"].width == 6 or cal.node(name).op in ("relu", "output")


def test_histogram_within_one_lsb_of_torch():
    model, x = _net(5), _data(400, 6)
    cal = calibrate(load_torch(model, (12,)), x, observer="histogram", scheme="affine", batch_size=200,
                    bins=256)
    want = _torch_qparams(model, x, 200, "histogram", "affine", False, bins=256)
    for name, (scale, zp) in want.items():
        qp = cal.node(name).qparams
        assert abs(qp.scale - float(scale[0])) <= float(scale[0]) / 255, name
        assert abs(qp.zero_point - int(zp[0])) <= 1, name


def test_percentile_range_is_the_observers():
    model, x = _net(7), _data(500, 8)
    g = load_torch(model, (12,))
    cal = calibrate(g, x, observer="percentile", scheme="symmetric", percentile=1.0)
    acts = _torch_activations(model, x)
    for name, a in acts.items():
        o = qo.PercentileObserver(percentile=1.0, dtype="qint8", qscheme="per_tensor_symmetric")
        o(np.asarray(a, np.float32))
        assert cal.node(name).qparams.scale == float(o.calculate_qparams()[0][0]), name


@pytest.mark.parametrize("observer", ["minmax", "moving_average", "histogram", "percentile"])
def test_pow2_formats_fit_the_float_range(observer):
    model, x = _net(9), _data(400, 10)
    g = load_torch(model, (12,))
    cal = calibrate(g, x, observer=observer, scheme="pow2", bits=8, batch_size=100)
    acts = _torch_activations(model, x)
    for node in cal.nodes():
        if node.op == "output":
            continue
        qp, fmt = node.qparams, node.formats["result"]
        assert qp.is_power_of_two and qp.to_fixed_format().integer_bits == fmt.integer_bits
        assert qp.scale == fmt.lsb and qp.signed == fmt.signed
        if observer == "minmax" and node.op not in ("relu",):  # relu keeps the lossless format
            a = acts[node.name]
            assert fmt.width == 8 and fmt.signed == bool(a.min() < 0)
            m = float(np.abs(a).max())
            # the format holds the largest magnitude (to the last code) and one integer bit
            # fewer would not
            assert m <= 2.0 ** (fmt.integer_bits - fmt.signed) + fmt.lsb
            assert m > 2.0 ** (fmt.integer_bits - fmt.signed - 1) * 0.99


def test_weights_and_biases_get_fitted_formats():
    model, x = _net(), _data(100)
    cal = calibrate(load_torch(model, (12,)), x, bits=8, weight_bits=6)
    for name, m in [("0", model[0]), ("2", model[2]), ("4", model[4])]:
        node = cal.node(name)
        w = m.weight.detach().numpy()
        wf, bf = node.formats["weight"], node.formats["bias"]
        assert wf.width == 6 and wf.max + wf.lsb >= np.abs(w).max() > wf.max / 2 - wf.lsb
        xf = cal.node(node.inputs[0]).formats["result"]
        assert bf.frac_bits == xf.frac_bits + wf.frac_bits  # the products' grid
    kept = calibrate(load_torch(model, (12,)), x, weights=False)
    assert kept.node("0").formats["weight"] == load_torch(model, (12,)).node("0").formats["weight"]


def test_error_shrinks_as_bits_grow():
    model, x = _net(12), _data(300, 13)
    g = load_torch(model, (12,))
    with torch.no_grad():
        want = model.double()(torch.from_numpy(x.astype(np.float64))).numpy()
    errs = []
    for bits in (4, 6, 8, 10, 12):
        cal = calibrate(g, x, scheme="pow2", bits=bits)
        got = golden.to_float(cal, golden.run(cal, x))["output"]
        errs.append(float(np.abs(got - want).max()))
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 0.05, errs


def test_calibrate_bad_arguments():
    g, x = load_torch(_net(), (12,)), _data(10)
    with pytest.raises(ValueError, match="observer"):
        calibrate(g, x, observer="kl")
    with pytest.raises(ValueError, match="scheme"):
        calibrate(g, x, scheme="log2")
    with pytest.raises(ValueError, match="per-tensor only"):
        calibrate(g, x, observer="histogram", per_channel=True)
    with pytest.raises(ValueError, match="bits"):
        calibrate(g, x, bits=1)
    with pytest.raises(ValueError, match="empty"):
        calibrate(g, [])
    with pytest.raises(ModelError, match="expects"):
        calibrate(g, np.zeros((4, 11)))


def test_observe_is_an_analysis_over_batches():
    g, x = load_torch(_net(), (12,)), _data(90)
    obs = observe(g, iter([x[:30], x[30:]]), observer="minmax")
    assert set(obs) == {"input_1", "0", "1", "2", "3", "4"}
    assert math.isclose(float(obs["input_1"].max_val), float(x.max()), rel_tol=1e-7)
    assert all(n.qparams is None for n in g.nodes())
