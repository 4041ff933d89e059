"""batchnorm: inference-time batch normalisation over the channel (last) axis.

y = (x - mean) / sqrt(var + epsilon) * gamma + beta, with the running statistics (PyTorch's
``eval()`` semantics). Constants: gamma, beta, mean, var, each (C,). attrs: epsilon.

It exists so frontends can import a network as written; :func:`qhw.passes.fold.fold_batchnorm`
folds it into the dense/conv next to it. It has float semantics only: fixed-point execution of an
unfolded batchnorm is an error naming the node (hardware never sees one).
"""
from __future__ import annotations

import numpy as np

from qhw.errors import ModelError
from qhw.ops.base import OpDef
from qhw.ops.traits import Trait
from qhw.ops.registry import register


def affine_terms(node) -> tuple[np.ndarray, np.ndarray]:
    """(k, c) with y = x * k + c per channel: the folded form of the node (float64)."""
    p = node.params
    k = p["gamma"] / np.sqrt(p["var"] + float(node.attrs["epsilon"]))
    return k, p["beta"] - p["mean"] * k


@register
class BatchNorm(OpDef):
    traits = frozenset({Trait.ELEMENTWISE, Trait.RESCALE})
    name = "batchnorm"
    hls4ml_class, hls4ml_slots = "BatchNormalization", ("scale", "bias", "result")
    attrs = {"epsilon": 1e-5}
    params = ("gamma", "beta", "mean", "var")

    def check(self, node):
        super().check(node)
        shapes = {k: node.params[k].shape for k in self.params}
        if len(set(shapes.values())) != 1 or len(shapes["gamma"]) != 1:
            raise ModelError(f"batchnorm {node.name!r}: gamma, beta, mean, var must be equal (C,) "
                             f"vectors, got shapes {shapes}")
        if float(node.attrs["epsilon"]) < 0 or np.any(node.params["var"] + float(node.attrs["epsilon"]) <= 0):
            raise ModelError(f"batchnorm {node.name!r}: var + epsilon must be > 0")

    def infer_shape(self, node, in_shapes):
        c = node.params["gamma"].shape[0]
        if not in_shapes[0] or in_shapes[0][-1] != c:
            raise ModelError(f"batchnorm {node.name!r}: input shape {in_shapes[0]} does not end in "
                             f"its {c} channels")
        return in_shapes[0]

    def infer_formats(self, node, in_fmts, ctx):
        node.formats["result"] = ctx.choose(node, "result", None, ctx.default)

    def golden(self, node, inputs, in_fmts, ctx):
        raise ModelError(f"batchnorm {node.name!r} has no fixed-point semantics: fold it into the "
                         "dense/conv next to it first (qhw.passes.fold.fold_batchnorm)")

    def float_eval(self, node, inputs):
        p, eps = node.params, float(node.attrs["epsilon"])
        return (inputs[0] - p["mean"]) / np.sqrt(p["var"] + eps) * p["gamma"] + p["beta"]
