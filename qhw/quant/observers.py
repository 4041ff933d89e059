"""Observers: statistics over calibration data -> (scale, zero_point), PyTorch-compatible.

Names and arguments follow ``torch.ao.quantization.observer`` so its users feel at home; MinMax and
moving-average observers reproduce PyTorch's qparams exactly (float32 buffers and arithmetic, the
same eps and zero-point rounding). Call ``obs(x)`` on each batch, then ``obs.calculate_qparams()``.
"""
from __future__ import annotations

import numpy as np

_F32 = np.float32
EPS = np.finfo(np.float32).eps
DTYPES = {"quint8": (0, 255), "qint8": (-128, 127), "qint32": (-(2**31), 2**31 - 1),
          "quint4x2": (0, 15)}
QSCHEMES = ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
            "per_channel_symmetric")


class _Observer:
    per_channel = False

    def __init__(self, dtype: str = "quint8", qscheme: str = "per_tensor_affine",
                 quant_min: int | None = None, quant_max: int | None = None, eps: float = EPS) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
        if qscheme not in QSCHEMES:
            raise ValueError(f"unknown qscheme {qscheme!r}; valid: {', '.join(QSCHEMES)}")
        if qscheme.startswith("per_channel") != self.per_channel:
            kind = "per-channel" if self.per_channel else "per-tensor"
            raise ValueError(f"qscheme {qscheme!r} does not fit a {kind} observer")
        self.dtype, self.qscheme = dtype, qscheme
        self.custom_range = quant_min is not None or quant_max is not None
        lo, hi = DTYPES[dtype]
        self.quant_min = lo if quant_min is None else int(quant_min)
        self.quant_max = hi if quant_max is None else int(quant_max)
        if self.quant_min >= self.quant_max:
            raise ValueError(f"quant_min {self.quant_min} must be below quant_max {self.quant_max}")
        self.eps = _F32(eps)
        self.min_val = np.array(np.inf, _F32)
        self.max_val = np.array(-np.inf, _F32)

    def _qparams(self, min_val: np.ndarray, max_val: np.ndarray):
        """PyTorch's UniformQuantizationObserverBase._calculate_qparams, in float32."""
        min_val, max_val = np.asarray(min_val, _F32), np.asarray(max_val, _F32)
        if not np.all(np.isfinite(min_val)) or not np.all(np.isfinite(max_val)):
            return np.array([1.0], _F32), np.array([0], np.int64)  # nothing observed yet
        qmin, qmax = self.quant_min, self.quant_max
        min_neg = np.minimum(min_val, _F32(0))
        max_pos = np.maximum(max_val, _F32(0))
        zp = np.zeros(min_neg.shape, np.int64)
        if self.qscheme.endswith("symmetric"):
            max_pos = np.maximum(-min_neg, max_pos)
            scale = (max_pos / _F32((qmax - qmin) / 2)).astype(_F32)
            scale = np.maximum(scale, self.eps)
            if self.dtype == "quint8":
                zp[...] = (qmin + qmax) // 2 if self.custom_range else 128
        else:
            scale = ((max_pos - min_neg) / _F32(qmax - qmin)).astype(_F32)
            scale = np.maximum(scale, self.eps)
            zp = qmin - np.rint(min_neg / scale).astype(np.int64)
            zp = np.clip(zp, qmin, qmax)
        return np.atleast_1d(scale).astype(_F32), np.atleast_1d(zp).astype(np.int64)

    def calculate_qparams(self):
        return self._qparams(self.min_val, self.max_val)


class MinMaxObserver(_Observer):
    """Running min and max of everything observed.

    channel_mean: take each batch's extrema as the mean over channels (along ``ch_axis``) of the
    per-channel minima and maxima, so that one outlier channel does not stretch a per-tensor
    range.
    """

    def __init__(self, channel_mean: bool = False, ch_axis: int = 0, **kw) -> None:
        super().__init__(**kw)
        self.channel_mean, self.ch_axis = channel_mean, ch_axis

    def __call__(self, x):
        x = np.asarray(x, _F32)
        if x.size:
            if self.channel_mean:
                lo, hi = _channel_minmax(x, self.ch_axis)
                lo, hi = _F32(lo.mean(dtype=np.float64)), _F32(hi.mean(dtype=np.float64))
            else:
                lo, hi = x.min(), x.max()
            self.min_val = np.minimum(lo, self.min_val)
            self.max_val = np.maximum(hi, self.max_val)
        return x


class MovingAverageMinMaxObserver(_Observer):
    """min/max as exponential moving averages: m += c * (m_batch - m)."""

    def __init__(self, averaging_constant: float = 0.01, **kw) -> None:
        super().__init__(**kw)
        self.averaging_constant = averaging_constant

    def __call__(self, x):
        x = np.asarray(x, _F32)
        if not x.size:
            return x
        lo, hi = x.min(), x.max()
        if np.isinf(self.min_val) and np.isinf(self.max_val):
            self.min_val, self.max_val = np.array(lo, _F32), np.array(hi, _F32)
        else:
            c = _F32(self.averaging_constant)
            self.min_val = (self.min_val + c * (lo - self.min_val)).astype(_F32)
            self.max_val = (self.max_val + c * (hi - self.max_val)).astype(_F32)
        return x


def _channel_minmax(x: np.ndarray, axis: int, channel_mean: bool = False):
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"ch_axis {axis} is out of range for an array of {x.ndim} dimensions")
    y = np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)
    return y.min(axis=1), y.max(axis=1)


class PerChannelMinMaxObserver(_Observer):
    """Running min/max per channel along ``ch_axis``."""

    per_channel = True

    def __init__(self, ch_axis: int = 0, dtype: str = "quint8",
                 qscheme: str = "per_channel_affine", **kw) -> None:
        super().__init__(dtype=dtype, qscheme=qscheme, **kw)
        self.ch_axis = ch_axis
        self.min_val = np.zeros(0, _F32)
        self.max_val = np.zeros(0, _F32)

    def _update(self, lo, hi):
        self.min_val, self.max_val = np.minimum(lo, self.min_val), np.maximum(hi, self.max_val)

    def __call__(self, x):
        x = np.asarray(x, _F32)
        if not x.size:
            return x
        lo, hi = _channel_minmax(x, self.ch_axis)
        if self.min_val.size == 0:
            self.min_val, self.max_val = lo, hi
        else:
            self._update(lo, hi)
        return x


class MovingAveragePerChannelMinMaxObserver(PerChannelMinMaxObserver):
    def __init__(self, averaging_constant: float = 0.01, **kw) -> None:
        super().__init__(**kw)
        self.averaging_constant = averaging_constant

    def _update(self, lo, hi):
        c = _F32(self.averaging_constant)
        self.min_val = (self.min_val + c * (lo - self.min_val)).astype(_F32)
        self.max_val = (self.max_val + c * (hi - self.max_val)).astype(_F32)


class PercentileObserver(MinMaxObserver):
    """TI's range shrink: a 255-bin histogram of each tensor; ``percentile`` percent of the mass
    is trimmed from each end, the bin edges mapped back to values and clamped to the true min/max.
    Ranges over several calls combine as min of mins / max of maxes."""

    def __init__(self, percentile: float = 0.01, bins: int = 255, **kw) -> None:
        super().__init__(**kw)
        if not 0 <= percentile < 50:
            raise ValueError(f"percentile must be in [0, 50), got {percentile}")
        self.percentile, self.bins = percentile, bins

    def __call__(self, x):
        x = np.asarray(x, np.float64).ravel()
        if not x.size:
            return x
        lo, hi = float(x.min()), float(x.max())
        if hi > lo:
            hist, edges = np.histogram(x, bins=self.bins, range=(lo, hi))
            cum = np.cumsum(hist) / x.size * 100.0
            i_lo = int(np.searchsorted(cum, self.percentile, side="right"))
            i_hi = int(np.searchsorted(cum, 100.0 - self.percentile, side="left"))
            lo = max(lo, float(edges[min(i_lo, self.bins)]))
            hi = min(hi, float(edges[min(i_hi + 1, self.bins)]))
        self.min_val = np.minimum(_F32(lo), self.min_val)
        self.max_val = np.maximum(_F32(hi), self.max_val)
        return x


class SigmaObserver(MinMaxObserver):
    """Range mean +- k standard deviations (running over all values seen), clamped to min/max."""

    def __init__(self, k: float = 3.0, **kw) -> None:
        super().__init__(**kw)
        self.k, self.n, self.s1, self.s2 = k, 0, 0.0, 0.0
        self.true_min, self.true_max = np.inf, -np.inf

    def __call__(self, x):
        x = np.asarray(x, np.float64).ravel()
        if not x.size:
            return x
        self.n += x.size
        self.s1 += float(x.sum())
        self.s2 += float((x * x).sum())
        self.true_min, self.true_max = min(self.true_min, x.min()), max(self.true_max, x.max())
        mean = self.s1 / self.n
        std = max(self.s2 / self.n - mean * mean, 0.0) ** 0.5
        self.min_val = np.array(max(self.true_min, mean - self.k * std), _F32)
        self.max_val = np.array(min(self.true_max, mean + self.k * std), _F32)
        return x


class HistogramObserver(_Observer):
    """A running histogram of values; qparams from the range that minimises the L2 quantization
    error (PyTorch's method: grow a trimmed range from both ends while the error falls).

    The running histogram is re-binned onto the widened range when new data exceeds it (each old
    bin spread over ``upsample_rate`` sub-bins), so the result depends on the order of calls, as
    PyTorch's does. Scales agree with PyTorch's within one LSB.
    """

    def __init__(self, bins: int = 2048, upsample_rate: int = 16, **kw) -> None:
        super().__init__(**kw)
        self.bins, self.upsample_rate = int(bins), int(upsample_rate)
        self.histogram = np.zeros(self.bins, np.float64)
        self.dst_nbins = 1 << int(np.log2(self.quant_max - self.quant_min + 1) + 0.5)

    def _hist(self, x, lo, hi):
        if hi == lo:
            h = np.zeros(self.bins)
            h[0 if self.bins == 1 else 0] = x.size
            return h
        return np.histogram(x, bins=self.bins, range=(float(lo), float(hi)))[0].astype(np.float64)

    def _rebin(self, hist, lo, hi, new_lo, new_hi):
        """Spread each old bin over upsample_rate sub-bins and reassign their mid-points."""
        n = self.bins * self.upsample_rate
        sub = np.repeat(hist / self.upsample_rate, self.upsample_rate)
        width = (float(hi) - float(lo)) / n
        mids = float(lo) + (np.arange(n) + 0.5) * width
        edges = np.linspace(float(new_lo), float(new_hi), self.bins + 1)
        idx = np.clip(np.searchsorted(edges, mids, side="right") - 1, 0, self.bins - 1)
        return np.bincount(idx, weights=sub, minlength=self.bins)

    def __call__(self, x):
        x = np.asarray(x, _F32).ravel()
        x = x[np.isfinite(x)]
        if not x.size:
            return x
        lo, hi = x.min(), x.max()
        if np.isinf(self.min_val):
            self.min_val, self.max_val = np.array(lo, _F32), np.array(hi, _F32)
            self.histogram = self._hist(x, lo, hi)
            return x
        new_lo, new_hi = np.minimum(self.min_val, lo), np.maximum(self.max_val, hi)
        update = self._hist(x, new_lo, new_hi)
        if new_lo == self.min_val and new_hi == self.max_val:
            self.histogram = self.histogram + update
        elif self.min_val == self.max_val:
            old = np.zeros(self.bins)
            pos = int((float(self.min_val) - float(new_lo)) / (float(new_hi) - float(new_lo)) * self.bins)
            old[min(pos, self.bins - 1)] = self.histogram.sum()
            self.histogram = old + update
        else:
            self.histogram = update + self._rebin(self.histogram, self.min_val, self.max_val, new_lo, new_hi)
        self.min_val, self.max_val = np.array(new_lo, _F32), np.array(new_hi, _F32)
        return x

    def _error(self, start: int, end: int) -> float:
        """L2 error of quantizing the histogram with [start, end] bins as the range."""
        bin_width = (float(self.max_val) - float(self.min_val)) / self.bins
        dst_width = bin_width * (end - start + 1) / self.dst_nbins
        if dst_width == 0.0:
            return 0.0
        src = np.arange(self.bins)
        begin = (src - start) * bin_width
        stop = begin + bin_width
        dst_begin = np.clip(np.floor(begin / dst_width), 0, self.dst_nbins - 1)
        dst_end = np.clip(np.floor(stop / dst_width), 0, self.dst_nbins - 1)
        density = self.histogram / bin_width

        def norm(a, b):  # density * integral of x^2 over [a, b]
            return density * (b * b * b - a * a * a) / 3

        half = dst_width / 2
        total = norm(begin - (dst_begin + 0.5) * dst_width, np.full(self.bins, half))
        total += (dst_end - dst_begin - 1) * norm(-half, half)
        total += norm(-half, stop - (dst_end * dst_width + half))
        return float(total.sum())

    def _search(self):
        cum = np.cumsum(self.histogram)
        total = float(cum[-1])
        step, alpha, beta = 1e-5, 0.0, 1.0
        start, end = 0, self.bins - 1
        best = np.inf
        while alpha < beta:
            na, nb = alpha + step, beta - step
            l = int(np.searchsorted(cum[start:end], na * total, side="left")) + start
            r = end
            while r > start and cum[r] > nb * total:
                r -= 1
            ns, ne = start, end
            if (l - start) > (end - r):
                ns, alpha = l, na
            else:
                ne, beta = r, nb
            if ns == start and ne == end:
                continue
            err = self._error(ns, ne)
            if err > best:
                break
            best, start, end = err, ns, ne
        width = (self.max_val - self.min_val) / _F32(self.bins)
        return self.min_val + width * _F32(start), self.min_val + width * _F32(end + 1)

    def calculate_qparams(self):
        if np.isinf(self.min_val):
            return np.array([1.0], _F32), np.array([0], np.int64)
        return self._qparams(*self._search())
