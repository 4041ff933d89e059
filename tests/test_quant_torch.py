"""qhw.quant against PyTorch's own functions and observers (torch==2.13.0, the [torch] extra).

Zero mismatches on >= 100 random tensors per function and mode, including multi-call accumulation.
"""
import numpy as np
import pytest

import qhw.quant as q
from qhw.quant import observers as qo

torch = pytest.importorskip("torch")
N = 100


def _tensors(seed, shape=(7, 13)):
    rng = np.random.default_rng(seed)
    for i in range(N):
        scale = float(10.0 ** rng.uniform(-3, 1))
        x = (rng.standard_normal(shape) * scale * rng.uniform(1, 200)).astype(np.float32)
        if i % 10 == 0:  # exact ties
            x = ((rng.integers(-300, 300, shape) + 0.5) * np.float32(scale)).astype(np.float32)
        yield rng, x, scale


@pytest.mark.parametrize("dtype,qmin,qmax", [("quint8", 0, 255), ("qint8", -128, 127)])
def test_quantize_per_tensor(dtype, qmin, qmax):
    tdtype = getattr(torch, dtype)
    for rng, x, scale in _tensors(1):
        zp = int(rng.integers(qmin, qmax + 1))
        want = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, tdtype).int_repr().numpy()
        got = q.quantize(x, scale, zp, qmin, qmax)
        np.testing.assert_array_equal(got, want)
        deq = torch.quantize_per_tensor(torch.from_numpy(x), scale, zp, tdtype).dequantize().numpy()
        np.testing.assert_array_equal(q.dequantize(got, scale, zp), deq)


@pytest.mark.parametrize("axis", [0, 1])
def test_quantize_per_channel(axis):
    for rng, x, _ in _tensors(2, (6, 9)):
        n = x.shape[axis]
        scales = 10.0 ** rng.uniform(-3, 0, n)
        zps = rng.integers(-20, 20, n)
        t = torch.quantize_per_channel(torch.from_numpy(x), torch.from_numpy(scales),
                                       torch.from_numpy(zps), axis, torch.qint8)
        got = q.quantize(x, scales, zps, -128, 127, axis=axis)
        np.testing.assert_array_equal(got, t.int_repr().numpy())
        np.testing.assert_array_equal(q.dequantize(got, scales, zps, axis=axis), t.dequantize().numpy())


def test_fake_quantize_per_tensor_and_channel():
    for rng, x, scale in _tensors(3, (5, 8)):
        zp = int(rng.integers(0, 256))
        want = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), scale, zp, 0, 255).numpy()
        np.testing.assert_array_equal(q.fake_quantize(x, scale, zp, 0, 255), want)
        scales = (10.0 ** rng.uniform(-3, 0, 8)).astype(np.float32)
        zps = rng.integers(-10, 10, 8).astype(np.int32)
        want = torch.fake_quantize_per_channel_affine(
            torch.from_numpy(x), torch.from_numpy(scales), torch.from_numpy(zps), 1, -128, 127).numpy()
        np.testing.assert_array_equal(q.fake_quantize(x, scales, zps, -128, 127, axis=1), want)


def _feed(obs_q, obs_t, rng, calls, shape=(4, 16)):
    for _ in range(calls):
        x = (rng.standard_normal(shape) * rng.uniform(0.1, 20) + rng.uniform(-5, 5)).astype(np.float32)
        obs_q(x)
        obs_t(torch.from_numpy(x))


@pytest.mark.parametrize("cls,kw", [
    ("MinMaxObserver", {}),
    ("MovingAverageMinMaxObserver", {"averaging_constant": 0.01}),
    ("MovingAverageMinMaxObserver", {"averaging_constant": 0.3}),
])
@pytest.mark.parametrize("dtype,qscheme", [("quint8", "per_tensor_affine"), ("qint8", "per_tensor_affine"),
                                           ("quint8", "per_tensor_symmetric"), ("qint8", "per_tensor_symmetric")])
def test_per_tensor_observers_match_torch(cls, kw, dtype, qscheme):
    rng = np.random.default_rng(4)
    for _ in range(N):
        ours = getattr(qo, cls)(dtype=dtype, qscheme=qscheme, **kw)
        theirs = getattr(torch.ao.quantization.observer, cls)(
            dtype=getattr(torch, dtype), qscheme=getattr(torch, qscheme), **kw)
        _feed(ours, theirs, rng, int(rng.integers(1, 5)))
        s, z = ours.calculate_qparams()
        ts, tz = theirs.calculate_qparams()
        np.testing.assert_array_equal(s, ts.numpy())
        np.testing.assert_array_equal(z, tz.numpy())


@pytest.mark.parametrize("cls", ["PerChannelMinMaxObserver", "MovingAveragePerChannelMinMaxObserver"])
@pytest.mark.parametrize("qscheme", ["per_channel_affine", "per_channel_symmetric"])
def test_per_channel_observers_match_torch(cls, qscheme):
    rng = np.random.default_rng(5)
    for i in range(N):
        axis = i % 2
        ours = getattr(qo, cls)(ch_axis=axis, dtype="qint8", qscheme=qscheme)
        theirs = getattr(torch.ao.quantization.observer, cls)(
            ch_axis=axis, dtype=torch.qint8, qscheme=getattr(torch, qscheme))
        _feed(ours, theirs, rng, int(rng.integers(1, 4)), shape=(5, 7))
        s, z = ours.calculate_qparams()
        ts, tz = theirs.calculate_qparams()
        np.testing.assert_array_equal(s, ts.numpy())
        np.testing.assert_array_equal(z, tz.numpy())


def test_lsq_matches_torch_autograd():
    rng = np.random.default_rng(6)
    for i in range(N):
        qn, qp = (128, 127) if i % 2 else (0, 15)
        x = rng.standard_normal(50) * rng.uniform(0.5, 3)
        s = q.lsq_init_step(x, qp) * rng.uniform(0.5, 2)
        beta = rng.uniform(-0.5, 0.5)
        go = rng.standard_normal(50)
        g = q.lsq_grad_scale(x.size, qp)
        xt = torch.tensor(x, requires_grad=True)
        st = torch.tensor(s, requires_grad=True, dtype=torch.float64)
        bt = torch.tensor(beta, requires_grad=True, dtype=torch.float64)
        # LSQ+ as in the papers, written in torch: grad scaling and straight-through rounding
        s_g = (st - st * g).detach() + st * g
        b_g = (bt - bt * g).detach() + bt * g
        v = torch.clamp((xt - b_g) / s_g, -qn, qp)
        v_r = (v.round() - v).detach() + v
        y = v_r * s_g + b_g
        y.backward(torch.tensor(go))
        np.testing.assert_allclose(q.lsq_plus_forward(x, s, beta, qn, qp), y.detach().numpy(), rtol=0, atol=1e-12)
        gx, gs, gb = q.lsq_plus_backward(x, s, beta, qn, qp, go, g)
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gs, st.grad.item(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(gb, bt.grad.item(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype,qscheme", [("quint8", "per_tensor_affine"), ("qint8", "per_tensor_symmetric")])
def test_histogram_observer_within_one_lsb_of_torch(dtype, qscheme):
    rng = np.random.default_rng(7)
    worst = 0.0
    for i in range(N):
        ours = qo.HistogramObserver(bins=256, dtype=dtype, qscheme=qscheme)
        theirs = torch.ao.quantization.observer.HistogramObserver(
            bins=256, dtype=getattr(torch, dtype), qscheme=getattr(torch, qscheme))
        _feed(ours, theirs, rng, 1 + i % 3, shape=(8, 64))
        s, z = ours.calculate_qparams()
        ts, tz = theirs.calculate_qparams()
        # "one LSB of scale": the scales differ by less than one quantization step of the scale
        # itself at 8 bits, i.e. the ranges agree to within one output code
        rel = abs(float(s[0]) - float(ts[0])) / float(ts[0])
        worst = max(worst, rel)
        assert rel <= 1 / 255, (i, s, ts)
        assert abs(int(z[0]) - int(tz[0])) <= 1
