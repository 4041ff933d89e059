"""softmax in RTL, as qhw.ops.softmax defines it: a comparison chain for the maximum (first
maximum wins), then either its index (argmax) or, per element, d = x - max, the exp ROM, an exact
adder chain for the sum, the reciprocal ROM on the sum, and e * (1/sum) through the shared
requantizer.

hls4ml's softmax (variant "hls4ml", qhw.ops.softmax): latency and stable address their ROMs with
the top bits of a code (a bit slice), sum through hls4ml's pairwise tree with every partial sum
assigned to accum_t (a requantizer per add); argmax is a one-hot of the first maximum; skip
passes the input through; legacy reads its exp table n (n - 1) times (x_j - x_i, hls4ml's
truncating index), sums in order with a requantizer per add, then reads the inverse table."""
from __future__ import annotations

import math

from qhw.backends.verilog.datapath import Datapath
from qhw.backends.verilog.elementwise import element_layer, finish
from qhw.backends.verilog.lowering import Lowering, lowering
from qhw.backends.verilog.lut import _clamped_index, _lit, _rom_unit, _shift, _ssext
from qhw.backends.verilog.requant import UnarySpec
from qhw.backends.verilog.signal import Signal
from qhw.errors import ModelError
from qhw.fixed import FixedFormat, add_format, mul_format
from qhw.ops import get as get_op
from qhw.ops.softmax import Softmax
from qhw.tables import hls4ml as h4


def _element(dp: Datapath, x: FixedFormat, i: int) -> Signal:
    return dp.x.element(i, x.width, x.signed)


def _signed_elements(dp: Datapath, x: FixedFormat, n: int) -> list[str]:
    """Every input element as a signed wire one bit wider than its format (``xs<i>``)."""
    ws = x.width + 1
    return [dp.wire(f"xs{i}", ws, _element(dp, x, i).sext(ws).as_signed() if x.signed else
                    f"$signed({{1'b0, {_element(dp, x, i)}}})") for i in range(n)]


def _max_chain(dp: Datapath, x: FixedFormat, n: int):
    """(elements as signed wires, their maximum, the index of the first maximum)."""
    w = x.width
    ws = w + 1  # every element as a signed number
    xs = _signed_elements(dp, x, n)
    iw = max(1, math.ceil(math.log2(n)))
    m, best = xs[0], f"{iw}'d0"
    for i in range(1, n):  # strictly greater: the first maximum wins, as numpy's argmax
        gt = dp.wire(f"gt{i}", 1, f"{xs[i]} > {m}", signed=False)
        m = dp.wire(f"mx{i}", ws, f"{gt} ? {xs[i]} : {m}")
        best = dp.wire(f"bi{i}", iw, f"{gt} ? {iw}'d{i} : {best}", signed=False)
    return xs, m, best


def lower_softmax(dp: Datapath, node, x: FixedFormat, n: int, prefix: str) -> list[str]:
    if node.attrs["variant"] == "hls4ml":
        return _hls4ml(dp, node, x, n, prefix)
    w = x.width
    ws = w + 1
    iw = max(1, math.ceil(math.log2(n)))
    xs, m, best = _max_chain(dp, x, n)
    if node.attrs["variant"] == "argmax":
        res = node.formats["result"]
        return [dp.wire("am", res.width, best if res.width == iw else
                        (f"{best}[{res.width - 1}:0]" if res.width < iw else f"{{{res.width - iw}'d0, {best}}}"),
                        signed=False)]
    op = get_op(node.op, node.name)
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
        dp.read_rom(erom, f"u_exp{i}", ad, e, ef.width)
        es.append(e)
    wa = acc.width
    s = dp.wire("sum", wa, " + ".join(f"{{{wa - ef.width}'d0, {e}}}" for e in es), signed=False)
    ws2 = wa + 2 + max(0, -inv.shift)
    sidx = dp.wire("si", ws2, _shift(f"$signed({{2'b00, {s}}})", inv.shift) if inv.shift <= 0 else
                   f"$signed({{2'b00, {s}}}) >>> {inv.shift}")
    sad = _clamped_index(dp, sidx, ws2, inv.values.size, iaw, "s")
    r = "rcp"
    dp.read_rom(irom, "u_rcp", sad, r, rf.width)
    pf = mul_format(ef, rf)
    out = []
    for i, e in enumerate(es):
        p = dp.wire(f"pr{i}", pf.width, f"{{{pf.width - ef.width}'d0, {e}}} * {{{pf.width - rf.width}'d0, {r}}}",
                    signed=False)
        out.append(dp.unary(UnarySpec.requant(pf, res), p, f"r{i}", prefix))
    return out


def _ext(name: str, fmt: FixedFormat, width: int) -> Signal:
    """The code in wire ``name`` (``fmt.width`` bits) as a signed ``width``-bit expression."""
    return Signal(name, fmt.width, fmt.signed).extend(width).as_signed()


def _top_bits(name: str, fmt: FixedFormat, size: int) -> tuple[str, int]:
    nb = h4.ceillog2(size)
    return f"{name}[{fmt.width - 1}:{fmt.width - nb}]", nb


def _scaled_index(dp: Datapath, node, v: str, wv: int, num: int, den: int, offset: int, name: str
                  ) -> tuple[str, int]:
    """int(v * num / den) + offset for the signed wire v: truncation toward zero, powers of two
    only (no divider); returns (wire, width)."""
    g = math.gcd(num, den)
    num, den = num // g, den // g
    if den & (den - 1) or (num > 1 and den > 1):
        raise ModelError(f"softmax {node.name!r}: hls4ml's legacy index is not a power-of-two scaling "
                         f"(x * {num} / {den}); no divider in RTL")
    ww = wv + 2 + num.bit_length()
    if den > 1:  # truncation toward zero: add den - 1 to negative values before >>>
        k = den.bit_length() - 1
        q = f"({_ssext(v, wv, ww)} + ({v}[{wv - 1}] ? {_lit(den - 1, ww)} : {ww}'sd0)) >>> {k}"
    else:
        q = f"{_ssext(v, wv, ww)} * {_lit(num, ww)}"
    return dp.wire(name, ww, f"({q}) + {_lit(offset, ww)}"), ww


def _legacy(dp: Datapath, node, x: FixedFormat, n: int, t: dict, prefix: str) -> list[str]:
    tf, res = node.formats["table"], node.formats["result"]
    df = FixedFormat(x.width + 1, x.integer_bits + 1, True)
    if h4.index_may_wrap("exp", df, t["exp_n"]) or \
            max(-tf.raw_min, tf.raw_max) * t["inv_n"] >= 2 ** 31 * (64 << max(tf.frac_bits, 0)):
        raise ModelError(f"softmax {node.name!r}: hls4ml's legacy int index wraps at 32 bits for these "
                         "types; no RTL for that (the golden model and HLS follow it)")
    erom, eaw = _rom_unit(dp, prefix, t["exp"], tf, f"hls4ml legacy exp table of {node.name!r}")
    irom, iaw = _rom_unit(dp, prefix, t["inv"], tf, f"hls4ml legacy inverse table of {node.name!r}")
    ws = x.width + 1
    xs = _signed_elements(dp, x, n)
    _, num, den = h4.index_range("exp", df, t["exp_n"])
    one = int(tf.quantize(1.0)) & ((1 << tf.width) - 1)
    sf = add_format(tf, tf)
    inum, iden = (t["inv_n"], 64 << tf.frac_bits) if tf.frac_bits >= 0 else (t["inv_n"] << -tf.frac_bits, 64)
    out = []
    for i in range(n):
        acc = None
        for j in range(n):
            if i == j:
                term = dp.wire(f"t{i}_{j}", tf.width, f"{tf.width}'d{one}", signed=False)
            else:
                d = dp.wire(f"d{i}_{j}", ws + 1, f"{_ssext(xs[j], ws, ws + 1)} - {_ssext(xs[i], ws, ws + 1)}")
                idx, ww = _scaled_index(dp, node, d, ws + 1, num, den, (8 * t["exp_n"]) // 16, f"i{i}_{j}")
                ad = _clamped_index(dp, idx, ww, t["exp_n"], eaw, f"{i}_{j}")
                term = f"t{i}_{j}"
                dp.read_rom(erom, f"u_exp{i}_{j}", ad, term, tf.width)
            if acc is None:
                acc = term  # 0 + entry: already a code of the table type
                continue
            s = dp.wire(f"s{i}_{j}", sf.width, f"{_ext(acc, tf, sf.width)} + {_ext(term, tf, sf.width)}",
                        signed=False)
            acc = dp.unary(UnarySpec.requant(sf, tf), s, f"a{i}_{j}", prefix)
        wa = tf.width + 1
        sa = dp.wire(f"sa{i}", wa, _ext(acc, tf, wa))
        k, ww = _scaled_index(dp, node, sa, wa, inum, iden, 0, f"k{i}")
        ad = _clamped_index(dp, k, ww, t["inv_n"], iaw, f"k{i}")
        r = f"v{i}"
        dp.read_rom(irom, f"u_inv{i}", ad, r, tf.width)
        out.append(dp.unary(UnarySpec.requant(tf, res), r, f"r{i}", prefix))
    return out


def _hls4ml(dp: Datapath, node, x: FixedFormat, n: int, prefix: str) -> list[str]:
    a, f = node.attrs, node.formats
    impl, res = a["implementation"], f["result"]
    if a["skip"]:
        return [dp.wire(f"pt{i}", x.width, _element(dp, x, i), signed=False) for i in range(n)]
    if impl in ("argmax", "stable"):
        xs, m, best = _max_chain(dp, x, n)
    if impl == "argmax":
        one = int(res.quantize(1.0)) & ((1 << res.width) - 1)
        iw = max(1, math.ceil(math.log2(n)))
        return [dp.wire(f"oh{i}", res.width, f"({best} == {iw}'d{i}) ? {res.width}'d{one} : {res.width}'d0",
                        signed=False) for i in range(n)]
    t = get_op(node.op, node.name).hls4ml_tables(node, x)
    if impl == "legacy":
        return _legacy(dp, node, x, n, t, prefix)
    ef, acc, ii, tf = f["exp_table"], f["accum"], f["inv_inp"], f["inv_table"]
    erom, eaw = _rom_unit(dp, prefix, t["exp"], ef, f"hls4ml exp table of {node.name!r}")
    irom, iaw = _rom_unit(dp, prefix, t["inv"], tf, f"hls4ml inverse table of {node.name!r}")
    ws = x.width + 1
    es = []
    for i in range(n):
        if impl == "stable":
            dfm = FixedFormat(ws + 1, ws + 1 - x.frac_bits, True)
            d = dp.wire(f"d{i}", ws + 1, f"{_ssext(m, ws, ws + 1)} - {_ssext(xs[i], ws, ws + 1)}", signed=False)
            code = dp.unary(UnarySpec.requant(dfm, f["inp_norm"]), d, f"nd{i}", prefix)
            addr, nb = _top_bits(code, f["inp_norm"], t["exp_n"])
        else:
            addr, nb = _top_bits(dp.wire(f"xe{i}", x.width, _element(dp, x, i), signed=False), x, t["exp_n"])
        assert nb == eaw
        ent = f"ee{i}"
        dp.read_rom(erom, f"u_exp{i}", addr, ent, ef.width)
        es.append(dp.unary(UnarySpec.requant(ef, acc), ent, f"e{i}", prefix))
    sf = add_format(acc, acc)
    count = [0]

    def tree(node_):
        if isinstance(node_, int):
            return es[node_]
        left, right = tree(node_[0]), tree(node_[1])
        k = count[0]
        count[0] += 1
        s = dp.wire(f"ps{k}", sf.width, f"{_ext(left, acc, sf.width)} + {_ext(right, acc, sf.width)}", signed=False)
        return dp.unary(UnarySpec.requant(sf, acc), s, f"pa{k}", prefix)

    total = tree(h4.reduce_order(n))
    s = dp.unary(UnarySpec.requant(acc, ii), total, "sum", prefix)
    addr, nb = _top_bits(s, ii, t["inv_n"])
    assert nb == iaw
    r = "rcp"
    dp.read_rom(irom, "u_rcp", addr, r, tf.width)
    pf = mul_format(acc, tf)
    out = []
    for i, e in enumerate(es):
        p = dp.wire(f"pr{i}", pf.width, f"{_ext(e, acc, pf.width)} * {_ext(r, tf, pf.width)}", signed=False)
        out.append(dp.unary(UnarySpec.requant(pf, res), p, f"r{i}", prefix))
    return out


@lowering(Softmax)
class SoftmaxLowering(Lowering):
    def lower(self, ctx):
        dp = element_layer(ctx)
        return finish(dp, ctx, lower_softmax(dp, ctx.node, ctx.x, ctx.sizes[0], ctx.prefix))


__all__ = ["lower_softmax", "SoftmaxLowering"]
