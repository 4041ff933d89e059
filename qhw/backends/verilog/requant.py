"""The unary block: clamp, constant multiply, then ap_fixed assignment (rounding, overflow).

One combinational module ``y = dst.cast(clip(x, lo, hi) * M, src)`` covers requantizers, ReLU,
relu6, clip, shift (a moved binary point is just another ``src``) and the integer ``requantize``
op. Widths are derived from exact static ranges, so every intermediate holds its value without
loss; the hardware equals :meth:`qhw.fixed.FixedFormat.cast` on every code.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qhw.backends.verilog.render import render, signed_literal, unsigned_literal
from qhw.backends.verilog.signal import Signal
from qhw.fixed import FixedFormat
from qhw.fixed.convert import round_shift_right


def signed_bits(lo: int, hi: int) -> int:
    """Bits of the narrowest two's complement type holding every integer in [lo, hi]."""
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi < (1 << (w - 1))):
        w += 1
    return w


def _sext(name: str, w_from: int, w_to: int) -> str:
    """Verilog expression: signed ``name`` of w_from bits sign-extended to w_to bits."""
    return Signal(name, w_from, True).sext(w_to).expr


def _pattern(value: int, width: int) -> str:
    """The low ``width`` bits of ``value`` as an unsigned sized literal (an output bit pattern)."""
    return unsigned_literal(value & ((1 << width) - 1), width)


@dataclass(frozen=True)
class UnarySpec:
    """What one unary block computes.

    src_in: format of the input codes x. lo/hi: optional clamp in x's codes. multiplier: optional
    integer M. cast_src: the format the (clamped, multiplied) integer is read in before the cast
    (its frac bits position the binary point; its signedness matters to SAT_SYM). dst: result.
    """

    src_in: FixedFormat
    dst: FixedFormat
    cast_src: FixedFormat
    lo: int | None = None
    hi: int | None = None
    multiplier: int | None = None

    @classmethod
    def requant(cls, src: FixedFormat, dst: FixedFormat) -> "UnarySpec":
        return cls(src, dst, src)

    def golden(self, raw: np.ndarray) -> np.ndarray:
        """Numpy twin (uses qhw.fixed): the value the block must produce."""
        v = np.asarray(raw, np.int64)
        if self.lo is not None or self.hi is not None:
            v = np.clip(v, self.lo if self.lo is not None else v.min(initial=0),
                        self.hi if self.hi is not None else v.max(initial=0))
        if self.multiplier is not None:
            v = v * np.int64(self.multiplier)
        return self.dst.cast(v, self.cast_src)


def unary_context(name: str, spec: UnarySpec, node: str = "-") -> dict:
    """Template values for ``unary.v.j2``: widths, literals and which checks exist."""
    s, dst = spec.src_in, spec.dst
    wx = s.width + (0 if s.signed else 1)
    ctx: dict = dict(name=name, node=node, src=s, dst=dst, cast_src=spec.cast_src,
                     wi=s.width, wo=dst.width, wx=wx, in_signed=s.signed)
    vmin, vmax = s.raw_min, s.raw_max
    # clamp
    clamp_lo = spec.lo is not None and spec.lo > vmin
    clamp_hi = spec.hi is not None and spec.hi < vmax
    ctx.update(clamp_lo=clamp_lo, clamp_hi=clamp_hi,
               lo_lit=signed_literal(spec.lo, wx) if clamp_lo else "",
               hi_lit=signed_literal(spec.hi, wx) if clamp_hi else "")
    if clamp_lo:
        vmin = max(vmin, spec.lo)
    if clamp_hi:
        vmax = min(vmax, spec.hi)
    vmin, vmax = min(vmin, vmax), max(vmin, vmax)
    # multiply
    wv = wx
    ctx["mult"] = spec.multiplier is not None
    if spec.multiplier is not None:
        m = int(spec.multiplier)
        ends = (vmin * m, vmax * m)
        vmin, vmax = min(ends), max(ends)
        wv = max(signed_bits(vmin, vmax), signed_bits(m, m), wx)
        ctx.update(wp=wv, m_lit=signed_literal(m, wv), xc_ext=_sext("xc", wx, wv))
    ctx["wv"] = wv
    # rounding (d < 0) or exact left shift (d >= 0)
    d = dst.frac_bits - spec.cast_src.frac_bits
    ctx["d"] = d
    if d >= 0:
        wr = wv + d
        rmin, rmax = vmin << d, vmax << d
        ctx["rounding"] = "NONE"
    else:
        k = -d
        we = max(wv, k + 1)
        ends = round_shift_right(np.array([vmin, vmax], np.int64), k, dst.rounding)
        rmin, rmax = int(ends[0]), int(ends[1])
        wq = we - k
        wr = wq if dst.rounding == "TRN" else wq + 1
        ctx.update(k=k, we=we, wq=wq, ve_ext=_sext("v", wv, we), rounding=dst.rounding,
                   q_ext=_sext("q", wq, wr))
    ctx["wr"] = wr
    # overflow
    wc = max(wr, dst.width + 1) + 1
    lo, hi = dst.raw_min, dst.raw_max
    mode = dst.overflow
    sym_under = mode == "SAT_SYM" and dst.signed and spec.cast_src.signed
    lo_out = (lo + 1 if dst.width > 1 else lo) if sym_under else lo
    need_over = rmax > hi
    need_under = rmin < lo or (sym_under and rmin <= lo)
    ctx.update(wc=wc, overflow=mode, rc_ext=_sext("r", wr, wc),
               need_over=need_over and mode != "WRAP", need_under=need_under and mode != "WRAP",
               under_op="<=" if sym_under else "<",
               hi_cmp=signed_literal(hi, wc), lo_cmp=signed_literal(lo, wc),
               sat_hi=_pattern(hi if mode != "SAT_ZERO" else 0, dst.width),
               sat_lo=_pattern(lo_out if mode != "SAT_ZERO" else 0, dst.width),
               y_from_r=(f"r[{dst.width - 1}:0]" if wr >= dst.width
                         else _sext("r", wr, dst.width)))
    return ctx


def split_spec(spec: UnarySpec) -> tuple[UnarySpec, UnarySpec]:
    """``spec`` as two blocks for a pipeline register between them: the clamp and multiply
    (the exact intermediate ``v`` of :func:`unary_context`, signed on its width, as the first
    block's result), then the cast of ``v`` read in ``cast_src``'s binary point."""
    wv = unary_context("split", spec)["wv"]
    frac = spec.cast_src.frac_bits
    v = FixedFormat(wv, wv - frac, True)
    return (UnarySpec(spec.src_in, v, v, lo=spec.lo, hi=spec.hi, multiplier=spec.multiplier),
            UnarySpec(v, spec.dst, FixedFormat(wv, wv - frac, spec.cast_src.signed)))


def unary_module(name: str, spec: UnarySpec, node: str = "-") -> str:
    """Verilog text of one unary block module ``name`` (input ``x``, output ``y``)."""
    return render("unary.v.j2", **unary_context(name, spec, node))
