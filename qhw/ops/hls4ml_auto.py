"""hls4ml's ``auto`` precision rules (the ops' ``hls4ml_auto`` use them; qhw.config.infer applies them): the types its ``InferPrecisionTypes`` pass (hls4ml 1.3.0) gives a layer.

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


def product_precision(a: FixedFormat, b: FixedFormat, maximum: FixedFormat | None) -> FixedFormat:
    """``_infer_merge_precision`` of hls4ml for Multiply."""
    return _cap(a.width + b.width, a.integer_bits + b.integer_bits, a.signed or b.signed, maximum)


def concat_precision(a: FixedFormat, b: FixedFormat, maximum: FixedFormat | None) -> FixedFormat:
    """``_infer_cat_precision`` of hls4ml for two inputs."""
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


def sum_precision(a: FixedFormat, b: FixedFormat, maximum: FixedFormat | None) -> FixedFormat:
    """``_infer_merge_precision`` of hls4ml for Add (and the other merges)."""
    signed = a.signed or b.signed
    integer = max(a.integer_bits + (b.signed and not a.signed), b.integer_bits + (a.signed and not b.signed)) + 1
    return _cap(integer + max(a.frac_bits, b.frac_bits), integer, signed, maximum)


def mac_auto(node, slot: str, in_fmts: list[FixedFormat], default: FixedFormat | None,
             maximum: FixedFormat | None) -> FixedFormat | None:
    """dense/conv: weight and bias their own type (else the default); accum and result the
    common precision of input, weight and bias over the products of one output."""
    if slot in ("weight", "bias"):
        return node.formats.get(slot) or default
    w = node.params["weight"]
    n_ops = int(w.size // w.shape[-1])
    return common_precision(in_fmts[0], node.formats["weight"], node.formats.get("bias"), n_ops, maximum)


def avgpool_accum(node, x: FixedFormat) -> FixedFormat:
    """Average pooling accum: W+2e, I+e with e = ceil(log2(pool size))."""
    extra = math.ceil(np.log2(math.prod(node.attrs["kernel_size"])
                              if isinstance(node.attrs["kernel_size"], (list, tuple))
                              else node.attrs["kernel_size"]))
    return FixedFormat(x.width + 2 * extra, x.integer_bits + extra, x.signed)
