"""Reading YAML/JSON documents and numpy arrays from files other people wrote, within limits.

Nothing read here is ever executed, evaluated or unpickled. Sizes are checked *before* the
memory is spent (see :mod:`qhw.limits`):

* YAML is composed by a ``SafeLoader`` that counts nesting levels and aliases as it composes, and
  then counts the values the document holds with every alias expanded (an "alias bomb" of a few
  hundred bytes expands to billions of values; a recursive alias never ends). Only then are
  Python objects built.
* JSON's nesting depth is measured on the text (brackets outside strings) before ``json.loads``,
  whose recursive parser would otherwise raise RecursionError deep inside.
* ``.npy`` arrays and ``.npz`` members: the header is read without the data, the declared
  shape * itemsize is compared with the bytes actually there and with the limit, object dtypes
  are refused, and ``allow_pickle`` is never set.
"""
from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.lib import format as npformat

from qhw import limits
from qhw.errors import ModelError


def _first_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


def read_text(path: str | os.PathLike, what: str, error=ModelError) -> str:
    """The text of a document file (size-checked first); ``error`` naming the file otherwise."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {str(path)!r} is a folder, not a file")
    if not path.is_file():
        raise error(f"{what} {str(path)!r} does not exist")
    try:
        limits.check("document_bytes", path.stat().st_size, f"{what} {str(path)!r}")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"cannot read {what} {str(path)!r}: not UTF-8 text ({exc.reason} at byte "
                    f"{exc.start})") from None
    except OSError as exc:
        raise error(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------- YAML
class _CountingLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting and too many aliases while composing, and documents
    whose values, aliases expanded, are too many (or infinite) before constructing anything."""

    def __init__(self, stream, where: str) -> None:
        super().__init__(stream)
        self._where = where
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):  # noqa: D401 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            limits.check("yaml_aliases", self._aliases, self._where)
        self._depth += 1
        try:
            limits.check("nesting_depth", self._depth, self._where)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):
        node = super().compose_document()
        _check_expanded_size(node, self._where)
        return node


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [x for kv in node.value for x in kv]
    return []


def _check_expanded_size(root, where: str) -> None:
    """Count the values of the composed document with aliases expanded (each shared node counted
    as often as it is used), iteratively and memoized: linear in the composed size."""
    cap = limits.limit("document_nodes")
    size: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            if total > cap:
                limits.check("document_nodes", total, where)
            size[key] = total
            continue
        if key in size:
            continue
        if key in active:
            raise ModelError(f"{where}: a YAML alias refers to a value that contains it "
                             "(a recursive document never ends)")
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def load_yaml_text(text: str, where: str, error=ModelError) -> Any:
    """The value of a YAML document (safe: plain data only), within the document limits."""
    loader = _CountingLoader(text, where)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise error(f"cannot read {where}: not valid YAML: {_first_line(exc)}") from None
    finally:
        loader.dispose()


# --------------------------------------------------------------------------- JSON
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def json_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` in JSON text (brackets inside strings do not count)."""
    bare = _JSON_STRING.sub("", text).encode("utf-8", "replace")
    b = np.frombuffer(bare, np.uint8)
    step = (np.isin(b, (ord("["), ord("{"))).astype(np.int64)
            - np.isin(b, (ord("]"), ord("}"))).astype(np.int64))
    return int(np.cumsum(step).max(initial=0))


def load_json_text(text: str, where: str, error=ModelError) -> Any:
    """The value of a JSON document, its nesting depth checked before it is parsed."""
    limits.check("nesting_depth", json_depth(text), where)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"cannot read {where}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:  # e.g. an integer with too many digits
        raise error(f"cannot read {where}: not valid JSON: {_first_line(exc)}") from None


def read_document(path: str | os.PathLike, what: str, error=ModelError) -> Any:
    """A YAML or JSON file (by suffix: .json is JSON, anything else YAML) as plain data."""
    path = Path(path)
    text = read_text(path, what, error)
    where = f"{what} {str(path)!r}"
    if path.suffix.lower() == ".json":
        return load_json_text(text, where, error)
    return load_yaml_text(text, where, error)


# --------------------------------------------------------------------------- arrays
def _header(fh, where: str, available: int, count_limit: str | None = None
            ) -> tuple[tuple[int, ...], np.dtype, bool]:
    """(shape, dtype, fortran_order) of the .npy stream ``fh`` positioned at its start; the data
    it declares must fit in ``available`` bytes of the file, in the array_bytes limit and (its
    element count) in the limit ``count_limit``."""
    try:
        version = npformat.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = npformat.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = npformat.read_array_header_2_0(fh)
        else:
            shape, fortran, dtype = npformat._read_array_header(fh, version)  # 3.0
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise ModelError(f"cannot read {where}: not a .npy array ({_first_line(exc)})") from None
    if dtype.hasobject:
        raise ModelError(f"{where}: holds Python objects (dtype {dtype}); qhw reads numeric arrays "
                         "only and never unpickles")
    if dtype.kind not in "biuf":
        raise ModelError(f"{where}: dtype {dtype} is not numeric (bool, int or float)")
    count = 1
    for d in shape:
        count *= int(d)
    if count_limit is not None:
        limits.check(count_limit, count, where)
    nbytes = count * dtype.itemsize
    limits.check("array_bytes", nbytes, where)
    header = fh.tell()
    if nbytes > available - header:
        raise ModelError(f"{where}: the header declares shape {tuple(shape)} of {dtype} "
                         f"({nbytes:,} bytes) but the file holds {max(0, available - header):,}")
    return tuple(int(d) for d in shape), dtype, fortran


def _finite(a: np.ndarray, where: str) -> np.ndarray:
    if a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ModelError(f"{where}: non-finite value {a[idx]} at index {list(idx)}; qhw needs "
                         "finite numbers")
    return a


def _array_file(path: str | os.PathLike, what: str, suffix: str) -> tuple[Path, str]:
    """``path`` as a Path and how errors name it; a folder or a missing file is an error."""
    path = Path(path)
    where = f"{what} file {str(path)!r}"
    if path.is_dir():
        raise ModelError(f"{where} is a folder, not a {suffix} file")
    if not path.is_file():
        raise ModelError(f"{where} does not exist")
    return path, where


def read_npy(path: str | os.PathLike, what: str, finite: bool = True) -> np.ndarray:
    """A numeric .npy array, its header checked against the file size and the limits first."""
    path, where = _array_file(path, what, ".npy")
    try:
        with path.open("rb") as fh:
            _header(fh, where, path.stat().st_size)
            fh.seek(0)
            a = np.load(fh, allow_pickle=False)
    except OSError as exc:
        raise ModelError(f"cannot read {where}: {exc.strerror or _first_line(exc)}") from None
    except ValueError as exc:
        raise ModelError(f"cannot read {where} (expected a .npy array): {_first_line(exc)}") from None
    return _finite(a, where) if finite else a


def read_npz(path: str | os.PathLike, what: str = "weights") -> dict[str, np.ndarray]:
    """Every array of a .npz archive; each member's header is checked against the member's
    uncompressed size and the limits before its data is read. Non-finite values are refused."""
    path, where = _array_file(path, what, ".npz")
    out: dict[str, np.ndarray] = {}
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                member = f"{where}, array {name!r}"
                with zf.open(info) as fh:
                    shape, dtype, fortran = _header(fh, member, info.file_size, "layer_weights")
                    count = int(np.prod(shape, dtype=object))
                    total += count * dtype.itemsize
                    limits.check("array_bytes", total, where)
                    data = fh.read(count * dtype.itemsize)
                a = np.frombuffer(data, dtype=dtype)
                a = a.reshape(shape[::-1]).T if fortran else a.reshape(shape)
                out[name] = _finite(a.copy(), member)
    except ModelError:
        raise
    except (OSError, ValueError, RuntimeError, zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
        raise ModelError(f"cannot read {where}: {_first_line(exc)}") from None
    return out


__all__ = ["read_text", "read_document", "load_yaml_text", "load_json_text", "json_depth",
           "read_npy", "read_npz"]
