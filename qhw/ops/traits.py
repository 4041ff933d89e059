"""Op traits: facts about an op, declared once on its class, read by passes, backends, estimators.

Every op class sets ``traits`` (a frozenset of :class:`Trait`). Code outside ``qhw/ops`` and
``qhw/frontends`` never lists op names: it asks ``qhw.ops.group(Trait.X)`` (the registered ops
with that trait) or ``qhw.ops.has(node.op, Trait.X)``. A new op with the right traits is then
picked up everywhere at once (the model is tinygrad's ``GroupOp``, derived from the registry
instead of typed by hand).
"""
from __future__ import annotations

from enum import Enum


class Trait(str, Enum):
    """What an op is, in the words passes and backends ask about."""

    #: graph boundary (input, output)
    IO = "io"
    #: multiply-accumulate against constant weights: weight/bias/accum/result slots, reuse factor
    MAC = "mac"
    #: every output value is one of its input values, unchanged (a copy or a choice): the result
    #: format can be the input's (flatten, reshape, concat, upsample, depth_to_space, maxpool, output)
    MOVE = "move"
    #: each output element copies one statically known input element (``source_index``): no choice
    GATHER = "gather"
    #: the same elements in the same order (flatten, reshape): wires only
    RESHAPE = "reshape"
    #: each output element depends on the input element at the same position only
    ELEMENTWISE = "elementwise"
    #: a clamp of the input (relu, relu6, clip): monotone, lossless result format
    CLAMP = "clamp"
    #: a function evaluated through a table of ``qhw.tables`` (ROM/PWL/hls4ml): table_size, variant
    TABLE = "table"
    #: a reduction over a sliding window (max/avg pooling)
    POOL = "pool"
    #: two or more tensors combined element by element (add, mul)
    MERGE = "merge"
    #: a change of scale by a constant (shift, requantize, threshold, batchnorm)
    RESCALE = "rescale"
    #: the codes pass unchanged, only the binary point moves (shift): exact, free in hardware
    POINT_SHIFT = "point_shift"
