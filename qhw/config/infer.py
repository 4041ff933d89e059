"""hls4ml's ``auto``: the types its ``InferPrecisionTypes`` pass (hls4ml 1.3.0) gives a layer.

dense/conv accum and result: the common precision of input, weight and bias over n_ops products
(the bias of a layer without one counts as hls4ml's ``ap_uint<1>``), capped by Model
``Precision: {maximum: ...}``; weight and bias: the layer's own (quantized) type, else the Model
default; max pooling accum: the input type; average pooling accum: W+2e, I+e with e =
ceil(log2(pool size)); pooling, reshape results: the input type; add/multiply/concatenate: the
merged type; everything else (inputs, activations): the Model default.
"""
from __future__ import annotations

import math

import numpy as np

from qhw.fixed import FixedFormat

_MAC = ("dense", "conv1d", "conv2d")
_POOL = ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d")
#: qhw op -> the slots hls4ml's layer class types from its config (others: qhw decides)
HLS4ML_SLOTS = {op: ("weight", "bias", "accum", "result") for op in _MAC}
HLS4ML_SLOTS.update({op: ("accum", "result") for op in _POOL})
HLS4ML_SLOTS.update({op: ("result",) for op in ("relu", "relu6", "sigmoid", "tanh", "hard_sigmoid",
                                                 "input", "add", "mul", "concat", "upsample",
                                                 "embedding")})
HLS4ML_SLOTS["softmax"] = ("accum", "result")  # accum_t: every partial sum of the exp sum tree
HLS4ML_SLOTS["batchnorm"] = ("scale", "bias", "result")


def _cap(width: int, integer: int, signed: bool, maximum: FixedFormat | None) -> FixedFormat:
    if maximum is not None:
        width, integer = min(width, maximum.width), min(integer, maximum.integer_bits)
    return FixedFormat(width, integer, signed)


def common_precision(x: FixedFormat, w: FixedFormat, b: FixedFormat | None, n_ops: int,
                     maximum: FixedFormat | None = None) -> FixedFormat:
    """``_infer_common_precision`` of hls4ml: accum (and result) of a multiply-accumulate."""
    b = b if b is not None else FixedFormat(1, 1, False)
    log = math.ceil(np.log2(n_ops))
    width = w.width + x.width + log
    integer = w.integer_bits + x.integer_bits + log
    signed = w.signed or x.signed
    frac = width - integer
    integer = max(integer + (b.signed and not signed), b.integer_bits + (signed and not b.signed)) + 1
    width = integer + max(frac, b.width - b.integer_bits)
    signed = signed or b.signed
    return _cap(width, integer, signed, maximum)


def merge_precision(op: str, a: FixedFormat, b: FixedFormat, maximum: FixedFormat | None) -> FixedFormat:
    """``_infer_merge_precision`` / ``_infer_cat_precision`` of hls4ml for two inputs."""
    if op == "mul":
        return _cap(a.width + b.width, a.integer_bits + b.integer_bits, a.signed or b.signed, maximum)
    if op == "concat":
        if a == b:
            return a
        signed = a.signed or b.signed
        ia, ib = a.integer_bits + (signed and not a.signed), b.integer_bits + (signed and not b.signed)
        integer = max(ia, ib)
        width = max(a.frac_bits, b.frac_bits) + integer
        rnd = a.rounding if a.rounding != "TRN" else b.rounding
        ovf = a.overflow if a.overflow != "WRAP" else b.overflow
        if maximum is not None:
            width, integer = min(width, maximum.width), min(integer, maximum.integer_bits)
        return FixedFormat(width, integer, signed, rnd, ovf)
    signed = a.signed or b.signed
    integer = max(a.integer_bits + (b.signed and not a.signed), b.integer_bits + (a.signed and not b.signed)) + 1
    return _cap(integer + max(a.frac_bits, b.frac_bits), integer, signed, maximum)


def auto_format(node, slot: str, in_fmts: list[FixedFormat], default: FixedFormat | None,
                maximum: FixedFormat | None) -> FixedFormat | None:
    """The type hls4ml's ``auto`` gives ``slot`` of ``node`` (None: qhw infers it)."""
    op = node.op
    if op in _MAC:
        if slot in ("weight", "bias"):
            return node.formats.get(slot) or default
        w = node.params["weight"]
        n_ops = int(w.size // w.shape[-1])
        return common_precision(in_fmts[0], node.formats["weight"], node.formats.get("bias"), n_ops, maximum)
    if op in _POOL:
        x = in_fmts[0]
        if slot == "accum" and op.startswith("avg"):
            extra = math.ceil(np.log2(math.prod(node.attrs["kernel_size"])
                                      if isinstance(node.attrs["kernel_size"], (list, tuple))
                                      else node.attrs["kernel_size"]))
            return FixedFormat(x.width + 2 * extra, x.integer_bits + extra, x.signed)
        return x
    if op in ("add", "mul", "concat") and len(in_fmts) == 2:
        return merge_precision(op, in_fmts[0], in_fmts[1], maximum)
    return default
