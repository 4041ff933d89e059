"""qhw's native model files: a YAML or JSON description plus an .npz of the constants.

Never pickle, never eval: YAML is read by a safe loader within limits (qhw.io.documents), the
document is validated against its schema (qhw.io.schemas.NativeModel), and each .npz member's
header is checked before its data is read (no pickles). The weights file must lie inside the
model's folder. Saving an annotated graph and loading it back gives the same graph
(formats, qparams, constants, attributes).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from qhw.errors import ModelError
from qhw.fixed import FixedFormat
from qhw.graph import Graph, Node
from qhw.io.atomic import atomic_file
from qhw.names import check_name
from qhw.io.documents import read_document, read_npz
from qhw.io.schemas import NativeModel, validate

VERSION = 1


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


def _read_doc(path: Path) -> NativeModel:
    """The model document, read within the document limits and validated against its schema."""
    where = f"model file {str(path)!r}"
    doc = read_document(path, "model file")
    if not isinstance(doc, dict) or "nodes" not in doc:
        raise ModelError(f"{where} is not a qhw model (no 'nodes' list)")
    return validate(NativeModel, doc, where)


def weights_path(model: Path, name: str) -> Path:
    """The weights file ``name`` of the model file ``model``: a relative path that stays inside
    the model's folder once symlinks are resolved (the rule ONNX applies to external data)."""
    where = f"model file {str(model)!r}: weights {name!r}"
    if not name or Path(name).is_absolute() or "\\" in name or ":" in Path(name).parts[0]:
        raise ModelError(f"{where} must be a relative path inside the model's folder")
    folder = model.parent.resolve()
    target = (model.parent / name).resolve()
    if not target.is_relative_to(folder):
        raise ModelError(f"{where} points outside the model's folder {str(folder)!r}; weights "
                         "must be a file inside it")
    return model.parent / name


def load(path: str | Path) -> Graph:
    """Read a native model file into an (unprepared) graph."""
    path = Path(path)
    doc = _read_doc(path)
    arrays = read_npz(weights_path(path, doc.weights)) if doc.weights else {}
    g = Graph(check_name(str(doc.name if doc.name is not None else path.stem), f"model file {str(path)!r}: graph"))
    if doc.default is not None:
        try:
            g.default_format = FixedFormat.parse(doc.default)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"model file {str(path)!r}: default: {exc}") from None
    for i, entry in enumerate(doc.nodes):
        check_name(str(entry.name), f"model file {str(path)!r}: node #{i}")
        where = f"model file {str(path)!r}, node {entry.name!r}"
        params = {}
        for k in entry.params:
            key = f"{entry.name}/{k}"
            if key not in arrays:
                raise ModelError(f"{where}: constant {k!r} is missing from the weights file")
            params[k] = arrays[key].astype(np.float64)
        formats = {}
        for k, v in entry.formats.items():
            try:
                formats[k] = FixedFormat.parse(v)
            except (TypeError, ValueError) as exc:
                raise ModelError(f"{where}: formats.{k}: {exc}") from None
        qp = entry.qparams
        if qp is not None:
            from qhw.quant import QuantParams

            try:
                qp = QuantParams(**{k: (tuple(v) if isinstance(v, list) else v)
                                    for k, v in qp.model_dump().items()})
            except (TypeError, ValueError) as exc:
                raise ModelError(f"{where}: bad qparams: {exc}") from None
        inferred = set(entry.inferred) & set(formats)
        g.add(Node(entry.name, entry.op, list(entry.inputs), dict(entry.attrs), params, formats,
                   None, qp, inferred))
    return g
