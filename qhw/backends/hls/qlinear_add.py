"""qlinear_add in HLS C++ (templates/hls/qlinear_add.h.j2), as qhw.ops.qlinear_add defines it:
the b table as a constant array of integers (units of 2**-frac), v = a * multiplier + entry in
64-bit integers, the float32 tie window from the bit length of n0, the output zero point, the
clamp, and the assignment to the result format."""
from __future__ import annotations

from qhw.backends.hls.layers import LayerContext, _elementwise, emitter
from qhw.backends.hls.render import code_initializer, code_type
from qhw.ops import get as get_op
from qhw.ops.code_table import table_format


@emitter("qlinear_add.h.j2", "qlinear_add")
def _qlinear_add(node, ctx: LayerContext) -> dict:
    op = get_op(node.op, node.name)
    table = op.table(node)
    tf = table_format(table)
    fa, fb = ctx.in_fmts
    frac = int(node.attrs["frac"])
    wn = max(op.v_width(node, fa), frac + 2) - frac
    return _elementwise(node, ctx, entries=int(table.size), table_ctype=code_type(tf),
                        table_values=code_initializer(table, tf), lo_raw=int(fb.raw_min),
                        a_width=fa.width, a_signed=fa.signed, b_width=fb.width, b_signed=fb.signed,
                        multiplier=int(node.attrs["multiplier"]), frac=frac, n0_bits=wn,
                        zero_point=int(node.attrs["zero_point"]), lo=int(node.attrs["lo"]),
                        hi=int(node.attrs["hi"]))
