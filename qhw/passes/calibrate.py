"""Calibration: observers over calibration data -> QuantParams -> fixed-point formats.

``observe`` (an analysis: a plain dict, the graph untouched) runs the float graph over the data
batch by batch and feeds one observer (``qhw.quant.observers``, PyTorch-exact) per tensor.
``calibrate`` turns the observations into a prepared graph:

- every tensor gets ``QuantParams`` (``node.qparams``) as the observer computes them: signed
  codes with zero point 0 for ``symmetric``, unsigned codes with a zero point for ``affine``, and
  for ``pow2`` the scale 2**-F of the format below (the two are then the same grid);
- ops that create new values (inputs, dense/conv, pools that average, add/mul, lookup tables ...)
  get a ``bits``-wide result format whose integer bits just hold the calibrated range (signed
  when the range goes below 0); ops that only move, select or clamp values (flatten, reshape,
  concat, max pooling, relu, relu6, clip, shift) keep the lossless format inferred from their
  input, so they never round twice;
- dense/conv weights get ``weight_bits``-wide formats fitted to their values, and biases the
  products' grid (input fraction bits + weight fraction bits), as int8 schemes put the bias on the
  accumulator's scale; accumulators stay lossless.

The calibrated formats are the nodes' own; a config given to a later ``prepare`` still wins.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from qhw.fixed import MAX_WIDTH, FixedFormat
from qhw.graph import Graph, Node
from qhw.ops import Trait, group, has, is_output
from qhw.passes.pipeline import prepare
from qhw.passes.profile import integer_bits_for
from qhw.quant import QuantParams
from qhw.quant import observers as qo

OBSERVERS = ("minmax", "moving_average", "histogram", "percentile")
SCHEMES = ("symmetric", "affine", "pow2")
#: ops whose output only moves, selects or clamps input values, or moves the binary point:
#: formats stay lossless
LOSSLESS_OPS = group(Trait.MOVE) | group(Trait.CLAMP) | group(Trait.POINT_SHIFT)


# ------------------------------------------------------------------ observers
def code_range(scheme: str, bits: int) -> tuple[int, int]:
    """Integer codes of a scheme: signed [-2**(b-1), 2**(b-1) - 1] (symmetric, pow2) or
    unsigned [0, 2**b - 1] (affine)."""
    if scheme == "affine":
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def make_observer(observer: str = "minmax", scheme: str = "symmetric", bits: int = 8,
                  per_channel: bool = False, **options: Any):
    """A fresh observer of ``qhw.quant.observers`` configured as PyTorch's would be for the
    scheme (per-channel observers watch the last, channel axis). ``options`` go to the observer
    (``averaging_constant``, ``percentile``, ``bins`` ...)."""
    if observer not in OBSERVERS:
        raise ValueError(f"unknown observer {observer!r}; valid: {', '.join(OBSERVERS)}")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; valid: {', '.join(SCHEMES)}")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 32:
        raise ValueError(f"bits must be an integer in 2..32, got {bits!r}")
    qmin, qmax = code_range(scheme, int(bits))
    kind = "affine" if scheme == "affine" else "symmetric"
    dtype = "qint32" if bits > 8 else ("quint8" if scheme == "affine" else "qint8")
    kw = dict(dtype=dtype, quant_min=qmin, quant_max=qmax, **options)
    if per_channel:
        classes = {"minmax": qo.PerChannelMinMaxObserver,
                   "moving_average": qo.MovingAveragePerChannelMinMaxObserver}
        if observer not in classes:
            raise ValueError(f"observer {observer!r} is per-tensor only; per_channel=True works "
                             f"with {', '.join(classes)}")
        return classes[observer](ch_axis=-1, qscheme=f"per_channel_{kind}", **kw)
    classes = {"minmax": qo.MinMaxObserver, "moving_average": qo.MovingAverageMinMaxObserver,
               "histogram": qo.HistogramObserver, "percentile": qo.PercentileObserver}
    return classes[observer](qscheme=f"per_tensor_{kind}", **kw)


def _batches(data, batch_size: int | None) -> Iterable:
    """Batches of graph inputs: an array or a dict name -> array (split into ``batch_size``
    samples), or an iterable of those."""
    if isinstance(data, dict) or hasattr(data, "shape"):
        n = len(next(iter(data.values()))) if isinstance(data, dict) else len(data)
        step = n if not batch_size else int(batch_size)
        for s in range(0, n, max(step, 1)):
            yield ({k: np.asarray(v)[s:s + step] for k, v in data.items()} if isinstance(data, dict)
                   else np.asarray(data)[s:s + step])
    else:
        yield from data


def observe(graph: Graph, data, *, observer: str = "minmax", scheme: str = "symmetric",
            bits: int = 8, per_channel: bool = False, batch_size: int | None = None,
            **options: Any) -> dict[str, Any]:
    """{node name: observer} after running the float graph over ``data`` (every tensor but the
    outputs, which repeat their input). Each batch is one observer call, as in PyTorch."""
    from qhw import golden
    from qhw.passes.shapes import infer_shapes

    g = graph.copy()
    g.validate()
    infer_shapes(g)
    names = [n.name for n in g.nodes() if not is_output(n.op)]
    observers = {n: make_observer(observer, scheme, bits, per_channel, **options) for n in names}
    seen = 0
    for batch in _batches(data, batch_size):
        tensors = golden.run(g, batch, float_mode=True, keep_all=True).tensors
        for n in names:
            observers[n](tensors[n].astype(np.float32))
        seen += 1
    if not seen:
        raise ValueError("calibration data is empty")
    return observers


# ------------------------------------------------------------------ observations -> formats
def _qparams(obs, scheme: str, bits: int, shape: tuple[int, ...]) -> QuantParams:
    scale, zp = obs.calculate_qparams()
    per_channel = getattr(obs, "per_channel", False)
    return QuantParams(tuple(scale.tolist()) if per_channel else float(scale[0]),
                       tuple(zp.tolist()) if per_channel else int(zp[0]), bits,
                       scheme != "affine", axis=len(shape) - 1 if per_channel else None)


def calibrated_range(obs, qp: QuantParams) -> tuple[float, float]:
    """The values the tensor will carry: the observed range (after the observer's trimming)
    within the range the qparams can represent, over all channels."""
    s, z = qp.scale_array(), qp.zero_point_array()
    lo = float(np.min(s * (qp.qmin - z)))
    hi = float(np.max(s * (qp.qmax - z)))
    return max(lo, float(np.min(obs.min_val))), min(hi, float(np.max(obs.max_val)))


def range_format(lo: float, hi: float, bits: int, rounding: str, overflow: str) -> FixedFormat:
    """``bits`` wide, signed when lo < 0, integer bits just holding [lo, hi]."""
    signed = lo < 0
    return FixedFormat(bits, integer_bits_for(min(lo, 0.0), max(hi, 0.0), signed), signed,
                       rounding, overflow)


def _set(node: Node, slot: str, fmt: FixedFormat) -> None:
    node.formats[slot] = fmt
    node.inferred.discard(slot)


def _bias_format(x: FixedFormat, w: FixedFormat, bias: np.ndarray, rounding: str,
                 overflow: str) -> FixedFormat:
    """The products' grid (x and w fraction bits) with integer bits for the bias values."""
    frac = x.frac_bits + w.frac_bits
    ib = integer_bits_for(float(bias.min(initial=0.0)), float(bias.max(initial=0.0)), True)
    width = min(max(ib + frac, 2), MAX_WIDTH)
    return FixedFormat(width, width - frac, True, rounding, overflow)


def calibrate(graph: Graph, data, *, observer: str = "minmax", scheme: str = "symmetric",
              bits: int = 8, per_channel: bool = False, weight_bits: int | None = None,
              weights: bool = True, batch_size: int | None = None, rounding: str = "RND_CONV",
              overflow: str = "SAT", default=None, **options: Any) -> Graph:
    """A prepared copy of ``graph`` calibrated on ``data`` (see the module docstring).

    observer: "minmax" | "moving_average" | "histogram" | "percentile" (``options`` go to it,
    e.g. ``averaging_constant=0.01``, ``percentile=0.01``, ``bins=2048``).
    scheme: "symmetric" | "affine" | "pow2"; bits: code width of activations (2..32);
    per_channel: per-channel qparams along the channel (last) axis (minmax, moving_average);
    weight_bits: width of weight formats (default ``bits``); weights=False leaves weight and bias
    formats alone; batch_size: samples per observer call (default: all of ``data`` at once);
    rounding/overflow: modes of every calibrated format (default: round half to even and
    saturate, as ``x / scale`` is rounded and clamped); default: precision of slots calibration
    does not set (lookup tables' internals, average pools' scale), else the graph's.
    """
    from qhw.passes.shapes import infer_shapes

    g = graph.copy()
    g.validate()
    infer_shapes(g)
    obs = observe(g, data, observer=observer, scheme=scheme, bits=bits,
                  per_channel=per_channel, batch_size=batch_size, **options)
    for node in g.nodes():
        if node.name not in obs:
            continue
        qp = _qparams(obs[node.name], scheme, bits, tuple(node.shape))
        fmt = range_format(*calibrated_range(obs[node.name], qp), bits, rounding, overflow)
        node.qparams = QuantParams.from_fixed_format(fmt) if scheme == "pow2" else qp
        if node.op not in LOSSLESS_OPS:
            _set(node, "result", fmt)
        if weights and has(node.op, Trait.MAC):
            w = node.params["weight"]
            ib = integer_bits_for(float(w.min()), float(w.max()), True)
            _set(node, "weight", FixedFormat(int(weight_bits or bits), ib, True, rounding, "SAT"))
    g = prepare(g, default=default if default is not None else graph.default_format)
    if weights:  # biases on the products' grid need the (now known) input formats
        for node in g.nodes():
            if has(node.op, Trait.MAC) and "bias" in node.params:
                x = g.node(node.inputs[0]).formats["result"]
                _set(node, "bias", _bias_format(x, node.formats["weight"], node.params["bias"],
                                                rounding, "SAT"))
        g = prepare(g, default=g.default_format)
    if scheme == "pow2":  # lossless ops: the qparams of the format they kept
        for node in g.nodes():
            if node.op in LOSSLESS_OPS and not is_output(node.op):
                f = node.formats["result"]
                node.qparams = QuantParams.from_fixed_format(f)
    return g


__all__ = ["calibrate", "observe", "make_observer", "calibrated_range", "range_format",
           "code_range", "OBSERVERS", "SCHEMES", "LOSSLESS_OPS"]
