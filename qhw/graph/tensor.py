"""TensorSpec: what an edge of the graph carries."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qhw.fixed import FixedFormat


@dataclass(frozen=True)
class TensorSpec:
    """A tensor's shape (without the batch axis, channels-last), its fixed-point format once
    assigned, and optionally the affine quantization parameters it was imported with."""

    shape: tuple[int, ...]
    fmt: FixedFormat | None = None
    qparams: Any = None  # qhw.quant.QuantParams when known

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n
