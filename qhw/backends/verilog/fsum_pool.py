"""fsum_pool1d/2d in RTL: the float32 window sum of ``qhw.ops.fsum_pool`` in integers.

Every float32 value of the sum (each tap's value and each rounded partial sum) is an integer
multiple of 2**u, u the lowest set bit of any tap value (:func:`qhw.ops.fsum_pool.lsb_exponent`),
so the layer holds them as signed integers in units of 2**u: per tap a ROM from the input code
to that integer (shared by content), per add of the op's ``order`` the exact sum rounded to 24
significant bits, half to even (templates/verilog/fsum_add.v.j2: what an IEEE float32 adder
does when nothing overflows or underflows, which the op checks). The output code is
``out_min`` plus the number of thresholds at or below the sum, found by a binary search over
the thresholds (each rounded up to the integer grid: s >= T exactly when s >= ceil(T)), one
comparison per level against a ROM of that level's thresholds, then the result cast.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from qhw.backends.verilog.elementwise import element, element_layer, finish
from qhw.backends.verilog.lowering import Lowering, bits, counts, lowering
from qhw.backends.verilog.lut import _rom_unit
from qhw.backends.verilog.render import render, signed_literal
from qhw.backends.verilog.requant import UnarySpec
from qhw.errors import ModelError
from qhw.fixed import MAX_WIDTH, FixedFormat
from qhw.ops.fsum_pool import FsumPool1d, FsumPool2d, float32_values, lsb_exponent

#: significant bits of a float32 (23 stored + the hidden one)
SIG = 24


def plan(node, opdef, x: FixedFormat) -> dict:
    """The integer form of a node: tap value per raw input code (units of 2**u), the search's
    thresholds (padded to 2**levels - 1 with a value above every sum), the adder width."""
    codes = np.arange(x.raw_min, x.raw_max + 1)
    vals = opdef.tap_values(node, codes).astype(np.float64)
    u = lsb_exponent(vals)
    ints = [int(Fraction(float(v)) / Fraction(2) ** u) for v in vals]
    taps = opdef.taps(node)
    bound = taps * max(abs(i) for i in ints) * 2 + 2  # above any rounded partial sum
    width = bound.bit_length() + 2
    if width > MAX_WIDTH:
        raise ModelError(f"{node.op} {node.name!r}: its float32 tap values span {width} bits in units of "
                         f"their lowest bit (2**{u}); the RTL holds at most {MAX_WIDTH}")
    thr = []
    for t in float32_values(node.params["thresholds"]).astype(np.float64):
        c = math.ceil(Fraction(float(t)) / Fraction(2) ** u)
        thr.append(min(max(c, -bound), bound))
    levels = max(1, len(thr).bit_length())
    thr += [bound] * ((1 << levels) - 1 - len(thr))
    return dict(ints=ints, u=u, width=width, thr=thr, levels=levels, taps=taps)


def _adder(dp, prefix: str, width: int, u: int) -> str:
    mod = f"{prefix}_fadd{width}"
    if mod not in dp.units:
        smear, k = [], 1
        while k <= width:
            smear.append(k)
            k *= 2
        dp.units[mod] = render("fsum_add.v.j2", name=mod, w=width, sig=SIG, lsb=u, smear=smear)
    return mod


@lowering(FsumPool1d, FsumPool2d)
class FsumPoolLowering(Lowering):
    def lower(self, ctx):
        dp = element_layer(ctx)
        node, x, opdef, prefix = ctx.node, ctx.x, ctx.op, ctx.prefix
        p = plan(node, opdef, x)
        w, lv = p["width"], p["levels"]
        tf = FixedFormat(w, w, True)
        rom, aw = _rom_unit(dp, prefix, p["ints"], tf, f"float32 value of each code of {node.name!r}, "
                            f"units of 2**{p['u']}")
        add = _adder(dp, prefix, w, p["u"])
        codes = (np.arange(ctx.sizes[0], dtype=np.int64) + 1).reshape((1,) + tuple(ctx.in_shapes[0]))
        win = opdef.windows(node, codes, 0)[0]
        win = win.reshape(-1, win.shape[-2], win.shape[-1]) - 1  # (pixels, taps, C), -1: padding
        order = opdef.order(node)
        cw = lv + 1
        out_min = int(node.attrs["out_min"])
        cwid = max(cw + 1, abs(out_min).bit_length() + 1) + 1  # out_min + count, signed
        cf = FixedFormat(cwid, cwid, True)
        thr_fmt = tf
        parts = []
        for pix in range(win.shape[0]):
            for c in range(win.shape[2]):
                e = pix * win.shape[2] + c
                vals = []
                for t, i in enumerate(win[pix, :, c]):
                    if i < 0:
                        vals.append(signed_literal(0, w))
                        continue
                    xe = dp.wire(f"xe{e}_{t}", x.width, element(ctx, int(i)), signed=False)
                    addr = (f"~{xe}" if x.width == 1 else f"{{~{xe}[{x.width - 1}], {xe}[{x.width - 2}:0]}}") \
                        if x.signed else xe
                    ad = dp.wire(f"ad{e}_{t}", aw, addr, signed=False)
                    raw = dp.read_rom(rom, f"u_rom{e}_{t}", ad, f"tv{e}_{t}", w)
                    vals.append(dp.wire(f"v{e}_{t}", w, f"$signed({raw})"))
                for k, (a, b) in enumerate(order):
                    nm = f"s{e}_{k}"
                    dp.decls.append(dict(kind="wire", name=nm, width=w, signed=True))
                    dp.insts.append(dict(module=add, name=f"u_{nm}", params="",
                                         ports=f".a({vals[a]}), .b({vals[b]}), .s({nm})"))
                    vals.append(nm)
                s = vals[-1]
                pos = ""  # the count's bits found so far (most significant first)
                for lvl in range(lv):
                    step = 1 << (lv - 1 - lvl)
                    entries = [p["thr"][pre * 2 * step + step - 1] for pre in range(1 << lvl)]
                    if lvl == 0:
                        t_expr = signed_literal(entries[0], w)
                    else:
                        trom, _ = _rom_unit(dp, prefix, entries, thr_fmt,
                                            f"thresholds of {node.name!r}, search level {lvl}")
                        traw = dp.read_rom(trom, f"u_thr{e}_{lvl}", f"{{{pos}}}", f"tt{e}_{lvl}", w)
                        t_expr = f"$signed({traw})"
                    bit = dp.wire(f"b{e}_{lvl}", 1, f"({s} >= {t_expr})", signed=False)
                    pos = bit if not pos else f"{pos}, {bit}"
                count = dp.wire(f"n{e}", cwid, f"{{{cwid - lv}'d0, {pos}}}")
                code = dp.wire(f"c{e}", cwid, f"{count} + {signed_literal(out_min, cwid)}")
                parts.append(dp.unary(UnarySpec.requant(cf, ctx.res), code, f"r{e}", prefix))
        return finish(dp, ctx, parts)

    def live_span(self, ctx):
        return 0, ctx.res.width

    def cost(self, ctx):
        """Per element: a ROM read per tap (the table's bits counted once), an adder and the
        rounding per add (about four adders' worth of bits), a comparison per search level (and
        its thresholds' ROM bits), the cast and the register."""
        node, x = ctx.node, ctx.in_fmts[0]
        p = plan(node, ctx.op, x)
        n, w, b = ctx.n_out, p["width"], ctx.res.width
        return counts(rom_bits=len(p["ints"]) * w + len(p["thr"]) * w,
                      add_bits=n * (p["taps"] - 1) * 4 * (w + 1), cast_bits=n * (p["levels"] * w + b),
                      reg_bits=n * b)

    def delay(self, ctx):
        """The tap ROMs, the adds (each an adder, a leading-one smear and the rounding adder:
        about three carry chains), the search levels (a ROM read and a comparison each), the cast."""
        from qhw.backends.verilog import timing

        m = timing.model(ctx.target)
        p = plan(ctx.node, ctx.op, ctx.in_fmts[0])
        w = p["width"]
        depth = len(ctx.op.order(ctx.node))
        return [timing.Block("tap tables", m.rom(ctx.in_fmts[0].width)),
                timing.Block("float32 adds", depth * (3 * m.adder(w) + m.luts(math.log2(w)))),
                timing.Block("threshold search", p["levels"] * (m.rom(p["levels"]) + m.adder(w))),
                timing.Block("cast", m.adder(ctx.res.width) + m.luts(1))]


__all__ = ["FsumPoolLowering", "plan", "SIG"]
