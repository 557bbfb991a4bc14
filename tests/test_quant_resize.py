"""resize_nearest against onnxruntime's Resize on uint8/int8 codes, every coordinate and nearest mode.

onnxruntime's build does not always round the float32 coordinate as IEEE
division would: where the *exact* coordinate sits on a rounding boundary
(``i / scale = 3.5`` at ``scale = 8/7``) it may land on either side. The 1-D
sweep below compares every other index and counts the boundary ones; the
N-d test uses dyadic scales, where float32 is exact and nothing is set aside.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab import ConvlabError
from convlab.quant import resize_nearest
from convlab.quant._resize import MODES, NEAREST

pytest.importorskip("onnxruntime")


def _ort_resize(x, mode, nearest, *, scales=None, sizes=None):
    from quant_oracles import onnx_model, run_ort

    attrs = {"mode": "nearest", "coordinate_transformation_mode": mode, "nearest_mode": nearest}
    inputs = [("x", x), ("roi", np.zeros(0, np.float32))]
    if scales is not None:
        inputs.append(("scales", np.array([1, 1, *scales], np.float32)))
    else:
        inputs += [("scales", None), ("sizes", np.array([*x.shape[:2], *sizes], np.int64))]
    model, feeds = onnx_model("Resize", inputs, attrs, x.dtype.name, opset=13)
    return run_ort(model, feeds)


def _exact_coordinate(i: int, n_in: int, n_out: int, scale: Fraction, mode: str) -> Fraction:
    half = Fraction(1, 2)
    if mode == "align_corners":
        return Fraction(0) if n_out == 1 else Fraction(i * (n_in - 1), n_out - 1)
    if mode == "asymmetric":
        return i / scale
    if mode == "tf_half_pixel_for_nn":
        return (i + half) / scale
    if mode == "pytorch_half_pixel" and n_out == 1:
        return Fraction(0)
    return (i + half) / scale - half


def _float32_coordinate(i: int, n_in: int, n_out: int, mode: str) -> float:
    f32 = np.float32
    scale = f32(n_out) / f32(n_in)
    if mode == "align_corners":
        return 0.0 if n_out == 1 else float(f32(i) * f32(n_in - 1) / f32(n_out - 1))
    if mode == "asymmetric":
        return float(f32(i) / scale)
    if mode == "tf_half_pixel_for_nn":
        return float((f32(i) + f32(0.5)) / scale)
    if mode == "pytorch_half_pixel" and n_out == 1:
        return 0.0
    return float((f32(i) + f32(0.5)) / scale - f32(0.5))


def _on_boundary(exact: Fraction, computed: float, nearest: str) -> bool:
    """The exact coordinate sits on a rounding boundary and float32 moved it off."""
    boundary = (
        exact.denominator == 1
        if nearest in ("floor", "ceil")
        else exact - math.floor(exact) == Fraction(1, 2)
    )
    return boundary and Fraction(computed) != exact


def test_every_mode_and_size_against_onnxruntime_one_axis():
    boundary = compared = 0
    for n in range(1, 8):
        x = np.arange(n, dtype=np.uint8).reshape(1, 1, n)
        for mode in MODES:
            for nearest in NEAREST:
                for out in range(1, 10):
                    got = resize_nearest(
                        x, sizes=out, coordinate_transformation_mode=mode, nearest_mode=nearest
                    )
                    expected = _ort_resize(x, mode, nearest, sizes=(out,))
                    scale = Fraction(out, n)  # the real-number scale the specification means
                    for i in range(out):
                        exact = _exact_coordinate(i, n, out, scale, mode)
                        if out != n and _on_boundary(exact, _float32_coordinate(i, n, out, mode), nearest):
                            boundary += 1
                            continue
                        compared += 1
                        assert got[0, 0, i] == expected[0, 0, i], (n, mode, nearest, out, i)
    print(f"compared {compared}, set aside on a rounding boundary {boundary}")
    assert compared > 10 * boundary  # the set-aside cases stay a small minority


@settings(max_examples=100)
@given(st.data())
def test_dyadic_scales_nd_equal_onnxruntime_everywhere(data):
    ndim = data.draw(st.integers(1, 3))
    size = tuple(data.draw(st.integers(1, 6)) for _ in range(ndim))
    kind = data.draw(st.sampled_from(["uint8", "int8"]))
    x = (
        np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
        .integers(0, 100, (1, 2, *size))
        .astype(kind)
    )
    mode = data.draw(st.sampled_from(MODES))
    nearest = data.draw(st.sampled_from(NEAREST))
    factors = [data.draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 4.0])) for _ in range(ndim)]
    factors = [f if math.floor(n * f) >= 1 else 1.0 for f, n in zip(factors, size)]
    got = resize_nearest(x, scales=factors, coordinate_transformation_mode=mode, nearest_mode=nearest)
    np.testing.assert_array_equal(got, _ort_resize(x, mode, nearest, scales=factors))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scales": 2.0, "sizes": 4}, "exactly one of scales and sizes"),
        ({}, "exactly one of scales and sizes"),
        (
            {"scales": 2.0, "coordinate_transformation_mode": "tf_crop_and_resize"},
            "coordinate_transformation_mode",
        ),
        ({"scales": 2.0, "nearest_mode": "even"}, "nearest_mode must be"),
        ({"scales": 0.1}, "positive output sizes"),
    ],
)
def test_resize_errors(kwargs, match):
    with pytest.raises(ConvlabError, match=match):
        resize_nearest(np.zeros((1, 1, 4), np.uint8), **kwargs)
