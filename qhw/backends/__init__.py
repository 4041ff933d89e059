"""Backend registry: name -> object with ``write(graph, out_dir, options)`` (and optionally
``subdir``, the folder under ``OUT`` it writes, and ``simulate(OUT)``)."""
from __future__ import annotations

from typing import Any

_BACKENDS: dict[str, Any] = {}


def register(name: str, backend: Any) -> None:
    """Register ``backend`` under ``name`` (replacing an earlier registration of the same name)."""
    if not callable(getattr(backend, "write", None)):
        raise TypeError(f"backend {name!r} must have a write(graph, out_dir, options) method")
    _BACKENDS[name] = backend


def get(name: str) -> Any:
    _load_builtin()
    try:
        return _BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; registered: {', '.join(sorted(_BACKENDS))}") from None


def names() -> list[str]:
    _load_builtin()
    return sorted(_BACKENDS)


def _load_builtin() -> None:
    if "rtl" not in _BACKENDS:
        from qhw.backends.verilog import VerilogBackend

        register("rtl", VerilogBackend())
    if "hls" not in _BACKENDS:
        try:
            from qhw.backends.hls import HlsBackend
        except ImportError:  # pragma: no cover - HLS backend not present
            return
        register("hls", HlsBackend())
