"""qhw.quant: documented facts, granularity, requantization exhaustively vs float, errors."""
import numpy as np
import pytest

import qhw.quant as q
from qhw.fixed import FixedFormat
from qhw.quant import observers as qo


def test_per_row_embedding_example_from_the_spec():
    m = [[20000, 3000, 1000, 1000], [1999999, 20000, 1999999, 1999999], [20000, 3000, 1000, 1000]]
    codes, scales = q.quantize_rows(m)
    assert codes.tolist() == [[255, 147, 134, 134], [255, 129, 255, 255], [255, 147, 134, 134]]
    sub = q.dequantize_rows(codes, scales, rows=[1, 0])
    np.testing.assert_allclose(sub, q.dequantize_rows(codes, scales)[[1, 0]])
    assert np.abs(sub[1] - np.array(m[0])).max() <= scales[0] / 2 + 1e-9


def test_sigmoid_node_values_give_one_lsb_of_256():
    x = np.array([0, 0.25, 0.5, 0.75, 1, 2, 2.5, 3, 4, 5, 6])
    v = 1 / (1 + np.exp(-x))
    for obs in (qo.MinMaxObserver(dtype="quint8", qscheme="per_tensor_affine"),
                qo.HistogramObserver(bins=2048, dtype="quint8", qscheme="per_tensor_affine")):
        obs(v)
        s, z = obs.calculate_qparams()
        assert abs(float(s[0]) - 0.0039) < 1e-4 and int(z[0]) == 0, type(obs).__name__


def test_channel_mean_extrema_ignore_one_outlier_channel():
    x = np.ones((4, 10)) * np.array([[1.0], [2.0], [3.0], [100.0]])
    x[:, 0] = -x[:, 0]
    plain, mean = qo.MinMaxObserver(), qo.MinMaxObserver(channel_mean=True, ch_axis=0)
    plain(x)
    mean(x)
    assert float(plain.max_val) == 100.0 and float(mean.max_val) == 26.5
    assert float(mean.min_val) == -26.5


def test_per_group_equals_per_channel_with_repeated_scales():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 12))
    s = np.array([0.1, 0.2, 0.05])
    z = np.array([1, -2, 0])
    g = q.quantize(x, s, z, -128, 127, axis=1, group_size=4)
    c = q.quantize(x, np.repeat(s, 4), np.repeat(z, 4), -128, 127, axis=1)
    np.testing.assert_array_equal(g, c)
    np.testing.assert_array_equal(q.dequantize(g, s, z, axis=1, group_size=4),
                                  q.dequantize(c, np.repeat(s, 4), np.repeat(z, 4), axis=1))


@pytest.mark.parametrize("rounding", q.ROUNDINGS)
def test_requantizer_matches_exact_rational_rounding(rounding):
    from fractions import Fraction
    rng = np.random.default_rng(1)
    for _ in range(40):
        m = float(10.0 ** rng.uniform(-6, 0))
        r = q.requantizer(m, 1.0, 1.0, z_out=int(rng.integers(-5, 5)), qmin=-128, qmax=127,
                          bits=int(rng.integers(8, 32)), rounding=rounding)
        acc = rng.integers(-(1 << 20), 1 << 20, size=300)
        got = r.apply(acc)
        M, n = int(r.multiplier[0]), int(r.shift[0])
        for a, g in zip(acc[:60], got[:60]):
            v = Fraction(int(a) * M, 1 << n)
            fl = v.numerator // v.denominator
            frac = v - fl
            up = {"floor": False, "ceil": frac > 0, "trunc": frac > 0 and v < 0,
                  "half_up": frac >= Fraction(1, 2), "half_down": frac > Fraction(1, 2),
                  "half_away": frac > Fraction(1, 2) or (frac == Fraction(1, 2) and v > 0),
                  "half_even": frac > Fraction(1, 2) or (frac == Fraction(1, 2) and fl % 2 == 1)}[rounding]
            want = min(max(fl + int(up) + r.zero_point, -128), 127)
            assert g == want
        assert r.relative_error(m)[0] < 2.0 ** -(int(r.multiplier.size and 6))


def test_multiplier_bits_and_power_of_two_shift():
    M, n = q.quantize_multiplier([0.75, 0.125, 3e-5], bits=16)
    assert M[1] == 1 and n[1] == 3  # a pure shift
    assert (M < 2**15).all()
    approx = M * 2.0 ** -n.astype(float)
    assert np.all(np.abs(approx - [0.75, 0.125, 3e-5]) / [0.75, 0.125, 3e-5] < 2**-14)


def test_zero_point_terms_reconstruct_the_affine_dot():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(5, 7))
    w = rng.integers(-128, 128, size=(7, 3))
    zx, zw = 13, np.array([2, -1, 0])
    const, zw_f = q.zero_point_terms(w, zx, zw)
    got = x @ w - zw_f * x.sum(axis=1, keepdims=True) + const
    want = (x - zx) @ (w - zw)
    np.testing.assert_array_equal(got, want)


def test_power_of_two_params_and_fixed_format_round_trip():
    p = q.QuantParams(2**-5, 0, 8, True)
    fmt = p.to_fixed_format(rounding="RND_CONV", overflow="SAT")
    assert fmt == FixedFormat(8, 3, True, "RND_CONV", "SAT")
    x = np.random.default_rng(3).standard_normal(1000) * 3
    np.testing.assert_array_equal(p.quantize(x), fmt.quantize(x))
    assert q.QuantParams.from_fixed_format(FixedFormat(8, 3)) == q.QuantParams(2**-5, 0, 8, True)
    with pytest.raises(ValueError, match="power-of-two"):
        q.QuantParams(0.1, 0, 8).to_fixed_format()


@pytest.mark.parametrize("call,match", [
    (lambda: q.quantize([1.0], 0.0, 0, 0, 255), "scale"),
    (lambda: q.quantize([1.0], float("nan"), 0, 0, 255), "scale"),
    (lambda: q.quantize([1.0], 0.1, 0, 5, 5), "qmin"),
    (lambda: q.QuantParams(0.1, bits=0), "bits"),
    (lambda: q.quantize(np.ones((2, 3)), [0.1, 0.2], [0, 0], 0, 255, axis=2), "axis"),
    (lambda: q.quantize(np.ones((2, 6)), [0.1, 0.2], [0, 0], 0, 255, axis=1, group_size=4), "group_size"),
    (lambda: qo.MinMaxObserver(dtype="int3"), "dtype"),
    (lambda: qo.MinMaxObserver(qscheme="per_row"), "qscheme"),
    (lambda: q.QuantParams(-1.0), "scale"),
])
def test_invalid_parameters_name_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_percentile_and_sigma_shrink_the_range():
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.standard_normal(10000), [50.0, -40.0]])
    p = qo.PercentileObserver(percentile=0.1, dtype="qint8", qscheme="per_tensor_symmetric")
    p(x)
    s = qo.SigmaObserver(k=3.0)
    s(x)
    mm = qo.MinMaxObserver()
    mm(x)
    assert p.max_val < 10 and p.min_val > -10 and p.min_val >= x.min()
    assert 2.5 < s.max_val < 4 and -4 < s.min_val < -2.5
    assert p.calculate_qparams()[0][0] < mm.calculate_qparams()[0][0]
