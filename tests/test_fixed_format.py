import pytest

from qhw.fixed import FixedFormat


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ap_fixed<16,6>", FixedFormat(16, 6)),
        ("ap_fixed<16,6,AP_RND_CONV,AP_SAT>", FixedFormat(16, 6, True, "RND_CONV", "SAT")),
        ("ap_ufixed<8,0,AP_RND,AP_SAT>", FixedFormat(8, 0, False, "RND", "SAT")),
        ("ap_int<8>", FixedFormat(8, 8)),
        ("ap_uint<4>", FixedFormat(4, 4, False)),
        ("ap_fixed<8,-3,AP_TRN_ZERO,AP_SAT_SYM>", FixedFormat(8, -3, True, "TRN_ZERO", "SAT_SYM")),
    ],
)
def test_parse_and_round_trip(text, expected):
    fmt = FixedFormat.parse(text)
    assert fmt == expected
    assert FixedFormat.parse(str(fmt)) == fmt
    assert str(fmt).replace(" ", "") == text.replace(" ", "") or fmt.is_integer


def test_str_spelling():
    assert str(FixedFormat(16, 6, True, "RND_CONV", "SAT")) == "ap_fixed<16,6,AP_RND_CONV,AP_SAT>"
    assert str(FixedFormat(4, 4, False)) == "ap_uint<4>"


@pytest.mark.parametrize(
    "text", ["ap_fixed<16>", "ap_fixed<0,1>", "ap_fixed<65,1>", "ap_fixed<8,4,AP_FOO>", "float", "ap_int<a>"]
)
def test_malformed_text_is_quoted(text):
    with pytest.raises(ValueError, match=text.replace("<", r"\<").replace(">", r"\>")):
        FixedFormat.parse(text)


def test_ranges_and_lsb():
    f = FixedFormat(8, 3)
    assert (f.raw_min, f.raw_max, f.lsb) == (-128, 127, 2.0**-5)
    assert (f.min, f.max) == (-4.0, 127 / 32)
    u = FixedFormat(4, 6, signed=False)
    assert (u.raw_min, u.raw_max, u.lsb, u.max) == (0, 15, 4.0, 60.0)


@pytest.mark.parametrize("width", [0, 65, -1])
def test_bad_width(width):
    with pytest.raises(ValueError, match="width"):
        FixedFormat(width, 1)


def test_bad_modes_and_prefix():
    assert FixedFormat(8, 1, rounding="AP_RND").rounding == "RND"
    with pytest.raises(ValueError, match="rounding"):
        FixedFormat(8, 1, rounding="NEAREST")
    with pytest.raises(ValueError, match="overflow"):
        FixedFormat(8, 1, overflow="CLAMP")


def test_hashable_and_immutable():
    a, b = FixedFormat(8, 1), FixedFormat.parse("ap_fixed<8,1>")
    assert hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.width = 9  # type: ignore[misc]
