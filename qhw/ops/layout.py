"""transpose and pad: data movement over a tensor's axes (no arithmetic).

transpose: attrs ``perm``, a permutation of the tensor's axes (batch excluded, qhw's own axis
order): output axis j is input axis perm[j] (numpy's ``transpose``).

pad: attrs ``pads`` = [begin_0, ..., begin_{r-1}, end_0, ..., end_{r-1}] (non-negative, per axis
of the tensor, batch excluded) and ``mode``: ``constant`` fills with the code 0 (the real value 0
of a zero-point-free quantized tensor, and of any fixed-point one) or, with the optional attr
``value``, with that integer raw code of the input format (an importer's quantized constant
``Pad`` value), ``edge`` repeats the border element, ``reflect`` mirrors without repeating it
(ONNX ``Pad`` modes).

Every output element copies one input element (constant padding: the value 0), so both are
gather ops: ``source_index`` gives the map both backends wire (-1 for a constant 0); the HLS
backend renders it as a table of source indices (``index_table``).
"""
from __future__ import annotations

import numpy as np

from qhw.errors import ModelError
from qhw.ops.base import GatherOp
from qhw.ops.registry import register
from qhw.ops.traits import Trait

PAD_MODES = ("constant", "edge", "reflect")


@register
class Transpose(GatherOp):
    traits = frozenset({Trait.MOVE, Trait.GATHER})
    name = "transpose"
    required = ("perm",)
    index_table = True

    def _perm(self, node, rank: int) -> tuple[int, ...]:
        perm = node.attrs["perm"]
        try:
            p = tuple(int(a) for a in perm)
        except (TypeError, ValueError):
            p = ()
        if sorted(p) != list(range(rank)):
            raise ModelError(f"transpose {node.name!r}: perm {perm!r} is not a permutation of the "
                             f"{rank} axes of its input (batch excluded)")
        return p

    def infer_shape(self, node, in_shapes):
        s = in_shapes[0]
        return tuple(s[a] for a in self._perm(node, len(s)))

    def summary(self, node) -> str:
        return f"axes permuted by {[int(a) for a in node.attrs['perm']]}"

    def move(self, node, x: np.ndarray) -> np.ndarray:
        return np.transpose(x, (0,) + tuple(a + 1 for a in self._perm(node, x.ndim - 1)))


@register
class Pad(GatherOp):
    traits = frozenset({Trait.MOVE, Trait.GATHER})
    name = "pad"
    required = ("pads",)
    index_table = True
    attrs = {"mode": "constant"}
    #: value: the raw input code constant padding writes (default 0)
    optional_attrs = ("value",)

    def check(self, node):
        super().check(node)
        v = node.attrs.get("value", 0)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or abs(int(v)) >= 1 << 62:
            raise ModelError(f"pad {node.name!r}: value {v!r} must be an integer raw code")
        if v and node.attrs["mode"] != "constant":
            raise ModelError(f"pad {node.name!r}: value {v!r} is for mode 'constant', not {node.attrs['mode']!r}")

    def fill(self, node) -> int:
        """The raw input code constant padding writes."""
        return int(node.attrs.get("value", 0))

    def _pads(self, node, shape) -> list[tuple[int, int]]:
        pads, r = node.attrs["pads"], len(shape)
        try:
            p = [int(v) for v in pads]
        except (TypeError, ValueError):
            p = []
        if len(p) != 2 * r or min(p, default=0) < 0:
            raise ModelError(f"pad {node.name!r}: pads {pads!r} must be {2 * r} non-negative integers "
                             "(begin of each axis, then end of each axis; batch excluded)")
        mode = node.attrs["mode"]
        if mode not in PAD_MODES:
            raise ModelError(f"pad {node.name!r}: mode {mode!r} is not one of {PAD_MODES}")
        if mode == "reflect" and any(max(p[i], p[i + r]) >= shape[i] for i in range(r)):
            raise ModelError(f"pad {node.name!r}: reflect padding {p} needs each pad smaller than "
                             f"its axis of {tuple(shape)}")
        if mode == "edge" and any(shape[i] == 0 for i in range(r)):
            raise ModelError(f"pad {node.name!r}: edge padding of an empty axis")
        return [(p[i], p[i + r]) for i in range(r)]

    def infer_shape(self, node, in_shapes):
        s = in_shapes[0]
        return tuple(n + a + b for n, (a, b) in zip(s, self._pads(node, s)))

    def summary(self, node) -> str:
        return f"padded by {[int(p) for p in node.attrs['pads']]} ({node.attrs['mode']})"

    def source_index(self, node, in_shape):
        """Flat input index per output element, -1 where the constant (:meth:`fill`) is written."""
        idx = np.arange(int(np.prod(in_shape)), dtype=np.int64).reshape(tuple(in_shape))
        pads = self._pads(node, in_shape)
        mode = node.attrs["mode"]
        return np.pad(idx, pads, mode=mode, constant_values=-1).reshape(-1)

    def move(self, node, x: np.ndarray) -> np.ndarray:
        pads = [(0, 0)] + self._pads(node, x.shape[1:])
        mode = node.attrs["mode"]
        if mode == "constant":
            return np.pad(x, pads, mode="constant", constant_values=self.fill(node))
        return np.pad(x, pads, mode=mode)

    def golden(self, node, inputs, in_fmts, ctx):
        return ctx.assign(node.name, node.formats["result"], self.move(node, inputs[0]), in_fmts[0])
