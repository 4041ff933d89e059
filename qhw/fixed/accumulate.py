"""Accumulation: what the HLS loop ``acc = init; for i: acc += a[i] * b[i];`` computes.

Each step forms the exact product, adds it exactly to ``acc`` and assigns the sum to the
accumulator type (its rounding, then its overflow). Done literally that is a Python loop over the
reduction axis; it is also order dependent in general. Two facts let almost every case avoid it:

1. *Rounding separates* for TRN, RND and RND_MIN_INF. ``acc`` always lies on its own grid, so with
   r the rounding function on the grid and integer a: floor(a + p) = a + floor(p),
   floor(a + p + 1/2) = a + floor(p + 1/2) and ceil(a + p - 1/2) = a + ceil(p - 1/2). Hence
   rounding each step equals rounding each product alone. TRN_ZERO, RND_ZERO, RND_INF (their
   direction depends on the sign of the sum) and RND_CONV (its tie depends on the parity of the
   sum) do not separate; with them the loop runs unless products already lie on the accumulator
   grid (then no rounding happens at all).
2. *Overflow separates* for WRAP (arithmetic modulo 2**W commutes with the sum), and for the
   saturating modes whenever no partial sum leaves the range, which is checked exactly on the
   prefix sums (or bounded from the operand ranges for the BLAS path).

Exact sums use float64 BLAS while every partial sum is provably below 2**53, otherwise integer
arithmetic modulo 2**64, which is exact because the final value is reduced to <= 64 bits.
With WRAP and products rounded by TRN/RND (hls4ml's convention) the rounding is moved out of the
sum as well: see :func:`_wrap_residues`.
"""
from __future__ import annotations

import numpy as np

from qhw.fixed.arith import add, mul_format
from qhw.fixed.convert import as_raw, round_shift_right
from qhw.fixed.format import FixedFormat

_SEPARABLE_ROUNDING = frozenset({"TRN", "RND", "RND_MIN_INF"})
#: products materialized at once by the chunked paths (elements)
_CHUNK_ELEMENTS = 1 << 22


def _init_raw(init, accumulator: FixedFormat, shape) -> np.ndarray:
    if init is None:
        return np.zeros(shape, np.int64)
    return np.broadcast_to(np.asarray(init, np.int64), shape)


def _term_format(pfmt: FixedFormat, product_format: FixedFormat | None) -> FixedFormat:
    return pfmt if product_format is None else product_format


def _separable(term_fmt: FixedFormat, accumulator: FixedFormat) -> bool:
    return (
        term_fmt.frac_bits <= accumulator.frac_bits
        or accumulator.rounding in _SEPARABLE_ROUNDING
    )


def _terms_on_acc_grid(products: np.ndarray, pfmt: FixedFormat, accumulator: FixedFormat,
                       product_format: FixedFormat | None) -> np.ndarray:
    """Each product (optionally first assigned to ``product_format``), rounded onto the
    accumulator grid, as int64 modulo 2**64."""
    t, tfmt = products, pfmt
    if product_format is not None:
        t, tfmt = product_format.cast(t, pfmt), product_format
    t = as_raw(t, tfmt)
    shift = accumulator.frac_bits - tfmt.frac_bits
    if shift < 0:
        t = round_shift_right(t, -shift, accumulator.rounding)
    if shift > 0 and accumulator.overflow != "WRAP" and t.dtype == np.int64 and _sat_terms_exact(accumulator):
        # Saturating: a term is needed exactly, not modulo 2**64. One beyond +-2**62 on the grid
        # saturates an accumulator of <= 61 bits exactly as its true value would (from any
        # in-range value, one step leaves the range), so it is kept as +-2**62 with its sign.
        lim = 62 - shift
        big = (t != 0) if lim < 0 else ((t >= (1 << lim)) | (t < -(1 << lim)))
        with np.errstate(over="ignore"):
            shifted = t << np.int64(min(shift, 63))
        return np.where(big, np.sign(t) << np.int64(62), shifted)
    u = t.view(np.uint64) if t.dtype == np.int64 else t
    if shift > 0:
        u = u << np.uint64(shift) if shift < 64 else np.zeros(u.shape, np.uint64)
    return u.view(np.int64)


def _sat_terms_exact(accumulator: FixedFormat) -> bool:
    return accumulator.width <= 61


def _saturate_on_grid(terms: np.ndarray, accumulator: FixedFormat, acc: np.ndarray) -> np.ndarray:
    """``acc = overflow(acc + term)`` term by term, all on the accumulator's grid (terms within
    +-2**62, the accumulator within 61 bits: no int64 overflow)."""
    grid = _grid_format(accumulator)
    for k in range(terms.shape[-1]):
        acc = accumulator.cast(acc + terms[..., k], grid)
    return acc


def _sequential(products: np.ndarray, pfmt: FixedFormat, accumulator: FixedFormat,
                acc: np.ndarray, product_format: FixedFormat | None) -> np.ndarray:
    """The literal loop over the last axis (vectorized over the others)."""
    for k in range(products.shape[-1]):
        t, tfmt = products[..., k], pfmt
        if product_format is not None:
            t, tfmt = product_format.cast(t, pfmt), product_format
        s, sfmt = add(acc, accumulator, t, tfmt)
        acc = accumulator.cast(s, sfmt)
    return acc


def _reduce_rows(products: np.ndarray, pfmt: FixedFormat, accumulator: FixedFormat,
                 init: np.ndarray, product_format: FixedFormat | None) -> np.ndarray:
    """Accumulate materialized products (..., K) into ``accumulator`` starting from ``init``."""
    tfmt = _term_format(pfmt, product_format)
    if not _separable(tfmt, accumulator):
        return _sequential(products, pfmt, accumulator, init, product_format)
    terms = _terms_on_acc_grid(products, pfmt, accumulator, product_format)
    if accumulator.overflow == "WRAP":
        total = init.view(np.uint64) + terms.view(np.uint64).sum(axis=-1, dtype=np.uint64)
        return accumulator.cast(total.view(np.int64), _grid_format(accumulator))
    # Saturating modes: exact only if no prefix sum leaves the range; find rows where one does.
    bound = float(np.abs(init).max(initial=0)) + float(np.abs(terms.astype(np.float64)).sum(axis=-1).max(initial=0))
    if bound >= 2.0**62:
        if _sat_terms_exact(accumulator):  # terms are exact or clamped on the grid: loop there
            return _saturate_on_grid(terms, accumulator, init.copy())
        return _sequential(products, pfmt, accumulator, init, product_format)
    prefix = np.cumsum(terms, axis=-1) + init[..., None]
    bad = ((prefix > accumulator.raw_max) | (prefix < accumulator.raw_min)).any(axis=-1)
    if accumulator.overflow == "SAT_SYM" and accumulator.signed:
        # SAT_SYM also rewrites an exact min reached by a (signed) sum.
        bad |= (prefix == accumulator.raw_min).any(axis=-1)
    out = prefix[..., -1].copy() if prefix.shape[-1] else init.copy()
    if bad.any():
        out[bad] = _sequential(products[bad], pfmt, accumulator, init[bad], product_format)
    return out


def _grid_format(accumulator: FixedFormat) -> FixedFormat:
    """A 64-bit signed format on the accumulator's grid: the type of a modulo-2**64 sum."""
    return FixedFormat(64, 64 - accumulator.frac_bits, True)


def dot(ra, fa: FixedFormat, rb, fb: FixedFormat, accumulator: FixedFormat, axis: int = -1,
        init=None, product_format: FixedFormat | None = None) -> np.ndarray:
    """``acc = init; for i: acc += a[i] * b[i]`` along ``axis`` (a and b broadcast), as raw codes
    of ``accumulator``. ``product_format``: assign each product to this type first (hls4ml's
    convention of storing products in ``accum_t``)."""
    pfmt = mul_format(fa, fb)
    a, b = np.broadcast_arrays(as_raw(ra, fa), as_raw(rb, fb))
    a = np.moveaxis(a, axis, -1)
    b = np.moveaxis(b, axis, -1)
    from qhw.fixed.arith import mul

    products, _ = mul(a, fa, b, fb)
    init_raw = np.array(_init_raw(init, accumulator, products.shape[:-1]), np.int64)
    return _reduce_rows(products, pfmt, accumulator, init_raw, product_format)


def _blas_exact_sum(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x @ w exactly, as int64 modulo 2**64 (float64 BLAS while provably exact)."""
    if x.shape[-1] == 0:
        return np.zeros((x.shape[0], w.shape[1]), np.int64)
    xmax = np.abs(x).max(axis=0).astype(np.float64)
    wmax = np.abs(w).max(axis=1).astype(np.float64)
    if float(xmax @ wmax) < 2.0**53:
        return (x.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)
    return (x.view(np.uint64) @ w.view(np.uint64)).view(np.int64)


def _interval_bound(x: np.ndarray, w: np.ndarray, init: tuple[float, float], shift: int):
    """Lower/upper bounds (floats, accumulator LSBs) of every partial sum of x @ w + init."""
    xlo, xhi = x.min(axis=0).astype(np.float64), x.max(axis=0).astype(np.float64)
    wlo, whi = w.min(axis=1).astype(np.float64), w.max(axis=1).astype(np.float64)
    corners = np.stack([xlo * wlo, xlo * whi, xhi * wlo, xhi * whi])
    scale = 2.0**shift
    up = np.maximum(corners.max(axis=0), 0).sum() * scale
    down = np.minimum(corners.min(axis=0), 0).sum() * scale
    return min(init[0], 0.0) + down, max(init[1], 0.0) + up


def matmul(ra, fa: FixedFormat, rb, fb: FixedFormat, accumulator: FixedFormat, init=None,
           product_format: FixedFormat | None = None) -> np.ndarray:
    """``(..., K) @ (K, M) -> (..., M)`` with the per-step accumulation of :func:`dot`.

    init: raw codes of ``accumulator`` broadcastable to (..., M), e.g. a bias already assigned to
    the accumulator. This is the golden model's dense/conv kernel, so it takes the fastest exact
    path the formats allow (see the module docstring).
    """
    pfmt = mul_format(fa, fb)
    x = as_raw(ra, fa)
    w = as_raw(rb, fb)
    vector = w.ndim == 1
    if vector:
        w = w[:, None]
    if w.ndim != 2 or x.shape[-1] != w.shape[0]:
        raise ValueError(f"matmul shapes do not match: {x.shape} @ {w.shape}")
    lead, k, m = x.shape[:-1], x.shape[-1], w.shape[1]
    x2 = x.reshape(-1, k)
    n = x2.shape[0]
    # The init as given (e.g. a bias row): broadcast, not copied, on the fast path.
    init_small = np.asarray(init if init is not None else 0, np.int64)
    row_init = init_small.ndim == 0 or init_small.shape in ((m,), (1, m))
    full_init = lambda: np.array(_init_raw(init, accumulator, lead + (m,)), np.int64).reshape(n, m)  # noqa: E731
    init2 = None if row_init else full_init()

    out = None
    lossless_terms = product_format is None or _holds(product_format, pfmt)
    shift = accumulator.frac_bits - pfmt.frac_bits
    if (lossless_terms and shift >= 0 and x.dtype == np.int64 and w.dtype == np.int64
            and shift < 63):
        # Bounds from the formats alone cost no pass over the data; fall back to the data's range.
        src = init_small if row_init else init2
        init_range = (float(src.min(initial=0)), float(src.max(initial=0)))
        lo, hi = _interval_bound(np.array([[fa.raw_min], [fa.raw_max]], np.float64).repeat(k, 1),
                                 w, init_range, shift)
        if not (accumulator.raw_min < lo and hi <= accumulator.raw_max and max(-lo, hi) < 2.0**53):
            lo, hi = _interval_bound(x2, w, init_range, shift)
        fits = accumulator.raw_min <= lo and hi <= accumulator.raw_max
        if accumulator.overflow == "SAT_SYM" and accumulator.signed:
            fits = fits and accumulator.raw_min < lo
        if fits and max(-lo, hi) < 2.0**53:
            # Every partial sum (any order, init included) is an integer below 2**53 on the
            # accumulator grid: float64 BLAS with the shift folded into w is exact.
            wf = np.ldexp(w.astype(np.float64), shift)
            total = x2.astype(np.float64) @ wf
            if init is not None:
                total += init_small.reshape(-1) if row_init else init2
            out = total.astype(np.int64)
        elif fits or accumulator.overflow == "WRAP":
            init2 = full_init() if init2 is None else init2
            total = _blas_exact_sum(x2, w).view(np.uint64) << np.uint64(shift)
            total = (total + init2.view(np.uint64)).view(np.int64)
            out = total if fits else accumulator.cast(total, _grid_format(accumulator))
    if out is None:
        init2 = full_init() if init2 is None else init2
        out = _wrap_residues(x2, fa, w, fb, accumulator, init2, product_format)
    if out is None:
        out = _wrap_int32(x2, fa, w, fb, accumulator, init2, product_format)
    if out is None:
        out = np.empty((n, m), np.int64)
        rows = max(1, _CHUNK_ELEMENTS // max(1, k * m))
        from qhw.fixed.arith import mul

        for s in range(0, n, rows):
            xs = x2[s:s + rows]
            prods, _ = mul(xs[:, None, :], fa, w.T[None, :, :], fb)  # (rows, M, K)
            out[s:s + rows] = _reduce_rows(prods, pfmt, accumulator, init2[s:s + rows].copy(),
                                           product_format)
    out = out.reshape(lead + (m,))
    return out[..., 0] if vector else out


def _shift_round(t: np.ndarray, k: int, rounding: str) -> np.ndarray:
    """t * 2**-k rounded (TRN or RND) for k > 0, or t * 2**-k exactly for k <= 0, in place."""
    if k > 0:
        if rounding == "RND":
            half = (t >> (k - 1)) & 1
            t >>= k
            t += half
        else:
            t >>= k
    elif k < 0:
        t <<= -k
    return t


def _wrap_steps(fa: FixedFormat, fb: FixedFormat, accumulator: FixedFormat,
                product_format: FixedFormat | None):
    """The per-product steps of a wrapping accumulator whose terms round separably.

    Returns [(k, rounding), ...]: shift each product right by k with that rounding (TRN or RND;
    k <= 0 is an exact left shift), in turn, then sum modulo 2**W. None when the formats do not
    reduce to that (saturating accumulator, non-separable rounding, or a product format whose own
    wrap is not absorbed by the accumulator's).
    """
    acc = accumulator
    if acc.overflow != "WRAP":
        return None
    pfmt = mul_format(fa, fb)
    if product_format is not None and not _holds(product_format, pfmt):
        pf = product_format
        k = pfmt.frac_bits - pf.frac_bits
        if (pf.overflow != "WRAP" or pf.frac_bits > acc.frac_bits
                or pf.width + acc.frac_bits - pf.frac_bits < acc.width
                or (k > 0 and pf.rounding not in ("TRN", "RND"))):
            return None
        return [(k, pf.rounding), (pf.frac_bits - acc.frac_bits, "TRN")]
    k = pfmt.frac_bits - acc.frac_bits
    if k > 0 and acc.rounding not in ("TRN", "RND"):
        return None
    return [(k, acc.rounding)]


#: product residues materialized at once by :func:`_wrap_residues` (elements, a few hundred KiB)
_RESIDUE_BLOCK = 1 << 18
#: samples per residue block at least (the length of the contiguous runs numpy multiplies)
_RESIDUE_MIN_ROWS = 256


def _wrap_residues(x2, fa: FixedFormat, w, fb: FixedFormat, accumulator: FixedFormat, init2,
                   product_format: FixedFormat | None):
    """A wrapping accumulator with each product rounded (TRN/RND) onto it, by one exact matmul and
    the products' low bits (hls4ml's ``ap_fixed<16,6>`` accum_t with every product cast to it).

    With p = x*w, h the rounding offset (0 for TRN, 2**(k-1) for RND) and K terms:
    sum floor((p + h) / 2**k) = (sum p + K*h - sum ((p + h) mod 2**k)) / 2**k, exactly. The sum of
    products is one exact matmul; the residues (p + h) mod 2**k depend only on the low k bits of
    x and w, so they are formed in uint16/uint32 lanes (the multiply wraps, which keeps the low
    bits), masked and summed in the same lanes, in groups small enough that the group sums are
    exact. The final sum is reduced modulo 2**W once (WRAP is a ring homomorphism).
    Returns None when the formats ask for another path.
    """
    acc = accumulator
    steps = _wrap_steps(fa, fb, acc, product_format)
    if steps is None or x2.dtype != np.int64 or w.dtype != np.int64:
        return None
    (k, rnd), *rest = steps
    left = -sum(s for s, _ in rest)  # the further steps are exact left shifts (k <= 0)
    n, kk = x2.shape
    m = w.shape[1]
    if k + acc.width > 64 or left >= 64 or k >= 32:
        return None
    # sum p exactly: float64 BLAS when the formats bound every partial sum below 2**53
    mag = lambda f: float(max(-f.raw_min, f.raw_max))  # noqa: E731
    if kk * mag(fa) * mag(fb) < 2.0**53:
        total = (x2.astype(np.float64) @ w.astype(np.float64)).astype(np.int64)
    else:
        total = _blas_exact_sum(x2, w)
    if k > 0:
        half = (1 << (k - 1)) if rnd == "RND" else 0
        lane = np.uint16 if k <= 16 else np.uint32
        group = int(np.iinfo(lane).max) // ((1 << k) - 1)  # residues summed exactly per group
        if group < 8 and lane is np.uint16:
            lane = np.uint32
            group = int(np.iinfo(lane).max) // ((1 << k) - 1)
        if group < 8:
            return None  # residues nearly as wide as the products: the int32 path does as well
        group = min(group, kk)
        mask = lane((1 << k) - 1)
        # The residues run in the (M, n) orientation: a block then multiplies a contiguous run of
        # samples by one weight (a fast broadcast) and sums over its first axis.
        xt = np.ascontiguousarray(x2.astype(lane).T)  # (K, n): the low bits, two's complement
        wt = w.astype(lane)[:, :, None]  # (K, M, 1)
        rows = min(n, max(_RESIDUE_MIN_ROWS, _RESIDUE_BLOCK // max(1, group * m)))
        res = np.zeros((m, n), lane if group == kk else np.uint64)
        buf = np.empty((group, m, rows), lane)
        for s in range(0, n, rows):
            r = min(rows, n - s)
            for g in range(0, kk, group):
                b = buf[: min(group, kk - g), :, :r]
                np.multiply(xt[g:g + group, None, s:s + r], wt[g:g + group], out=b)
                if half:
                    np.add(b, lane(half), out=b)
                np.bitwise_and(b, mask, out=b)
                h = b.shape[0]
                while h > 1:  # pairwise, in place: a few adds of long contiguous runs
                    half_h = h // 2
                    np.add(b[:half_h], b[h - half_h:h], out=b[:half_h])
                    h -= half_h
                if group == kk:
                    res[:, s:s + r] = b[0]
                else:
                    res[:, s:s + r] += b[0]
        u = total.view(np.uint64)
        np.subtract(u, res.T, out=u, casting="unsafe")  # modulo 2**64
        if half:
            u += np.uint64(kk * half)
        total >>= k  # exact: the sum is divisible by 2**k
    elif k < 0:
        left += -k
    u = total.view(np.uint64)
    if left:
        u <<= np.uint64(left)
    u += init2.view(np.uint64)
    return _wrap_on_grid(u.view(np.int64), acc)


def _wrap_on_grid(total: np.ndarray, acc: FixedFormat) -> np.ndarray:
    """``acc.cast(total, _grid_format(acc))`` for a WRAP accumulator (in place when it can): on
    the same grid the cast only keeps the low W bits, with the sign extended if signed."""
    if acc.signed and acc.width in (8, 16, 32):
        return total.astype(f"int{acc.width}").astype(np.int64)
    if acc.width >= 64:
        return acc.cast(total, _grid_format(acc))
    u = total.view(np.uint64)
    if acc.signed:
        u += np.uint64(1 << (acc.width - 1))
    u &= np.uint64((1 << acc.width) - 1)
    if acc.signed:
        total -= 1 << (acc.width - 1)
    return total


def _wrap_int32(x2, fa: FixedFormat, w, fb: FixedFormat, accumulator: FixedFormat, init2,
                product_format: FixedFormat | None):
    """The narrow wrapping accumulator (hls4ml's ``ap_fixed<16,6>`` accum_t) in int32.

    Applies when every product fits int32, the accumulator wraps at W <= 32 bits and each term's
    rounding onto the accumulator grid is TRN or RND (separable, see the module docstring): the
    terms are then summed modulo 2**32, which is congruent modulo 2**W. Products are formed in
    cache-sized blocks, so a per-product rounding costs three passes over an int32 block.
    Returns None when the formats ask for the general path.
    """
    acc = accumulator
    if acc.width > 32 or fa.width + fb.width + (not fa.signed and not fb.signed) > 32:
        return None
    steps = _wrap_steps(fa, fb, acc, product_format)
    if steps is None:
        return None
    n, kk = x2.shape
    m = w.shape[1]
    xs32 = x2.astype(np.int32)
    wt = np.ascontiguousarray(w.T.astype(np.int32))
    out = np.empty((n, m), np.int32)
    rows = max(1, (1 << 16) // max(1, kk * m))
    buf = np.empty((rows, m, kk), np.int32)
    for s in range(0, n, rows):
        b = buf[: min(rows, n - s)]
        np.multiply(xs32[s:s + rows, None, :], wt[None], out=b)
        for k, rnd in steps:
            _shift_round(b, k, rnd)
        b.sum(axis=-1, dtype=np.int32, out=out[s:s + rows])
    with np.errstate(over="ignore"):
        out += init2.astype(np.int32)  # modulo 2**32
    return acc.cast(out.astype(np.int64), FixedFormat(32, 32 - acc.frac_bits, True))


def _holds(outer: FixedFormat, inner: FixedFormat) -> bool:
    """True when every value of ``inner`` is exactly representable in ``outer``."""
    if outer.frac_bits < inner.frac_bits:
        return False
    if inner.signed and not outer.signed:
        return False
    need_int = inner.integer_bits + (outer.signed and not inner.signed)
    return outer.integer_bits >= need_int
