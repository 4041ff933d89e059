"""upsample: nearest-neighbour upsampling by integer factors over the spatial axes of a
channels-last tensor (ONNX ``Resize`` with mode nearest and integer scales, ``nn.Upsample``).

attrs: scale, one positive integer per spatial axis (an int applies to all). Output element
(i, j, c) is input element (i // s_h, j // s_w, c): pure data movement, each value assigned to
the result format (the input's by default).
"""
from __future__ import annotations

import numpy as np

from qhw import limits
from qhw.errors import ModelError
from qhw.ops.base import GatherOp
from qhw.ops.traits import Trait
from qhw.ops.registry import register


@register
class Upsample(GatherOp):
    traits = frozenset({Trait.MOVE, Trait.GATHER})
    name = "upsample"
    required = ("scale",)
    hls4ml_class, hls4ml_names, hls4ml_slots = "Resize", ("upsampling1d", "upsampling2d", "upsample"), ("result",)

    def factors(self, node, rank: int) -> tuple[int, ...]:
        """One factor per spatial axis of a (*spatial, channels) tensor of ``rank`` axes."""
        s = node.attrs["scale"]
        fs = [s] * (rank - 1) if np.isscalar(s) else list(s)
        if len(fs) != rank - 1 or any(int(f) != f or f < 1 for f in fs):
            raise ModelError(f"upsample {node.name!r}: scale {s!r} must be one positive integer per "
                             f"spatial axis ({rank - 1} for a {rank}-axis input)")
        for f in fs:
            limits.check("upsample_factor", int(f), f"upsample {node.name!r}, scale")
        return tuple(int(f) for f in fs)

    def infer_shape(self, node, in_shapes):
        s = in_shapes[0]
        if len(s) < 2:
            raise ModelError(f"upsample {node.name!r}: input shape {s} is not (*spatial, channels)")
        fs = self.factors(node, len(s))
        return tuple(n * f for n, f in zip(s[:-1], fs)) + (s[-1],)

    def move(self, node, x: np.ndarray) -> np.ndarray:
        """x (batch, *spatial, C) repeated along each spatial axis."""
        for axis, f in enumerate(self.factors(node, x.ndim - 1), start=1):
            if f > 1:
                x = np.repeat(x, f, axis=axis)
        return x
