"""The embedding op in RTL: per index a clamped row address, one ROM unit per table column and
one for the row scales (each shared by every index), the exact product code * scale, then the
shared requantizer into the result format (as qhw.ops.embedding defines it)."""
from __future__ import annotations

from qhw.backends.verilog.datapath import Datapath
from qhw.backends.verilog.elementwise import element_layer, finish
from qhw.backends.verilog.lowering import Lowering, lowering
from qhw.backends.verilog.lut import _rom_unit
from qhw.backends.verilog.requant import UnarySpec
from qhw.fixed import FixedFormat, mul_format
from qhw.ops import get as get_op
from qhw.ops.embedding import Embedding


def lower_embedding(dp: Datapath, node, x: FixedFormat, prefix: str) -> list[str]:
    """Result wires of every output element (row-major (L, dim))."""
    codes, scales = get_op(node.op, node.name).rows(node)
    code_f, scale_f, res = node.formats["table"], node.formats["scale"], node.formats["result"]
    rows, dim = codes.shape
    length = int(node.shape[0])
    pf = mul_format(code_f, scale_f)
    cols = [_rom_unit(dp, prefix, codes[:, j], code_f, f"column {j} of the codes of {node.name!r}")
            for j in range(dim)]
    srom, aw = _rom_unit(dp, prefix, scales, scale_f, f"row scales of {node.name!r}")
    w = x.width
    wp = code_f.width + scale_f.width + 1
    out = []
    for l in range(length):
        xl = dp.wire(f"ix{l}", w, dp.x.element(l, w), signed=False)
        neg = f"{xl}[{w - 1}]" if x.signed else "1'b0"
        if (1 << w) - 1 > rows - 1 or x.signed:  # indices past the last row read the last row
            over = f"({xl} > {w}'d{rows - 1})" if rows - 1 < (1 << w) - 1 else "1'b0"
            ad = dp.wire(f"ad{l}", aw, f"{neg} ? {aw}'d0 : {over} ? {aw}'d{rows - 1} : "
                                       f"{xl}[{min(aw, w) - 1}:0]" if aw <= w else
                         f"{neg} ? {aw}'d0 : {{{aw - w}'d0, {xl}}}", signed=False)
        else:
            ad = dp.wire(f"ad{l}", aw, f"{xl}[{aw - 1}:0]" if aw <= w else f"{{{aw - w}'d0, {xl}}}",
                         signed=False)
        sc = f"sc{l}"
        dp.read_rom(srom, f"u_sc{l}", ad, sc, scale_f.width)
        for j, (rom, _) in enumerate(cols):
            c = f"c{l}_{j}"
            dp.read_rom(rom, f"u_c{l}_{j}", ad, c, code_f.width)
            cs = f"$signed({c})" if code_f.signed else f"$signed({{1'b0, {c}}})"
            p = dp.wire(f"p{l}_{j}", wp, f"{cs} * $signed({{1'b0, {sc}}})")
            ps = dp.wire(f"ps{l}_{j}", pf.width, f"{p}[{pf.width - 1}:0]", signed=False)
            out.append(dp.unary(UnarySpec.requant(pf, res), ps, f"r{l * dim + j}", prefix))
    return out


@lowering(Embedding)
class EmbeddingLowering(Lowering):
    def lower(self, ctx):
        dp = element_layer(ctx)
        return finish(dp, ctx, lower_embedding(dp, ctx.node, ctx.x, ctx.prefix))


__all__ = ["lower_embedding", "EmbeddingLowering"]
