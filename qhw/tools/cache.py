"""qhw's on-disk cache for downloaded headers and compiled binaries, keyed by content hash."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


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
