"""hls4ml's ``auto`` applied to a graph: which slots hls4ml's layer classes type from a config
(``HLS4ML_SLOTS``, from the ops) and the type ``auto`` gives a slot (:func:`auto_format`). The
precision rules themselves (hls4ml 1.3.0's ``InferPrecisionTypes``) live in
:mod:`qhw.ops.hls4ml_auto` and are re-exported here."""
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
