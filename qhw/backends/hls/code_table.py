"""code_table in HLS C++: a constant array of the output codes indexed by the input code minus
the input format's smallest raw code (exactly ``qhw.ops.code_table``'s entries), the entry
assigned to the result format. Registered with the HLS emitters on import (qhw.backends.hls.layers)."""
from __future__ import annotations

import numpy as np

from qhw.backends.hls.layers import LayerContext, _elementwise, _raw_lines, _table_constant, emitter
from qhw.ops.code_table import table_format


@emitter("code_table", "elementwise.h.j2")
def _code_table(node, ctx: LayerContext) -> dict:
    table = np.asarray(node.params["table"], np.int64)
    tf, x = table_format(table), ctx.in_fmts[0]
    body = _raw_lines(x) + [f"long long idx = r - ({x.raw_min}LL);",
                            "if (idx < 0) idx = 0;", f"if (idx > {table.size - 1}) idx = {table.size - 1};",
                            f"y[i] = {ctx.fn}_table[idx];"]
    consts = [_table_constant(ctx, "table", table, tf, "code table (output code per input code)")]
    return _elementwise(node, ctx, f"code table: {table.size} output codes of {tf} indexed by the input "
                        f"code - ({x.raw_min}); entry assigned to the result format.", body, consts)
