"""Properties of qhw.fixed that must hold for every format (hypothesis)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from qhw.fixed import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat

formats = st.builds(
    FixedFormat,
    width=st.integers(1, 64),
    integer_bits=st.integers(-8, 72),
    signed=st.booleans(),
    rounding=st.sampled_from(ROUNDING_MODES),
    overflow=st.sampled_from(OVERFLOW_MODES),
)


def _codes(fmt, data):
    lo, hi = fmt.raw_min, fmt.raw_max
    if not fmt.signed and fmt.width == 64:
        hi = (1 << 63) - 1  # stored int64 patterns; keep to the positive half
    return np.array(data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=30)), np.int64)


@settings(max_examples=300, deadline=None)
@given(fmt=formats, data=st.data())
def test_quantizing_a_representable_value_is_exact(fmt, data):
    raw = _codes(fmt, data)
    if fmt.width > 53:
        raw = raw >> (fmt.width - 53)  # keep values exactly representable as doubles
    if fmt.overflow == "SAT_SYM" and fmt.signed and fmt.width > 1:
        raw = np.maximum(raw, fmt.raw_min + 1)  # min lies outside the symmetric range
    x = fmt.to_float(raw)
    np.testing.assert_array_equal(fmt.quantize(x), raw)


@settings(max_examples=300, deadline=None)
@given(fmt=formats, x=st.lists(st.floats(allow_nan=False, width=64), min_size=1, max_size=30))
def test_saturating_results_stay_in_range(fmt, x):
    for mode in ("SAT", "SAT_SYM", "SAT_ZERO"):
        f = fmt.with_modes(overflow=mode)
        raw = f.quantize(np.array(x))
        if f.width == 64 and not f.signed:
            continue  # every int64 pattern is a valid code
        assert (raw >= f.raw_min).all() and (raw <= f.raw_max).all()


@settings(max_examples=300, deadline=None)
@given(fmt=formats, x=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64),
                               min_size=1, max_size=30))
def test_sat_sym_is_symmetric(fmt, x):
    f = FixedFormat(max(fmt.width, 2), fmt.integer_bits, True, "RND_INF", "SAT_SYM")
    # RND_INF rounds ties away from zero, so the rounding is symmetric too.
    x = np.array(x)
    np.testing.assert_array_equal(f.quantize(-x), -f.quantize(x))
    assert f.quantize([-np.inf])[0] == -f.raw_max


@settings(max_examples=300, deadline=None)
@given(src=formats, extra_int=st.integers(0, 8), extra_frac=st.integers(0, 8), data=st.data())
def test_cast_to_a_wider_format_is_lossless(src, extra_int, extra_frac, data):
    width = src.width + extra_int + extra_frac + (0 if src.signed else 1)
    if width > 64:
        return
    dst = FixedFormat(width, src.integer_bits + extra_int + (0 if src.signed else 1), True,
                      "RND_CONV", "SAT_ZERO")
    raw = _codes(src, data)
    back = src.with_modes("TRN", "WRAP").cast(dst.cast(raw, src), dst)  # neutral way back
    np.testing.assert_array_equal(back, raw)
    assert (dst.cast(raw, src) != 0).sum() == (raw != 0).sum()  # no overflow happened
