"""Quantization: affine schemes and granularity, PyTorch-compatible observers, integer
requantization, and training-side quantizers (fake-quant, STE, LSQ, LSQ+)."""
from qhw.quant.affine import ROUNDINGS, dequantize, fake_quantize, qrange, quantize
from qhw.quant.embedding import dequantize_rows, quantize_rows
from qhw.quant.lsq import (
    lsq_backward,
    lsq_forward,
    lsq_grad_scale,
    lsq_init_step,
    lsq_plus_backward,
    lsq_plus_forward,
)
from qhw.quant.params import QuantParams
from qhw.quant.requant import Requantizer, quantize_multiplier, requantizer, zero_point_terms

__all__ = [
    "QuantParams", "quantize", "dequantize", "fake_quantize", "qrange", "ROUNDINGS",
    "quantize_rows", "dequantize_rows", "Requantizer", "quantize_multiplier", "requantizer",
    "zero_point_terms", "lsq_forward", "lsq_backward", "lsq_plus_forward", "lsq_plus_backward",
    "lsq_init_step", "lsq_grad_scale",
]
