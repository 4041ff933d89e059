"""flatten, reshape and concat: data movement, no arithmetic (row-major, channels-last)."""
from __future__ import annotations

import math

import numpy as np

from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.ops.base import OpDef, capped
from qhw.ops.traits import Trait
from qhw.ops.registry import register


class _Move(OpDef):
    traits = frozenset({Trait.MOVE, Trait.GATHER, Trait.RESHAPE})

    def is_identity(self, node, src) -> bool:
        return node.shape is not None and tuple(node.shape) == tuple(src.shape)

    def golden(self, node, inputs, in_fmts, ctx):
        x = inputs[0].reshape((inputs[0].shape[0],) + tuple(node.shape))
        return ctx.assign(node.name, node.formats["result"], x, in_fmts[0])

    def float_eval(self, node, inputs):
        return inputs[0].reshape((inputs[0].shape[0],) + tuple(node.shape))


@register
class Flatten(_Move):
    name = "flatten"
    hls4ml_class, hls4ml_names = "Reshape", ("flatten",)

    def infer_shape(self, node, in_shapes):
        return (math.prod(in_shapes[0]),)


@register
class Reshape(_Move):
    """attrs: shape (without batch; one -1 allowed)."""

    name = "reshape"
    required = ("shape",)
    hls4ml_class = "Reshape"

    def infer_shape(self, node, in_shapes):
        n = math.prod(in_shapes[0])
        shape = [int(d) for d in node.attrs["shape"]]
        if shape.count(-1) == 1:
            rest = math.prod(d for d in shape if d != -1)
            shape[shape.index(-1)] = n // rest if rest and n % rest == 0 else -2
        if math.prod(shape) != n or min(shape) < 1:
            raise ModelError(f"reshape {node.name!r}: cannot reshape {in_shapes[0]} to {node.attrs['shape']}")
        return tuple(shape)


def union_format(fmts: list[FixedFormat]) -> FixedFormat:
    """The narrowest format holding every value of every format given."""
    signed = any(f.signed for f in fmts)
    frac = max(f.frac_bits for f in fmts)
    ib = max(f.integer_bits + (signed and not f.signed) for f in fmts)
    return capped(ib + frac, ib, signed, "concat")


@register
class Concat(OpDef):
    """attrs: axis (default -1: channels)."""
    traits = frozenset({Trait.MOVE, Trait.GATHER})

    name = "concat"
    arity = None
    attrs = {"axis": -1}
    hls4ml_class, hls4ml_names, hls4ml_slots = "Concatenate", ("concat",), ("result",)

    def sources(self, node, in_shapes: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
        """For each output element (row-major): which input it copies and that input's flat
        element index (the gather map both backends wire)."""
        axis = int(node.attrs["axis"]) % len(node.shape)
        idx = [np.arange(math.prod(s), dtype=np.int64).reshape(s) for s in in_shapes]
        src = [np.full(s, k, dtype=np.int64) for k, s in enumerate(in_shapes)]
        return np.concatenate(src, axis=axis).ravel(), np.concatenate(idx, axis=axis).ravel()

    def hls4ml_auto(self, node, slot, in_fmts, default, maximum):
        from qhw.ops.hls4ml_auto import concat_precision

        return concat_precision(in_fmts[0], in_fmts[1], maximum) if len(in_fmts) == 2 else default

    def infer_shape(self, node, in_shapes):
        rank = len(in_shapes[0])
        axis = int(node.attrs["axis"]) % rank if rank else 0
        for s in in_shapes:
            if len(s) != rank or any(a != b for i, (a, b) in enumerate(zip(s, in_shapes[0])) if i != axis):
                raise ModelError(f"concat {node.name!r}: shapes {in_shapes} differ off axis {axis}")
        out = list(in_shapes[0])
        out[axis] = sum(s[axis] for s in in_shapes)
        return tuple(out)

    def infer_formats(self, node, in_fmts, ctx):
        node.formats["result"] = ctx.choose(node, "result", union_format(in_fmts))

    def golden(self, node, inputs, in_fmts, ctx):
        res = node.formats["result"]
        parts = [ctx.assign(node.name, res, x, f) for x, f in zip(inputs, in_fmts)]
        return np.concatenate(parts, axis=self._axis(node))

    def _axis(self, node):
        return int(node.attrs["axis"]) % len(node.shape) + 1

    def float_eval(self, node, inputs):
        return np.concatenate(inputs, axis=self._axis(node))
