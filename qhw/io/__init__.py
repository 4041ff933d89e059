"""Reading and writing models: native YAML/JSON + .npz files, ONNX through its frontend."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from qhw.errors import ModelError
from qhw.graph import Graph
from qhw.io import native
from qhw.io.native import save

MODEL_SUFFIXES = (".yaml", ".yml", ".json", ".onnx")


def load_model(path: str | Path, config: Any = None, input_format: str = "ap_fixed<16,6>",
               default=None, *, exact: bool = False, input_quant=None, report=None) -> Graph:
    """Load and prepare (validate, infer shapes and formats) a model file by its extension.
    ONNX import options (see qhw.frontends.load_onnx): exact, input_quant, report."""
    from qhw.passes import prepare

    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file {str(path)!r} does not exist")
    if path.suffix == ".onnx":
        from qhw.frontends import load_onnx  # float, QDQ/QOperator or QONNX

        return load_onnx(path, input_format=input_format, config=config, default=default,
                         exact=exact, input_quant=input_quant, report=report)
    if input_quant:
        raise ModelError(f"{str(path)!r}: --input-quant applies to quantized ONNX models only")
    if path.suffix in (".yaml", ".yml", ".json"):
        return prepare(native.load(path), config=config, default=default)
    raise ModelError(f"unknown model file type {path.suffix!r} ({str(path)!r}); qhw reads "
                     f"{', '.join(MODEL_SUFFIXES)}")


__all__ = ["load_model", "save", "MODEL_SUFFIXES"]
