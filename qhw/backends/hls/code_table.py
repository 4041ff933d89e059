"""code_table in HLS C++ (templates/hls/code_table.h.j2): a constant array of the output codes
indexed by the input code minus the input format's smallest raw code (exactly
``qhw.ops.code_table``'s entries; per-channel tables one after the other, element i reading the
table of channel i % channels, or with ``rows`` the table of row rows[i]), the entry assigned to the result format."""
from __future__ import annotations

import numpy as np

from qhw.backends.hls.layers import LayerContext, _elementwise, emitter
from qhw.ops.code_table import table_format


@emitter("code_table.h.j2", "code_table")
def _code_table(node, ctx: LayerContext) -> dict:
    table = np.asarray(node.params["table"], np.int64)
    tf, x = table_format(table), ctx.in_fmts[0]
    # integer codes as ap_[u]int literals: g++ folds those at once, where an ap_fixed initializer
    # per entry (a double converted at compile time) took 3.5 min for 12,288 entries
    codes = [str(int(v)) for v in table.ravel()]
    values = ",\n".join("    " + ", ".join(codes[i:i + 16]) for i in range(0, len(codes), 16))
    table_t = f"ap_{'' if tf.signed else 'u'}int<{tf.width}>"
    return _elementwise(node, ctx, entries=int(table.shape[-1]), table_fmt=str(tf), table_t=table_t,
                        table_values=values, lo_raw=int(x.raw_min), x_width=x.width,
                        x_signed=x.signed, channels=int(table.shape[0]) if table.ndim == 2 else 0,
                        rows=_rows(node, ctx))


def _rows(node, ctx: LayerContext) -> dict | None:
    """The row of every element (``rows``: a per-position table), as a constant array, or None."""
    if "rows" not in node.params:
        return None
    rows = np.asarray(node.params["rows"], np.int64)
    w = max(1, int(rows.max()).bit_length())
    return {"type": f"ap_uint<{w}>", "codes": ", ".join(str(int(r)) for r in rows), "n": int(rows.size)}
