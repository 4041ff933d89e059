"""hls4ml's ``auto``: the types its ``InferPrecisionTypes`` pass (hls4ml 1.3.0) gives a layer.

dense/conv accum and result: the common precision of input, weight and bias over n_ops products
(the bias of a layer without one counts as hls4ml's ``ap_uint<1>``), capped by Model
``Precision: {maximum: ...}``; weight and bias: the layer's own (quantized) type, else the Model
default; max pooling accum: the input type; average pooling accum: W+2e, I+e with e =
ceil(log2(pool size)); pooling, reshape results: the input type; add/multiply/concatenate: the
merged type; everything else (inputs, activations): the Model default.
"""
from __future__ import annotations



from qhw.fixed import FixedFormat
from qhw.ops.hls4ml_auto import common_precision, product_precision, concat_precision, sum_precision, mac_auto, avgpool_accum  # noqa: F401 - their home



def _slots() -> dict[str, tuple[str, ...]]:
    from qhw import ops

    return {op: ops.get(op).hls4ml_slots for op in ops.names() if ops.get(op).hls4ml_slots}


#: qhw op -> the slots hls4ml's layer class types from its config (others: qhw decides); derived
#: from the ops' ``hls4ml_slots``
HLS4ML_SLOTS = _slots()


def auto_format(node, slot: str, in_fmts: list[FixedFormat], default: FixedFormat | None,
                maximum: FixedFormat | None) -> FixedFormat | None:
    """The type hls4ml's ``auto`` gives ``slot`` of ``node`` (None: qhw infers it): the op's
    ``hls4ml_auto`` (qhw.ops)."""
    from qhw import ops

    return ops.get(node.op, node.name).hls4ml_auto(node, slot, in_fmts, default, maximum)
