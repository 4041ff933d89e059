"""softmax in RTL, as qhw.ops.softmax defines it: a comparison chain for the maximum (first
maximum wins), then either its index (argmax) or, per element, d = x - max, the exp ROM, an exact
adder chain for the sum, the reciprocal ROM on the sum, and e * (1/sum) through the shared
requantizer."""
from __future__ import annotations

import math

from qhw.backends.verilog.datapath import Datapath
from qhw.backends.verilog.lut import _clamped_index, _lit, _rom_unit, _shift, _ssext
from qhw.backends.verilog.requant import UnarySpec
from qhw.fixed import FixedFormat, mul_format
from qhw.ops import get as get_op


def _element(x: FixedFormat, i: int) -> str:
    w = x.width
    return f"x[{i * w + w - 1}:{i * w}]"


def lower_softmax(dp: Datapath, node, x: FixedFormat, n: int, prefix: str) -> list[str]:
    w = x.width
    ws = w + 1  # every element as a signed number
    xs = [dp.wire(f"xs{i}", ws, _ssext(_element(x, i), w, ws) if x.signed else
                  f"$signed({{1'b0, {_element(x, i)}}})") for i in range(n)]
    iw = max(1, math.ceil(math.log2(n)))
    m, best = xs[0], f"{iw}'d0"
    for i in range(1, n):  # strictly greater: the first maximum wins, as numpy's argmax
        gt = dp.wire(f"gt{i}", 1, f"{xs[i]} > {m}", signed=False)
        m = dp.wire(f"mx{i}", ws, f"{gt} ? {xs[i]} : {m}")
        best = dp.wire(f"bi{i}", iw, f"{gt} ? {iw}'d{i} : {best}", signed=False)
    if node.attrs["variant"] == "argmax":
        res = node.formats["result"]
        return [dp.wire("am", res.width, best if res.width == iw else
                        (f"{best}[{res.width - 1}:0]" if res.width < iw else f"{{{res.width - iw}'d0, {best}}}"),
                        signed=False)]
    op = get_op("softmax", node.name)
    ex, inv = op.tables(node, x, n)
    ef, rf, acc, res = (node.formats[k] for k in ("exp_table", "inv_table", "accum", "result"))
    erom, eaw = _rom_unit(dp, prefix, ex.values, ef, f"exp table of {node.name!r}")
    irom, iaw = _rom_unit(dp, prefix, inv.values, rf, f"reciprocal table of {node.name!r}")
    wi = ws + 2 + max(0, -ex.shift) + max(0, abs(ex.lo_raw).bit_length())
    es = []
    for i in range(n):
        d = dp.wire(f"d{i}", wi, f"{_ssext(xs[i], ws, wi)} - {_ssext(m, ws, wi)}")
        idx = dp.wire(f"ei{i}", wi, _shift(f"({d} - {_lit(ex.lo_raw, wi)})", ex.shift))
        ad = _clamped_index(dp, idx, wi, ex.values.size, eaw, i)
        e = f"e{i}"
        dp.decls.append(dict(kind="wire", name=e, width=ef.width, signed=False))
        dp.insts.append(dict(module=erom, name=f"u_exp{i}", x=ad, y=e))
        es.append(e)
    wa = acc.width
    s = dp.wire("sum", wa, " + ".join(f"{{{wa - ef.width}'d0, {e}}}" for e in es), signed=False)
    ws2 = wa + 2 + max(0, -inv.shift)
    sidx = dp.wire("si", ws2, _shift(f"$signed({{2'b00, {s}}})", inv.shift) if inv.shift <= 0 else
                   f"$signed({{2'b00, {s}}}) >>> {inv.shift}")
    sad = _clamped_index(dp, sidx, ws2, inv.values.size, iaw, "s")
    r = "rcp"
    dp.decls.append(dict(kind="wire", name=r, width=rf.width, signed=False))
    dp.insts.append(dict(module=irom, name="u_rcp", x=sad, y=r))
    pf = mul_format(ef, rf)
    out = []
    for i, e in enumerate(es):
        p = dp.wire(f"pr{i}", pf.width, f"{{{pf.width - ef.width}'d0, {e}}} * {{{pf.width - rf.width}'d0, {r}}}",
                    signed=False)
        out.append(dp.unary(UnarySpec.requant(pf, res), p, f"r{i}", prefix))
    return out


__all__ = ["lower_softmax"]
