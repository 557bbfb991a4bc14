"""FixedPoint against a Fraction reference, HLS's documented values, and one test per error branch."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _fixed_reference import reference_code
from convlab._args import ConvlabError
from convlab.quant import FixedPoint

ROUNDINGS = ("trn", "trn_zero", "rnd", "rnd_zero", "rnd_min_inf", "rnd_inf", "rnd_conv")
OVERFLOWS = ("wrap", "sat", "sat_zero", "sat_sym", "wrap_sm")


def _check(fmt: FixedPoint, values) -> None:
    values = np.asarray(values, dtype=np.float64)
    got = fmt.quantize(values)
    want = [reference_code(Fraction(float(v)), fmt) for v in values]
    assert got.dtype == np.int64
    assert got.tolist() == want, str(fmt)


def _grid(fmt: FixedPoint) -> np.ndarray:
    """Every code a little past both ends, each with the offsets where rounding modes part."""
    codes = np.arange(fmt.code_min - 3, fmt.code_max + 4, dtype=np.float64)
    offsets = np.array([0.0, 0.25, 0.5, 0.75, 0.5 - 2.0**-20, 0.5 + 2.0**-20, -0.5])
    return np.ldexp((codes[:, None] + offsets).ravel(), -fmt.frac_bits)


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("overflow", OVERFLOWS)
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_exhaustive_small_widths(rounding, overflow, signed):
    if overflow == "wrap_sm" and not signed:
        return  # HLS refuses ap_ufixed with AP_WRAP_SM (see test_constructor_errors)
    for w, f in itertools.product(range(1, 6), (-2, 0, 1, 3, 7)):
        for n in {0, 1, min(2, w), w} if overflow.startswith("wrap") else {0}:
            fmt = FixedPoint(w, f, signed, rounding, overflow, n)
            _check(fmt, _grid(fmt))


@st.composite
def formats(draw, max_word=32):
    w = draw(st.integers(2, max_word))
    overflow = draw(st.sampled_from(OVERFLOWS))
    n = draw(st.integers(0, w)) if overflow.startswith("wrap") else 0
    return FixedPoint(
        w,
        draw(st.integers(-12, w + 12)),
        overflow == "wrap_sm" or draw(st.booleans()),
        draw(st.sampled_from(ROUNDINGS)),
        overflow,
        n,
    )


@given(formats(), st.data())
def test_quantize_matches_fraction_reference(fmt, data):
    span = 2.0 ** (fmt.int_bits + 2)
    near = st.floats(-span, span, allow_nan=False)
    code = st.integers(fmt.code_min - 8, fmt.code_max + 8)
    # Values on the half-LSB lattice are where the rounding modes disagree.
    halves = st.builds(lambda c, k: float(np.ldexp(c + k / 4, -fmt.frac_bits)), code, st.integers(0, 3))
    anything = st.floats(allow_nan=False, allow_infinity=False)
    values = data.draw(st.lists(st.one_of(near, halves, anything), min_size=1, max_size=20))
    _check(fmt, values)


@given(formats(max_word=63), st.data())
def test_convert_matches_fraction_reference(fmt, data):
    source = data.draw(formats(max_word=40))
    lo, hi = source.code_min, source.code_max
    codes = data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=20))
    got = fmt.convert(np.array(codes, dtype=np.int64), source)
    want = [reference_code(Fraction(c) / Fraction(2) ** source.frac_bits, fmt) for c in codes]
    assert got.tolist() == want


@given(formats(), st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=10))
def test_integer_input_is_exact(fmt, ints):
    got = fmt.quantize(np.array(ints, dtype=np.int64))
    assert got.tolist() == [reference_code(Fraction(i), fmt) for i in ints]


def test_wide_words_and_tiny_doubles():
    for fmt in (FixedPoint(63, 0, rounding="rnd_conv", overflow="sat"), FixedPoint(63, 62, signed=False)):
        _check(fmt, [2.0**62, -(2.0**62), 2.0**63, 1e300, -1e300, 5e-324, -5e-324, 0.5, -0.5, 1.5])
    for r in ROUNDINGS:
        _check(FixedPoint(8, 4, rounding=r), [5e-324, -5e-324, 2.0**-5, -(2.0**-5), -0.0])


# UG1399 (Vitis HLS user guide), "Quantization Modes" and "Overflow Modes": the
# literal examples ap_fixed<3,2,Q,AP_SAT> = ±1.25 and ap_[u]fixed<4,4,AP_RND,O> = ±19.0.
UG1399_QUANTIZATION = {
    "rnd": (1.5, -1.0),
    "rnd_zero": (1.0, -1.0),
    "rnd_min_inf": (1.0, -1.5),
    "rnd_inf": (1.5, -1.5),
    "rnd_conv": (1.0, -1.0),
    "trn": (1.0, -1.5),
    "trn_zero": (1.0, -1.0),
}
UG1399_OVERFLOW = {
    ("sat", True): (7.0, -8.0),
    ("sat", False): (15.0, 0.0),
    ("sat_zero", True): (0.0, 0.0),
    ("sat_zero", False): (0.0, 0.0),
    ("sat_sym", True): (7.0, -7.0),
    ("sat_sym", False): (15.0, 0.0),
}


@pytest.mark.parametrize("rounding", sorted(UG1399_QUANTIZATION))
def test_ug1399_quantization_examples(rounding):
    fmt = FixedPoint.from_hls(f"ap_fixed<3, 2, AP_{rounding.upper()}, AP_SAT>")
    assert tuple(fmt.to_float(fmt.quantize([1.25, -1.25]))) == UG1399_QUANTIZATION[rounding]


@pytest.mark.parametrize(("overflow", "signed"), sorted(UG1399_OVERFLOW))
def test_ug1399_overflow_examples(overflow, signed):
    fmt = FixedPoint.from_hls(f"ap_{'' if signed else 'u'}fixed<4, 4, AP_RND, AP_{overflow.upper()}>")
    assert tuple(fmt.to_float(fmt.quantize([19.0, -19.0]))) == UG1399_OVERFLOW[overflow, signed]


def test_ug1399_sign_magnitude_wrap():
    # UG1399 "Overflow Modes", AP_WRAP_SM: ap_fixed<4, 4, AP_RND, AP_WRAP_SM> = 19.0 yields -4.0,
    # and = -19.0 yields 2.0.
    fmt = FixedPoint.from_hls("ap_fixed<4, 4, AP_RND, AP_WRAP_SM>")
    assert fmt.to_float(fmt.quantize([19.0, -19.0])).tolist() == [-4.0, 2.0]


def test_ug1399_bit_patterns():
    # UG1399 "Overview of Arbitrary Precision Fixed-Point Data Types":
    # ap_fixed<18,6,AP_RND> t1 = 1.5 is 0x01800, t2 = -1.5 is 0x3e800.
    fmt = FixedPoint.from_hls("ap_fixed<18,6,AP_RND>")
    assert (fmt.quantize([1.5, -1.5]) & (2**18 - 1)).tolist() == [0x01800, 0x3E800]
    # "ap_fixed<2, 0> a = -0.5" and "ap_ufixed<1, -1> y = 0.25" are representable.
    assert FixedPoint.from_hls("ap_fixed<2,0>").quantize(-0.5) == -2
    assert FixedPoint.from_hls("ap_ufixed<1,-1>").quantize(0.25) == 1


def test_ug1399_one_bit_example_holds_minus_2_to_the_minus_8():
    # UG1399 writes "const ap_fixed<1, -7> z = 1.0/256; // 1-bit representation for z = 2^-8".
    # The compiled headers give the bit pattern 1, which in a signed 1-bit word is -1: z = -2**-8
    # under the default AP_WRAP, and 0 under AP_SAT (the largest value of ap_fixed<1,-7> is 0).
    wrap, sat = FixedPoint.from_hls("ap_fixed<1,-7>"), FixedPoint.from_hls("ap_fixed<1,-7,AP_TRN,AP_SAT>")
    assert (wrap.quantize(1 / 256), sat.quantize(1 / 256)) == (-1, 0)
    assert wrap.to_float(wrap.quantize(1 / 256)) == -(2.0**-8) and (wrap.min, wrap.max) == (-(2.0**-8), 0.0)
    assert FixedPoint.from_hls("ap_ufixed<1,-7>").quantize(1 / 256) == 1  # the unsigned type holds it


def test_properties_and_spelling():
    fmt = FixedPoint.from_hls("ap_fixed<16,6>")
    assert (fmt.frac_bits, fmt.int_bits, fmt.code_min, fmt.code_max) == (10, 6, -32768, 32767)
    assert (fmt.min, fmt.max, fmt.eps) == (-32.0, 32767 / 1024, 2.0**-10)
    assert str(fmt) == "ap_fixed<16,6>"
    wrapped = FixedPoint(8, 10, False, "rnd_conv", "wrap", 2)
    assert str(wrapped) == "ap_ufixed<8,-2,AP_RND_CONV,AP_WRAP,2>"
    assert FixedPoint.from_hls(str(wrapped)) == wrapped
    assert FixedPoint(4, 0, rounding="AP_RND_INF").rounding == "rnd_inf"
    assert FixedPoint(4, -3).to_float([3, -8]).tolist() == [24.0, -64.0]
    assert FixedPoint(4, 2).represents([-8, 7]) and not FixedPoint(4, 2).represents([8])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"word_bits": 0, "frac_bits": 0}, ConvlabError, "word_bits must be positive"),
        ({"word_bits": 64, "frac_bits": 0}, ConvlabError, "at most 63"),
        ({"word_bits": 8.0, "frac_bits": 0}, TypeError, "word_bits must be an integer"),
        ({"word_bits": 8, "frac_bits": 5000}, ConvlabError, "frac_bits must be within"),
        ({"word_bits": 8, "frac_bits": 0, "signed": 1}, TypeError, "signed must be a bool"),
        ({"word_bits": 8, "frac_bits": 0, "rounding": "round"}, ConvlabError, "rounding must be one of"),
        ({"word_bits": 8, "frac_bits": 0, "overflow": 3}, TypeError, "overflow must be a str"),
        ({"word_bits": 8, "frac_bits": 0, "overflow": "clip"}, ConvlabError, "overflow must be one of"),
        ({"word_bits": 8, "frac_bits": 0, "saturation_bits": 9}, ConvlabError, "at most word_bits=8"),
        ({"word_bits": 8, "frac_bits": 0, "saturation_bits": -1}, ConvlabError, "saturation_bits must be"),
        (
            {"word_bits": 8, "frac_bits": 0, "signed": False, "overflow": "wrap_sm"},
            ConvlabError,
            "signed=True",
        ),
    ],
)
def test_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        FixedPoint(**kwargs)


@pytest.mark.parametrize(
    ("spelling", "error", "match"),
    [
        ("ap_int<8>", ConvlabError, "must look like"),
        ("ap_fixed<8>", ConvlabError, "must look like"),
        ("ap_fixed<8,x>", ConvlabError, "must be integers"),
        ("ap_fixed<8,4,AP_ROUND>", ConvlabError, "rounding must be one of"),
        (16, TypeError, "spelling must be a str"),
    ],
)
def test_from_hls_errors(spelling, error, match):
    with pytest.raises(error, match=match):
        FixedPoint.from_hls(spelling)


def test_value_errors():
    fmt = FixedPoint(8, 4)
    with pytest.raises(ConvlabError, match="x must be finite, got nan"):
        fmt.quantize([1.0, np.nan])
    with pytest.raises(TypeError, match="x must hold real numbers"):
        fmt.quantize(["1"])
    with pytest.raises(TypeError, match="codes must be integers"):
        fmt.to_float([1.5])
    with pytest.raises(TypeError, match="codes must be integers"):
        fmt.convert([1.5], fmt)
    with pytest.raises(TypeError, match="source must be a FixedPoint"):
        fmt.convert([1], "ap_fixed<8,4>")
    with pytest.raises(ConvlabError, match="within ±2\\*\\*62"):
        fmt.quantize(np.array([2**63 - 1]))


def _pinned_rows():
    path = Path(__file__).with_name("quant_fixed_hls_values.txt")
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            spelling, value, code = line.rsplit(" ", 2)
            yield spelling, float(value), int(code)


def test_values_computed_by_the_hls_headers():
    # 700 assignments evaluated by Xilinx's ap_fixed_base.h itself (see the file's header):
    # every rounding x overflow mode (AP_WRAP_SM too), signed and unsigned, N bits, I < 0 and I > W.
    rows = list(_pinned_rows())
    assert len(rows) == 700
    for spelling, value, code in rows:
        assert FixedPoint.from_hls(spelling).quantize(value) == code, (spelling, value)
    # Against the Fraction reference too, so the reference is held to the headers.
    for spelling, value, code in rows:
        assert reference_code(Fraction(value), FixedPoint.from_hls(spelling)) == code, (spelling, value)


@pytest.mark.slow
@settings(max_examples=10_000)
@given(formats(max_word=63), st.data())
def test_quantize_sweep(fmt, data):
    # The release sweep: 10 000 formats x up to 20 values each against the Fraction reference.
    test_quantize_matches_fraction_reference.hypothesis.inner_test(fmt, data)
