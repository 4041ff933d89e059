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
        return self.cached((name, fmt, id(self.params[name])), lambda: fmt.quantize(self.params[name]))

    #: derived values kept per node (tuple keys); older ones are evicted beyond this many
    CACHE_ENTRIES = 16

    def cached(self, key: tuple, build):
        """``build()``'s value for ``key``, computed once per node. Safe under the golden model's
        block threads: the value is returned from a local, so a concurrent eviction cannot lose
        it (at worst two threads build the same value). String keys are facts recorded by shape
        inference and are never evicted."""
        cache = self._raw_cache
        value = cache.get(key)
        if value is None:
            value = build()
            old = [k for k in list(cache) if isinstance(k, tuple)]
            for k in old[: max(0, len(old) + 1 - self.CACHE_ENTRIES)]:
                cache.pop(k, None)
            cache[key] = value
        return value

    def copy(self) -> "Node":
        return Node(self.name, self.op, list(self.inputs), dict(self.attrs),
                    {k: v.copy() for k, v in self.params.items()}, dict(self.formats),
                    self.shape, self.qparams, set(self.inferred))
