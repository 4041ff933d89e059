"""Reading a ``qhw compile`` output folder back (``qhw simulate``, ``qhw estimate``), checked.

The folder may not be a compile output at all, or its ``report.json``, ``rtl/design.json`` or
test vectors may be corrupt or edited. Each is validated against its schema
(:mod:`qhw.io.schemas`) before anything is built or run, and every problem is a
:class:`~qhw.errors.QhwError` naming the file. Paths inside these documents must stay inside
the folder, like a model's weights file.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from qhw import limits
from qhw.errors import QhwError
from qhw.io.documents import read_document
from qhw.io.schemas import Design, HlsManifest, Report, validate

REPORT = "report.json"
DESIGN = "design.json"
HLS_MANIFEST = "qhw_hls.json"


def _inside(folder: Path, rel: str, where: str) -> Path:
    if not rel or Path(rel).is_absolute():
        raise QhwError(f"{where}: {rel!r} must be a relative path inside {str(folder)!r}")
    if not (folder / rel).resolve().is_relative_to(folder.resolve()):
        raise QhwError(f"{where}: {rel!r} points outside {str(folder)!r}")
    return folder / rel


def read_report(out: os.PathLike, backend: str | None = None) -> Report:
    """``OUT/report.json`` validated; with ``backend``, OUT must have been compiled for it."""
    out = Path(out)
    if not out.is_dir():
        raise QhwError(f"{str(out)!r} is not a folder; give the -o folder of qhw compile")
    path = out / REPORT
    if not path.is_file():
        raise QhwError(f"{str(out)!r} is not a qhw compile output (no {REPORT}); run qhw compile")
    doc = read_document(path, "compile report", QhwError)
    report = validate(Report, doc, f"compile report {str(path)!r}", QhwError)
    if backend is not None and backend not in report.backends:
        raise QhwError(f"{str(out)!r} was compiled without the {backend!r} backend (it has "
                       f"{', '.join(sorted(report.backends))}); run qhw compile --backend {backend}")
    for key in ("input", "expected"):
        _inside(out, getattr(report.vectors, key), f"compile report {str(path)!r}: vectors.{key}")
    return report


def _read_manifest(folder: os.PathLike, name: str, model, what: str, keys: tuple[str, ...],
                   kind: str):
    """``folder/name`` validated against ``model``; every file it lists under ``keys`` exists
    inside ``folder``."""
    folder = Path(folder)
    path = folder / name
    where = f"{what} {str(path)!r}"
    if not path.is_file():
        raise QhwError(f"{str(folder)!r} has no {name}: not the {kind}/ folder of a qhw compile output")
    doc = validate(model, read_document(path, what, QhwError), where, QhwError)
    for key in keys:
        for i, f in enumerate(getattr(doc, key)):
            p = _inside(folder, f, f"{where}: {key}[{i}]")
            if not p.is_file():
                raise QhwError(f"{where}: {key}[{i}] {f!r} does not exist")
    return doc


def read_design(rtl_dir: os.PathLike) -> Design:
    """``rtl/design.json`` validated; every file it lists exists inside the rtl folder."""
    return _read_manifest(rtl_dir, DESIGN, Design, "design file", ("files", "sim_files"), "rtl")


def read_hls_manifest(hls_dir: os.PathLike) -> HlsManifest:
    """``hls/qhw_hls.json`` validated; every file it lists exists inside the hls folder."""
    return _read_manifest(hls_dir, HLS_MANIFEST, HlsManifest, "HLS manifest", ("files", "sources"), "hls")


def read_vector_file(path: os.PathLike, columns: int | None = None) -> np.ndarray:
    """An (n, columns) int64 matrix of test vectors: one sample per line, signed decimal codes.
    A malformed line is an error naming the file and the line."""
    path = Path(path)
    where = f"test vector file {str(path)!r}"
    if not path.is_file():
        raise QhwError(f"{where} does not exist; qhw compile writes it")
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise QhwError(f"cannot read {where}: {getattr(exc, 'strerror', None) or exc}") from None
    rows = [(i, ln.split()) for i, ln in enumerate(text.split("\n"), 1) if ln.strip()]
    limits.check("vectors", len(rows), where)
    width = columns if columns is not None else (len(rows[0][1]) if rows else 0)
    for lineno, toks in rows:
        if len(toks) != width:
            raise QhwError(f"{where}, line {lineno}: {len(toks)} values, expected {width}")
    if not rows:
        return np.zeros((0, width), np.int64)
    try:
        return np.array([toks for _, toks in rows], dtype=np.int64)
    except (ValueError, OverflowError):
        pass
    for lineno, toks in rows:
        for t in toks:
            try:
                np.int64(int(t))
            except (ValueError, OverflowError):
                raise QhwError(f"{where}, line {lineno}: {t[:40]!r} is not a 64-bit integer code") from None
    raise QhwError(f"{where}: not a matrix of integer codes")


def check_output(out: os.PathLike, backend: str) -> Report:
    """Everything ``qhw simulate OUT --backend BACKEND`` reads, validated before it builds."""
    out = Path(out)
    report = read_report(out, backend)
    ins = outs = None
    if backend == "rtl":
        design = read_design(out / report.backends["rtl"])
        ins = sum(p.elements for p in design.inputs)
        outs = sum(p.elements for p in design.outputs)
    elif backend == "hls":
        man = read_hls_manifest(out / report.backends["hls"])
        ins = sum(p.size for p in man.inputs)
        outs = sum(p.size for p in man.outputs)
    x = read_vector_file(out / report.vectors.input, ins)
    y = read_vector_file(out / report.vectors.expected, outs)
    if len(x) != len(y):
        raise QhwError(f"test vectors of {str(out)!r}: {report.vectors.input} has {len(x)} samples, "
                       f"{report.vectors.expected} has {len(y)}")
    return report


__all__ = ["read_report", "read_design", "read_hls_manifest", "read_vector_file", "check_output"]
