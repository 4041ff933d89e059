"""qhw's on-disk cache for downloaded headers and compiled binaries, keyed by content hash."""
from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def cache_dir(*parts: str) -> Path:
    """``$QHW_CACHE_DIR`` (default ``~/.cache/qhw``) joined with ``parts``, created."""
    root = Path(os.environ.get("QHW_CACHE_DIR") or Path.home() / ".cache" / "qhw")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def content_hash(*items: str | bytes, length: int = 20) -> str:
    """A short hex digest of strings/bytes, order-sensitive."""
    h = hashlib.sha256()
    for item in items:
        data = item.encode() if isinstance(item, str) else item
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:length]


@contextmanager
def locked(path: os.PathLike) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block, so of the
    processes making the same cache entry at once (pytest-xdist workers) one makes it and the
    others wait and read it. Without ``fcntl`` (Windows) there is no lock: at worst a duplicate."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
