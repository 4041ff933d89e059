"""Reading and writing models: native YAML/JSON + .npz files, ONNX through its frontend."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qhw.errors import ModelError

if TYPE_CHECKING:
    from qhw.graph import Graph

MODEL_SUFFIXES = (".yaml", ".yml", ".json", ".onnx", ".pt", ".pth")


def load_model(path: str | Path, config: Any = None, input_format: str = "ap_fixed<16,6>",
               default=None, *, exact: bool = False, input_quant=None, report=None,
               input_shape: tuple[int, ...] | None = None) -> Graph:
    """Load and prepare (validate, infer shapes and formats) a model file by its extension.
    ONNX import options (see qhw.frontends.load_onnx): exact, input_quant, report.
    ``.pt``/``.pth``: a TorchScript archive of a torch.ao quantized model (input_shape: one
    sample's shape in PyTorch's layout, unless the archive records it)."""
    from qhw.passes import prepare

    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file {str(path)!r} does not exist")
    if input_shape and path.suffix not in (".pt", ".pth"):
        raise ModelError(f"{str(path)!r}: --input-shape applies to TorchScript (.pt) models only")
    if path.suffix == ".onnx":
        from qhw.frontends import load_onnx  # float, QDQ/QOperator or QONNX

        return load_onnx(path, input_format=input_format, config=config, default=default,
                         exact=exact, input_quant=input_quant, report=report)
    if input_quant:
        raise ModelError(f"{str(path)!r}: --input-quant applies to quantized ONNX models only")

    if path.suffix in (".pt", ".pth"):
        from qhw.frontends.torch_quantized import load_torchscript

        return load_torchscript(path, input_shape=input_shape, config=config, default=default,
                                report=report)
    if path.suffix in (".yaml", ".yml", ".json"):
        from qhw.io import native

        return prepare(native.load(path), config=config, default=default)
    raise ModelError(f"unknown model file type {path.suffix!r} ({str(path)!r}); qhw reads "
                     f"{', '.join(MODEL_SUFFIXES)}")


def __getattr__(name: str):
    # the writer (pydantic schemas, networkx) is imported on first use, so that the CLI's
    # qhw.io.atomic, checked before any model is read, does not pay for it
    if name == "save":
        from qhw.io.native import save

        return save
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["load_model", "save", "MODEL_SUFFIXES"]
