"""Fixed-point conv and transposed conv against naive Fraction loops; routes at their edge; errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _fixed_reference import loop_conv, loop_conv_transpose
from convlab._args import ConvlabError
from convlab.quant import FixedPoint, accumulation_route, fixed_conv, fixed_conv_transpose

ROUNDINGS = ("trn", "trn_zero", "rnd", "rnd_zero", "rnd_min_inf", "rnd_inf", "rnd_conv")


@st.composite
def fmt(draw, w_lo=2, w_hi=10, overflows=("wrap", "sat", "sat_zero", "sat_sym", "wrap_sm")):
    w = draw(st.integers(w_lo, w_hi))
    overflow = draw(st.sampled_from(overflows))
    n = draw(st.integers(0, min(w, 2))) if overflow.startswith("wrap") else 0
    return FixedPoint(w, draw(st.integers(-2, w + 2)), True, draw(st.sampled_from(ROUNDINGS)), overflow, n)


def _codes(draw, shape, f):
    flat = draw(
        st.lists(
            st.integers(f.code_min, f.code_max), min_size=int(np.prod(shape)), max_size=int(np.prod(shape))
        )
    )
    return np.array(flat, dtype=np.int64).reshape(shape)


@st.composite
def conv_case(draw, transposed=False):
    nd = draw(st.integers(1, 2))
    groups = draw(st.sampled_from([1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    size = tuple(draw(st.integers(d[i] * (k[i] - 1) + 1, d[i] * (k[i] - 1) + 4)) for i in range(nd))
    fx, fw, fo = draw(fmt()), draw(fmt()), draw(fmt(w_hi=12))
    fb = draw(st.one_of(st.none(), fmt()))
    fa = draw(st.one_of(st.none(), fmt(w_lo=4, w_hi=20)))
    wshape = (cin, cout // groups, *k) if transposed else (cout, cin // groups, *k)
    x, w = _codes(draw, (2, cin, *size), fx), _codes(draw, wshape, fw)
    b = None if fb is None else _codes(draw, (cout,), fb)
    return nd, groups, k, s, d, x, fx, w, fw, b, fb, fo, fa


@given(conv_case(), st.data())
def test_conv_matches_loop_reference(case, data):
    nd, groups, _, s, d, x, fx, w, fw, b, fb, fo, fa = case
    pads = tuple(tuple(data.draw(st.integers(0, 2), label="pad") for _ in range(2)) for _ in range(nd))
    got = fixed_conv(
        x, fx, w, fw, b, fb, out_format=fo, acc_format=fa, stride=s, padding=pads, dilation=d, groups=groups
    )
    want = loop_conv(x, fx, w, fw, b, fb, fo, fa, s, pads, d, groups)
    np.testing.assert_array_equal(got, want)


@given(conv_case(transposed=True), st.data())
def test_conv_transpose_matches_loop_reference(case, data):
    nd, groups, k, s, d, x, fx, w, fw, b, fb, fo, fa = case
    p = tuple(data.draw(st.integers(0, d[i] * (k[i] - 1)), label="pad") for i in range(nd))
    op = tuple(data.draw(st.integers(0, max(s[i], d[i]) - 1), label="out_pad") for i in range(nd))
    got = fixed_conv_transpose(
        x,
        fx,
        w,
        fw,
        b,
        fb,
        out_format=fo,
        acc_format=fa,
        stride=s,
        padding=p,
        output_padding=op,
        dilation=d,
        groups=groups,
    )
    want = loop_conv_transpose(x, fx, w, fw, b, fb, fo, fa, s, p, op, d, groups)
    np.testing.assert_array_equal(got, want)


def test_three_dimensions():
    rng = np.random.default_rng(0)
    f = FixedPoint(8, 5, rounding="rnd_conv", overflow="sat")
    x, w = rng.integers(-128, 128, (1, 2, 3, 4, 3)), rng.integers(-128, 128, (2, 2, 2, 2, 2))
    acc = FixedPoint(14, 6, overflow="sat")
    got = fixed_conv(x, f, w, f, out_format=f, acc_format=acc, padding=1)
    want = loop_conv(x, f, w, f, None, None, f, acc, (1, 1, 1), ((1, 1),) * 3, (1, 1, 1), 1)
    np.testing.assert_array_equal(got, want)


def test_accumulator_saturates_after_every_addition():
    one = FixedPoint(8, 0)
    x = np.array([[[100, 100, -100]]])  # three products of 100, 100, -100 with w = 1
    w = np.ones((1, 1, 3), dtype=np.int64)
    wide = FixedPoint(16, 0)
    sat = FixedPoint(8, 0, overflow="sat")
    # Full precision: 100. Saturating 8-bit accumulator: 100, 127 (clipped), 27.
    assert fixed_conv(x, one, w, one, out_format=wide).tolist() == [[[100]]]
    out, route = fixed_conv(x, one, w, one, out_format=wide, acc_format=sat, return_route=True)
    assert (out.tolist(), route) == ([[[27]]], "sequential")
    # Wrapping: 100, -56 (200 - 256), -156 -> 100; the same as wrapping the exact sum once.
    out, route = fixed_conv(x, one, w, one, out_format=wide, acc_format=FixedPoint(8, 0), return_route=True)
    assert (out.tolist(), route) == ([[[100]]], "float64")
    # ap_fixed<8,8,AP_TRN,AP_WRAP,1>: an overflow forces the sign bit: 100, then 200 -> 0b0100_1000 = 72, ...
    n1 = FixedPoint(8, 0, saturation_bits=1)
    assert fixed_conv(x, one, w, one, out_format=wide, acc_format=n1).tolist() == [[[-28]]]
    # Just at the edge: 127 fits, 128 saturates.
    edge = np.array([[[100, 27]]]), np.array([[[100, 28]]])
    w2 = np.ones((1, 1, 2), dtype=np.int64)
    assert fixed_conv(edge[0], one, w2, one, out_format=wide, acc_format=sat).tolist() == [[[127]]]
    assert fixed_conv(edge[1], one, w2, one, out_format=wide, acc_format=sat).tolist() == [[[127]]]
    assert fixed_conv(edge[1], one, w2, one, out_format=wide, acc_format=FixedPoint(8, 0)).tolist() == [
        [[-128]]
    ]


def test_accumulator_rounds_each_product():
    # x = w = 0.5 + 1/16 in ap_fixed<8,4>: the product 0.31640625 rounded into ap_fixed<8,4> (1/16 LSB).
    f = FixedPoint(8, 4)
    x, w = np.array([[[9, 9, 9]]]), np.array([[[9, 9, 9]]])  # 81/256 each, three products
    out = FixedPoint(12, 8)
    # Full precision: 243/256. Truncating accumulator: each product floors to 5/16 -> 15/16 = 240/256.
    assert fixed_conv(x, f, w, f, out_format=out).tolist() == [[[243]]]
    assert fixed_conv(x, f, w, f, out_format=out, acc_format=FixedPoint(12, 4)).tolist() == [[[240]]]
    # Rounding half up: 81/256 = 5.0625/16 -> 5/16 too; 88/256 -> 5.5/16 -> 6/16 with AP_RND.
    rnd = FixedPoint(12, 4, rounding="rnd")
    y = fixed_conv(np.array([[[8]]]), f, np.array([[[11]]]), f, out_format=out, acc_format=rnd)
    assert y.tolist() == [[[96]]]


def test_routes_at_the_float64_edge():
    big = FixedPoint(60, 0)
    assert accumulation_route(1, 2**53 - 1, 1) == "float64"
    assert accumulation_route(1, 2**53, 1) == "int64"
    assert accumulation_route(3, 2**51, 2) == "int64" and accumulation_route(3, 2**51 - 1, 1) == "float64"
    w = np.array([[[2, 1]]])
    # 2 * (2**51 - 1) * 2 < 2**53: float64, exact.
    below = np.array([[[2**51 - 1, 1]]])
    out, route = fixed_conv(below, big, w, big, out_format=big, return_route=True)
    assert (int(out[0, 0, 0]), route) == (2**52 - 1, "float64")
    # 2 * 2**52 * 2 = 2**54: int64; the sum 2**53 + 1 has no float64, a float64 GEMM would return 2**53.
    above = np.array([[[2**52, 1]]])
    out, route = fixed_conv(above, big, w, big, out_format=big, return_route=True)
    assert (int(out[0, 0, 0]), route) == (2**53 + 1, "int64")
    assert float(2**52 * 2 + 1) == 2.0**53  # why the route exists
    # The int64 route through a transposed conv and with large codes on both sides.
    x, wt = np.array([[[2**40 + 3, -(2**39) - 7]]]), np.array([[[2**20 + 5, 3]]])
    out, route = fixed_conv_transpose(x, big, wt, big, out_format=FixedPoint(63, 0), return_route=True)
    xs, ws = [2**40 + 3, -(2**39) - 7], [2**20 + 5, 3]
    want = [xs[0] * ws[0], xs[0] * ws[1] + xs[1] * ws[0], xs[1] * ws[1]]
    assert (out[0, 0].tolist(), route) == (want, "int64")


def test_wrapping_accumulator_on_the_int64_route():
    big = FixedPoint(40, 0)
    x = np.array([[[2**39 - 1, 2**39 - 1, 2**39 - 1]]])
    w = np.array([[[2**20, 2**20, 2**20]]])
    acc = FixedPoint(62, 0)  # the true sum 3 * (2**59 - 2**20) needs 62 bits: it wraps once
    out, route = fixed_conv(x, big, w, big, out_format=FixedPoint(62, 0), acc_format=acc, return_route=True)
    exact = 3 * (2**39 - 1) * 2**20
    assert (int(out[0, 0, 0]), route) == ((exact + 2**61) % 2**62 - 2**61, "int64")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda f: fixed_conv(np.ones((1, 1, 3)), f, np.ones((1, 1, 1), int), f, out_format=f),
            TypeError,
            "x must hold integer codes",
        ),
        (
            lambda f: fixed_conv(np.full((1, 1, 3), 999), f, np.ones((1, 1, 1), int), f, out_format=f),
            ConvlabError,
            r"x must be codes of x_format=ap_fixed<8,4> in \[-128, 127\], got codes in \[999, 999\]",
        ),
        (
            lambda f: fixed_conv(np.ones((1, 1, 3), int), "q8", np.ones((1, 1, 1), int), f, out_format=f),
            TypeError,
            "x_format must be a FixedPoint",
        ),
        (
            lambda f: fixed_conv(np.ones((1, 1, 3), int), f, np.ones((1, 1), int), f, out_format=f),
            ConvlabError,
            r"weight must have shape \(C_out, C_in/groups, \*k\) with 1-3 kernel dims, got \(1, 1\)",
        ),
        (
            lambda f: fixed_conv(np.ones((1, 3), int), f, np.ones((1, 1, 1), int), f, out_format=f),
            ConvlabError,
            "x must have shape",
        ),
        (
            lambda f: fixed_conv(
                np.ones((1, 1, 3), int), f, np.ones((1, 1, 1), int), f, np.ones(1, int), out_format=f
            ),
            ConvlabError,
            "bias and bias_format go together",
        ),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(FixedPoint(8, 4))


def test_geometry_errors_come_before_any_arithmetic():
    f, sat = FixedPoint(8, 4), FixedPoint(8, 4, overflow="sat")
    x, w = np.ones((1, 3, 5, 5), int), np.ones((2, 2, 3, 3), int)
    with pytest.raises(ConvlabError, match="input has 3 channels but weight expects"):
        fixed_conv(x, f, w, f, out_format=f, acc_format=sat)
    with pytest.raises(ConvlabError, match="input has 3 channels"):
        fixed_conv_transpose(x, f, w, f, out_format=f, acc_format=sat)


def test_empty_batch():
    f, sat = FixedPoint(8, 4), FixedPoint(8, 4, overflow="sat")
    x, w = np.zeros((0, 2, 5, 5), int), np.ones((3, 2, 3, 3), int)
    for acc in (None, sat):
        assert fixed_conv(x, f, w, f, out_format=f, acc_format=acc).shape == (0, 3, 3, 3)
        wt = w.transpose(1, 0, 2, 3)
        assert fixed_conv_transpose(x, f, wt, f, out_format=f, acc_format=acc).shape == (0, 3, 7, 7)


def test_width_errors():
    big = FixedPoint(63, 0)
    with pytest.raises(ConvlabError, match="a product of x and weight codes exceeds 2\\*\\*62"):
        fixed_conv(np.array([[[2**40]]]), big, np.array([[[2**30]]]), big, out_format=big)
    with pytest.raises(ConvlabError, match="the full-precision accumulator needs 64 bits"):
        fixed_conv(np.array([[[2**61 + 1, 2**61]]]), big, np.array([[[1, 1]]]), big, out_format=big)
    with pytest.raises(
        ConvlabError, match="acc_format must have at most 62 bits when it rounds or saturates"
    ):
        fixed_conv(
            np.array([[[2**61 + 1, 2**61]]]),
            big,
            np.array([[[1, 1]]]),
            big,
            out_format=big,
            acc_format=FixedPoint(63, 0, overflow="sat"),
        )
