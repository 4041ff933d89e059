"""code_softmax in HLS C++ (templates/hls/code_softmax.h.j2): the exp table as integer codes, the
output codes in the result's table format, and the integer steps of ``qhw.ops.code_softmax``."""
from __future__ import annotations

import numpy as np

from qhw.backends.hls.layers import LayerContext, _table_values, common, emitter
from qhw.backends.hls.render import code_initializer, code_type
from qhw.fixed import FixedFormat
from qhw.ops import get as get_op
from qhw.ops.code_table import table_format


@emitter("code_softmax.h.j2", "code_softmax")
def _code_softmax(node, ctx: LayerContext) -> dict:
    op = get_op(node.op, node.name)
    exp = np.asarray(node.params["exp"], np.int64)
    out = np.asarray(node.params["out"], np.int64)
    ef = FixedFormat(64, 64, False)
    t = _table_values(ctx, out, table_format(out), "output codes per rounded quotient")
    x = ctx.in_fmts[0]
    v = common(node, ctx)
    v.update(exp_n=int(exp.size), exp_ctype=code_type(ef), exp_values=code_initializer(exp, ef),
             out_n=int(out.size), out_t=t["type"], out_ctype=t["ctype"], out_w=t["width"],
             out_values=t["values"], scale=int(node.attrs["scale"]),
             sum_bits=op.sum_bits(node, v["n"]), x_width=x.width, x_signed=x.signed)
    return v
