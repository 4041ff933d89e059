"""dense: y = x @ W + b over the last axis, accumulated as the HLS loop does."""
from __future__ import annotations

import math

import qhw.fixed as qf
from qhw.errors import ModelError
from qhw.ops.base import OpDef, capped, format_for_values
from qhw.ops.traits import Trait
from qhw.ops.registry import register


def accumulator_format(x, w, b, terms: int):
    """Lossless accumulator for ``terms`` products x*w plus a bias b (or None)."""
    signed = x.signed or w.signed or (b is not None and b.signed)
    frac = max(x.frac_bits + w.frac_bits, b.frac_bits if b is not None else -10**6)
    ib = x.integer_bits + w.integer_bits + math.ceil(math.log2(max(terms, 1)))
    if signed and not (x.signed or w.signed):
        ib += 1  # unsigned products in a signed sum need a sign bit
    if b is not None:
        ib = max(ib, b.integer_bits + (signed and not b.signed)) + 1
    return capped(ib + frac, ib, signed, "accumulator")


def constant_formats(node, ctx, names=("weight", "bias")) -> None:
    """Weight/bias slots: given, configured, or the default width with integer bits for the data."""
    for name in names:
        if name in node.params:
            fallback = format_for_values(node.params[name], ctx.default.width)
            node.formats[name] = ctx.choose(node, name, None, fallback)


def mac_formats(node, x_fmt, terms: int, ctx) -> None:
    """weight, bias, accum, result slots of a multiply-accumulate op."""
    constant_formats(node, ctx)
    b = node.formats.get("bias")
    acc = accumulator_format(x_fmt, node.formats["weight"], b, terms)
    node.formats["accum"] = ctx.choose(node, "accum", acc)
    node.formats["result"] = ctx.choose(node, "result", node.formats["accum"], ctx.default)


def mac_golden(node, x_raw, x_fmt, w_raw, ctx):
    """acc = bias; acc += x*w per step; y = acc assigned to the result (x_raw: (..., K))."""
    acc_fmt = node.formats["accum"]
    init = None
    if "bias" in node.params:
        init = acc_fmt.cast(node.param_raw("bias"), node.formats["bias"])
    pf = acc_fmt if node.attrs.get("product_cast") else None
    acc = qf.matmul(x_raw, x_fmt, w_raw, node.formats["weight"], acc_fmt, init=init, product_format=pf)
    return ctx.assign(node.name, node.formats["result"], acc, acc_fmt)


@register
class Dense(OpDef):
    """Fully connected layer. weight: (K, M); optional bias: (M,)."""
    traits = frozenset({Trait.MAC})

    name = "dense"
    params = ("weight",)
    optional_params = ("bias",)
    hls4ml_class, hls4ml_names = "Dense", ("qdense", "linear")
    hls4ml_slots = ("weight", "bias", "accum", "result")

    def hls4ml_auto(self, node, slot, in_fmts, default, maximum):
        from qhw.ops.hls4ml_auto import mac_auto

        return mac_auto(node, slot, in_fmts, default, maximum)

    def check(self, node):
        super().check(node)
        w = node.params["weight"]
        if w.ndim != 2:
            raise ModelError(f"dense {node.name!r}: weight must be (inputs, outputs), got shape {w.shape}")
        if "bias" in node.params and node.params["bias"].shape != (w.shape[1],):
            raise ModelError(f"dense {node.name!r}: bias shape {node.params['bias'].shape} "
                             f"does not match {w.shape[1]} outputs")

    def infer_shape(self, node, in_shapes):
        k, m = node.params["weight"].shape
        if not in_shapes[0] or in_shapes[0][-1] != k:
            raise ModelError(f"dense {node.name!r}: input shape {in_shapes[0]} does not end in the "
                             f"weight's {k} inputs")
        return tuple(in_shapes[0][:-1]) + (m,)

    def infer_formats(self, node, in_fmts, ctx):
        mac_formats(node, in_fmts[0], node.params["weight"].shape[0], ctx)

    def golden(self, node, inputs, in_fmts, ctx):
        return mac_golden(node, inputs[0], in_fmts[0], node.param_raw("weight"), ctx)

    def float_eval(self, node, inputs):
        y = inputs[0] @ node.params["weight"]
        return y + node.params["bias"] if "bias" in node.params else y
