"""code_table in RTL: per element, a ROM of the output codes addressed by the input code.

The address is the input code minus the input format's smallest raw code (for a signed input:
its sign bit inverted), so the ROM holds exactly ``qhw.ops.code_table``'s entries in their
order (per-channel tables: element e reads the ROM of channel e % channels; with ``rows`` the
ROM of row rows[e]); the entry is cast
to the result format by the shared unary requantizer. The ROM module is
shared by content with every other table of the design (qhw.backends.verilog.lut._rom_unit).
"""
from __future__ import annotations

import numpy as np

from qhw.backends.verilog.datapath import Datapath
from qhw.backends.verilog.elementwise import element, element_layer, finish
from qhw.backends.verilog.lowering import Lowering, bits, counts, lowering
from qhw.backends.verilog.lut import _rom_unit
from qhw.backends.verilog.requant import UnarySpec
from qhw.fixed import FixedFormat
from qhw.ops.code_table import CodeTable, table_format


def lower_code_table_element(dp: Datapath, node, x: FixedFormat, xe: str, e: int, prefix: str) -> str:
    """The result wire of element ``e`` (input slice ``xe``, ``x.width`` bits, in format ``x``)."""
    table = np.asarray(node.params["table"], np.int64)
    tf = table_format(table)
    if "rows" in node.params:  # one table per row class: element e reads row rows[e]
        row = int(np.asarray(node.params["rows"], np.int64)[e])
        rom, aw = _rom_unit(dp, prefix, table[row], tf, f"code table of {node.name!r}, row {row}")
    elif table.ndim == 2:  # one table per channel: element e (channels last) reads row e % channels
        rom, aw = _rom_unit(dp, prefix, table[e % table.shape[0]], tf,
                            f"code table of {node.name!r}, channel {e % table.shape[0]}")
    else:
        rom, aw = _rom_unit(dp, prefix, table, tf, f"code table of {node.name!r}")
    w = x.width
    xe = str(xe)
    if x.signed:
        addr = f"~{xe}" if w == 1 else f"{{~{xe}[{w - 1}], {xe}[{w - 2}:0]}}"
    else:
        addr = xe
    ad = dp.wire(f"ad{e}", aw, addr, signed=False)
    ent = f"en{e}"
    dp.read_rom(rom, f"u_rom{e}", ad, ent, tf.width)
    return dp.unary(UnarySpec.requant(tf, node.formats["result"]), ent, f"r{e}", prefix)


@lowering(CodeTable)
class CodeTableLowering(Lowering):
    """Per element a ROM of the output codes (shared by content), then the result cast."""

    def lower(self, ctx):
        dp = element_layer(ctx)
        x = ctx.x
        parts = []
        for e in range(ctx.n_out):
            xe = dp.wire(f"xe{e}", x.width, element(ctx, e), signed=False)
            parts.append(lower_code_table_element(dp, ctx.node, x, xe, e, ctx.prefix))
        return finish(dp, ctx, parts)

    def cost(self, ctx):
        """One table's bits (shared by every element: ``rom_bits``), the cast and the register."""
        table = np.asarray(ctx.node.params["table"], np.int64)
        n, b = ctx.n_out, bits(self.live_span(ctx))
        return counts(rom_bits=int(table.size) * table_format(table).width, cast_bits=n * b,
                      reg_bits=n * b)


__all__ = ["lower_code_table_element", "CodeTableLowering"]
