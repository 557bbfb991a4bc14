"""requantize (gemmlowp/TFLite integer rule), quantize_multiplier, the float rule, and where they part.

The oracles are exact rational arithmetic (``fractions.Fraction``) of the
rounding each rule states, not a re-run of the integer code.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.quant import qlinear_conv, quantize_multiplier, requantize, requantize_float

I32 = st.integers(-(2**31), 2**31 - 1)


def _half_away(v: Fraction) -> int:
    return int(math.copysign(math.floor(abs(v) + Fraction(1, 2)), v))


def _gemmlowp(acc: int, m: int, shift: int) -> int:
    """SaturatingRoundingDoublingHighMul = floor(a*m/2**31 + 1/2) (its nudge and truncation make ties go up),
    then RoundingDivideByPOT = half away from zero."""
    a = acc * 2 ** max(shift, 0)
    high = 2**31 - 1 if a == m == -(2**31) else math.floor(Fraction(a * m, 2**31) + Fraction(1, 2))
    return _half_away(Fraction(high, 2 ** max(-shift, 0)))


@settings(max_examples=400)
@given(I32, st.integers(0, 2**31 - 1), st.integers(-31, 0), st.integers(-128, 127))
def test_gemmlowp_rounding_equals_its_rational_definition(acc, m, shift, zp):
    expected = min(max(_gemmlowp(acc, m, shift) + zp, -128), 127)
    assert requantize([acc], m, shift, zero_point=zp).item() == expected


@settings(max_examples=200)
@given(st.integers(-(2**20), 2**20), st.integers(0, 2**31 - 1), st.integers(1, 10))
def test_left_shifts_multiply_first(acc, m, shift):
    expected = min(max(_gemmlowp(acc, m, shift), -(2**31)), 2**31 - 1)
    assert requantize([acc], m, shift, dtype=np.int32).item() == expected


@settings(max_examples=400)
@given(I32, st.integers(0, 2**31 - 1), st.integers(-31, 30))
def test_single_rounding_is_one_round_half_up_of_the_exact_product(acc, m, shift):
    exact = math.floor(Fraction(acc * m, 2 ** (31 - shift)) + Fraction(1, 2))
    assert requantize([acc], m, shift, dtype=np.int32, rounding="single").item() == min(
        max(exact, -(2**31)), 2**31 - 1
    )


@settings(max_examples=400)
@given(st.floats(2.0**-40, 2.0**29, allow_nan=False, allow_infinity=False))
def test_quantize_multiplier_rounds_the_mantissa_half_away_like_tflite(scale):
    m, shift = quantize_multiplier(scale)
    if shift == 0 and m == 0:
        assert scale < 2.0**-31
        return
    assert 2**30 <= m < 2**31
    exact = Fraction(scale) * 2 ** (31 - shift)  # the mantissa scaled to Q0.31
    assert m == _half_away(exact) or (m == 2**30 and _half_away(exact) == 2**31)


def test_the_documented_case_where_the_float_and_integer_rules_part():
    m, shift = quantize_multiplier(0.1)
    assert (m, shift) == (1717986918, -3)
    # 5 * 0.1 = 0.5: the float rule rounds the tie to even, gemmlowp's last shift away from zero.
    assert requantize_float([5], np.float32(0.1)).item() == 0
    assert requantize([5], m, shift).item() == 1
    # One rounding of the exact 5 * m / 2**34 = 0.49999999982 gives 0 again.
    assert requantize([5], m, shift, rounding="single").item() == 0


def test_saturate_false_keeps_the_low_bits():
    np.testing.assert_array_equal(
        requantize([300, -200], 1 << 30, 1, dtype=np.int8, saturate=False), np.array([44, 56], np.int8)
    )
    np.testing.assert_array_equal(requantize([300, -200], 1 << 30, 1, dtype=np.int8), [127, -128])


@settings(max_examples=200)
@given(st.lists(I32, min_size=1, max_size=20), st.sampled_from([0.1, 0.0037, 0.5, 1.7, 2.0**-9]))
def test_requantize_float_is_float32_product_round_half_even(acc, scale):
    s = np.float32(scale)
    expected = [min(max(round(float(np.float32(np.float32(a) * s))) + 3, 0), 255) for a in acc]
    np.testing.assert_array_equal(requantize_float(acc, s, np.uint8(3)), expected)


@pytest.mark.parametrize(
    ("x", "w", "x_scale", "y_scale", "exact", "ort_value", "reference_value"),
    [(110, 5, 0.0037, 0.11, 18.50000010583211, 18, 19), (125, 2, 0.0037, 0.05, 18.499999729916457, 18, 19)],
)
def test_onnxruntime_and_onnx_reference_part_near_ties(
    x, w, x_scale, y_scale, exact, ort_value, reference_value
):
    """acc * x_scale * w_scale / y_scale: onnxruntime rounds it in float32, onnx.reference in float64.

    Neither is the exact real number the specification writes: in the first
    case onnxruntime's float32 product lands on the tie 18.5 and goes to even
    (18) where the exact value is above it (19); in the second onnx.reference's
    float64 product of the float32-rounded scale crosses 18.5 the other way.
    convlab follows onnxruntime.
    """
    pytest.importorskip("onnxruntime")
    from quant_oracles import conv_attrs, onnx_model, run_ort, run_reference

    xs, ys = np.float32(x_scale), np.float32(y_scale)
    real = Fraction(w * x) * Fraction(float(xs)) / Fraction(float(ys))
    assert math.isclose(float(real), exact, rel_tol=1e-12)
    feeds = [
        ("x", np.full((1, 1, 1, 1), x, np.uint8)), ("xs", xs), ("xz", np.uint8(0)),
        ("w", np.full((1, 1, 1, 1), w, np.int8)), ("ws", np.float32(1.0)), ("wz", np.int8(0)),
        ("ys", ys), ("yz", np.uint8(0)),
    ]  # fmt: skip
    model, inputs = onnx_model(
        "QLinearConv", feeds, conv_attrs((1, 1), (1, 1), ((0, 0),) * 2, (1, 1), 1), "uint8"
    )
    ours = qlinear_conv(*[v for _, v in feeds]).item()
    assert ours == run_ort(model, inputs).item() == ort_value
    assert run_reference(model, inputs).item() == reference_value
