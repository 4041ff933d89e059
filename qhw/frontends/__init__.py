"""Frontends: importers from other model formats into qhw graphs.

:func:`load_onnx` is the one ONNX entry point: quantized models (QDQ / QOperator, QONNX) go to
their importers, float models to :mod:`qhw.frontends.onnx_float`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def onnx_kind(model) -> str:
    """"qonnx", "qdq" or "float": which importer an onnx.ModelProto needs."""
    from qhw.frontends.onnx_qdq import is_quantized_onnx
    from qhw.frontends.qonnx import is_qonnx

    if is_qonnx(model):
        return "qonnx"
    return "qdq" if is_quantized_onnx(model) else "float"


def load_onnx(source: str | Path | Any, *, input_format="ap_fixed<16,6>", config=None, default=None,
              report=None, exact: bool = False, input_quant=None) -> Any:
    """Import any ONNX model (path or onnx.ModelProto) as a prepared qhw graph.

    Quantized models are lowered to integer arithmetic and ignore ``input_format`` (their inputs
    are integer codes; see qhw.passes.lower_affine.quantize_inputs). ``report`` (optional)
    receives the mapping table (a qhw.frontends.report.MappingReport, shared by every importer).
    ``exact`` (QONNX): refuse what has no exact integer form instead of rounding it the way the
    producer's float arithmetic effectively does (the default: rounded and noted in the report).
    ``input_quant``: {ONNX input name or None (the only input): QuantParams} for inputs a
    quantized model reads unquantized.
    """
    from qhw.frontends import onnx_float
    from qhw.frontends.onnx_qdq import load_qdq, read_onnx
    from qhw.frontends.qonnx import load_qonnx

    from qhw.errors import ModelError

    model = read_onnx(source)
    kind = onnx_kind(model)
    if input_quant:
        inputs = [i.name for i in model.graph.input
                  if i.name not in {t.name for t in model.graph.initializer}]
        if None in input_quant:
            if len(inputs) != 1:
                raise ModelError(f"--input-quant without a NAME= needs a model with one input; "
                                 f"this one has {inputs}")
            input_quant = {(inputs[0] if k is None else k): v for k, v in input_quant.items()}
    if kind == "qonnx":
        return load_qonnx(model, config=config, default=default, report=report, exact=exact,
                          input_quant=input_quant)
    if input_quant:
        raise ModelError("input_quant (--input-quant) applies to QONNX models; this ONNX model "
                         f"is {'QDQ/QOperator (its inputs are quantized by QuantizeLinear)' if kind == 'qdq' else 'a float model (use --input-format)'}")
    if kind == "qdq":
        return load_qdq(model, config=config, default=default, report=report, exact=exact)
    return onnx_float.load_onnx(model, input_format=input_format, config=config, default=default,
                                report=report)


def load_torch(module, example_input_shape, **kwargs):
    """PyTorch module → prepared qhw graph ([torch] extra): a model converted by
    torch.ao.quantization (eager or FX) bit-exactly on its integer codes
    (qhw.frontends.torch_quantized.load_torch_quantized; input_format is then unused), any other
    module in fixed point (qhw.frontends.torch.load_torch)."""
    from qhw.frontends import torch_quantized
    from qhw.frontends.torch import load_torch as _load

    if torch_quantized.is_quantized_module(module):
        kwargs.pop("input_format", None)
        return torch_quantized.load_torch_quantized(module, example_input_shape, **kwargs)
    return _load(module, example_input_shape, **kwargs)


from qhw.frontends.report import MappingReport, MappingRow  # noqa: E402

__all__ = ["load_onnx", "load_torch", "onnx_kind", "MappingReport", "MappingRow"]
