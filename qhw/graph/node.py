"""Node: one operation of the graph, its constants and its format slots."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.graph.tensor import TensorSpec


@dataclass(eq=False)
class Node:
    """An operation. See docs/graph_contract.md.

    inputs: producer names in port order. params: constants as float64 real values.
    formats: the slots (``result`` always; ``weight``/``bias``/``accum`` for dense and conv ...).
    shape: output shape (without batch), set by shape inference.
    """

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    formats: dict[str, FixedFormat] = field(default_factory=dict)
    shape: tuple[int, ...] | None = None
    qparams: Any = None
    #: slots whose format came from inference (re-inferred on every prepare, unlike given ones)
    inferred: set[str] = field(default_factory=set)
    _raw_cache: dict = field(default_factory=dict, repr=False)

    @property
    def output(self) -> TensorSpec:
        if self.shape is None:
            raise ModelError(f"node {self.name!r} ({self.op}) has no shape yet; run shape inference")
        return TensorSpec(tuple(self.shape), self.formats.get("result"), self.qparams)

    def param_raw(self, name: str) -> np.ndarray:
        """Raw codes of constant ``name`` in its slot format (cached until the format changes)."""
        if name not in self.params:
            raise ModelError(f"node {self.name!r} ({self.op}) has no constant {name!r}")
        fmt = self.formats.get(name)
        if fmt is None:
            raise ModelError(f"node {self.name!r} ({self.op}): constant {name!r} has no format")
        key = (name, fmt, id(self.params[name]))
        if key not in self._raw_cache:
            self._raw_cache.clear() if len(self._raw_cache) > 16 else None
            self._raw_cache[key] = fmt.quantize(self.params[name])
        return self._raw_cache[key]

    def copy(self) -> "Node":
        return Node(self.name, self.op, list(self.inputs), dict(self.attrs),
                    {k: v.copy() for k, v in self.params.items()}, dict(self.formats),
                    self.shape, self.qparams, set(self.inferred))
