"""depth_to_space: ONNX ``DepthToSpace`` (pixel shuffle) on a channels-last (H, W, C) tensor.

attrs: block_size b, mode "DCR" (ONNX default) or "CRD" (PyTorch's PixelShuffle). Output
(H*b, W*b, C/b**2): element (h*b + i, w*b + j, c) reads input channel (i*b + j)*C' + c (DCR) or
c*b*b + i*b + j (CRD) of pixel (h, w). Pure data movement, each value assigned to the result.
"""
from __future__ import annotations

import numpy as np

from qhw.errors import ModelError
from qhw.ops.base import GatherOp
from qhw.ops.traits import Trait
from qhw.ops.registry import register

MODES = ("DCR", "CRD")


@register
class DepthToSpace(GatherOp):
    traits = frozenset({Trait.MOVE, Trait.GATHER})
    name = "depth_to_space"
    hls4ml_names = ("depthtospace", "depth_to_space")  # no hls4ml layer class
    required = ("block_size",)
    attrs = {"mode": "DCR"}

    def check(self, node):
        super().check(node)
        b, mode = node.attrs["block_size"], node.attrs["mode"]
        if int(b) != b or b < 1:
            raise ModelError(f"depth_to_space {node.name!r}: block_size {b!r} must be a positive integer")
        if mode not in MODES:
            raise ModelError(f"depth_to_space {node.name!r}: mode {mode!r} is not one of {MODES}")

    def infer_shape(self, node, in_shapes):
        s = in_shapes[0]
        b = int(node.attrs["block_size"])
        if len(s) != 3 or s[2] % (b * b):
            raise ModelError(f"depth_to_space {node.name!r}: input {s} is not (H, W, C) with C a "
                             f"multiple of block_size**2 = {b * b}")
        return (s[0] * b, s[1] * b, s[2] // (b * b))

    def move(self, node, x: np.ndarray) -> np.ndarray:
        n, h, w, c = x.shape
        b = int(node.attrs["block_size"])
        if node.attrs["mode"] == "DCR":
            t = x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
        else:
            t = x.reshape(n, h, w, c // (b * b), b, b).transpose(0, 1, 4, 2, 5, 3)
        return t.reshape(n, h * b, w * b, c // (b * b))
