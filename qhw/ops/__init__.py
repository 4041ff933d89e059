"""Operations: one module per op (attributes, shape rule, format rule, golden semantics).

Importing this package registers every op; look them up with :func:`get`.
"""
from qhw.ops import activation, batchnorm, code_softmax, code_table, conv, dense, depth_to_space, elementwise, embedding, fsum_pool, io, layout, lut, pool, qlinear_add, requantize, reshape, shift, softmax, threshold, upsample  # noqa: F401
from qhw.ops.base import FormatContext, GoldenContext, OpDef, OverflowCount
from qhw.ops.registry import get, group, has, is_input, is_output, names, register
from qhw.ops.traits import Trait

__all__ = ["get", "group", "has", "is_input", "is_output", "names", "register", "Trait", "OpDef", "FormatContext", "GoldenContext", "OverflowCount"]
