"""qhw's native model files: a YAML or JSON description plus an .npz of the constants.

Never pickle, never eval: YAML is read with ``safe_load`` and the .npz with
``allow_pickle=False``. Saving an annotated graph and loading it back gives the same graph
(formats, qparams, constants, attributes).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import yaml

from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.graph import Graph, Node
from qhw.io.atomic import atomic_file
from qhw.names import check_name

VERSION = 1
_NODE_KEYS = {"name", "op", "inputs", "attrs", "params", "formats", "inferred", "qparams"}
_TOP_KEYS = {"qhw_model", "name", "default", "weights", "nodes"}
_QP_KEYS = {"scale", "zero_point", "bits", "signed", "narrow_range", "axis", "group_size"}


def _qparams_dict(qp) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(qp).items()}


def save(graph: Graph, path: str | Path) -> Path:
    """Write ``path`` (.yaml/.yml/.json) and its constants beside it (same stem, .npz)."""
    path = Path(path)
    if path.suffix not in (".yaml", ".yml", ".json"):
        raise ModelError(f"native model files end in .yaml, .yml or .json, got {path.name!r}")
    npz = path.with_suffix(".npz")
    arrays, nodes = {}, []
    for node in graph.nodes():
        entry = {"name": node.name, "op": node.op}
        if node.inputs:
            entry["inputs"] = list(node.inputs)
        if node.attrs:
            entry["attrs"] = json.loads(json.dumps(node.attrs))
        if node.params:
            entry["params"] = sorted(node.params)
            for k, v in node.params.items():
                arrays[f"{node.name}/{k}"] = np.asarray(v, np.float64)
        if node.formats:
            entry["formats"] = {k: str(v) for k, v in sorted(node.formats.items())}
        if node.inferred:
            entry["inferred"] = sorted(node.inferred)
        if node.qparams is not None:
            entry["qparams"] = _qparams_dict(node.qparams)
        nodes.append(entry)
    doc = {"qhw_model": VERSION, "name": graph.name, "weights": npz.name, "nodes": nodes}
    if graph.default_format is not None:
        doc["default"] = str(graph.default_format)
    with atomic_file(npz, "wb") as fh:
        np.savez(fh, **arrays)
    with atomic_file(path) as fh:
        if path.suffix == ".json":
            json.dump(doc, fh, indent=1)
        else:
            yaml.safe_dump(doc, fh, sort_keys=False, default_flow_style=None, width=100)
    return path


def _read_doc(path: Path) -> dict:
    try:
        text = path.read_text()
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ModelError(f"cannot read model file {str(path)!r}: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(doc, dict) or "nodes" not in doc:
        raise ModelError(f"model file {str(path)!r} is not a qhw model (no 'nodes' list)")
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise ModelError(f"model file {str(path)!r}: unknown key(s) {sorted(unknown)}; valid: {sorted(_TOP_KEYS)}")
    return doc


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ModelError(f"weights file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelError(f"cannot read weights file {str(path)!r}: {str(exc).splitlines()[0][:200]}") from None


def load(path: str | Path) -> Graph:
    """Read a native model file into an (unprepared) graph."""
    path = Path(path)
    doc = _read_doc(path)
    arrays = _read_arrays(path.parent / doc["weights"]) if doc.get("weights") else {}
    g = Graph(check_name(str(doc.get("name", path.stem)), f"model file {str(path)!r}: graph"))
    if doc.get("default") is not None:
        try:
            g.default_format = FixedFormat.parse(doc["default"])
        except ValueError as exc:
            raise ModelError(f"model file {str(path)!r}: default: {exc}") from None
    for i, entry in enumerate(doc["nodes"] or []):
        if not isinstance(entry, dict) or "name" not in entry or "op" not in entry:
            raise ModelError(f"model file {str(path)!r}: node #{i} needs 'name' and 'op'")
        check_name(str(entry["name"]), f"model file {str(path)!r}: node #{i}")
        where = f"model file {str(path)!r}, node {entry['name']!r}"
        unknown = set(entry) - _NODE_KEYS
        if unknown:
            raise ModelError(f"{where}: unknown key(s) {sorted(unknown)}; valid: {sorted(_NODE_KEYS)}")
        params = {}
        for k in entry.get("params", []):
            key = f"{entry['name']}/{k}"
            if key not in arrays:
                raise ModelError(f"{where}: constant {k!r} is missing from the weights file")
            params[k] = arrays[key].astype(np.float64)
        try:
            formats = {k: FixedFormat.parse(v) for k, v in (entry.get("formats") or {}).items()}
        except ValueError as exc:
            raise ModelError(f"{where}: {exc}") from None
        qp = entry.get("qparams")
        if qp is not None:
            from qhw.quant import QuantParams

            if set(qp) - _QP_KEYS:
                raise ModelError(f"{where}: unknown qparams key(s) {sorted(set(qp) - _QP_KEYS)}")
            try:
                qp = QuantParams(**qp)
            except (TypeError, ValueError) as exc:
                raise ModelError(f"{where}: bad qparams: {exc}") from None
        inferred = {str(s) for s in entry.get("inferred", [])} & set(formats)
        g.add(Node(str(entry["name"]), str(entry["op"]), [str(s) for s in entry.get("inputs", [])],
                   dict(entry.get("attrs") or {}), params, formats, None, qp, inferred))
    return g
