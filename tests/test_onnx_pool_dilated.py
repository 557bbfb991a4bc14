"""Dilated ONNX AveragePool (opset 19) and LpPool (opset 18): a naive loop, onnxruntime, onnx.reference.

The three oracles part in three places, each pinned below with its literal case:
a window wholly in the padding (onnxruntime 0, onnx.reference NaN), ceil_mode's
extra padding (onnx.reference shifts the windows), and SAME padding with
dilations (onnxruntime sizes it from the undilated kernel, onnxruntime#10083).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("onnxruntime")

import convlab.onnx as co
from onnx_cases import ort_run, reference_run, single_node


def _out_size(n, k, s, d, lo, hi, ceil):
    span = n + lo + hi - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    # ONNX (and ATen): a last window that would start in the end padding is dropped.
    return out - 1 if ceil and (out - 1) * s >= n + lo else out


def naive_average(x, kernel, strides, dilations, pads, ceil, include):
    """Every window by hand: its taps inside the input summed in row-major order from +0.0 in
    x's dtype, divided by the taps counted (inside the input, or inside input + pads); a window
    that counts no tap is 0."""
    nd = x.ndim - 2
    lo, hi = pads[:nd], pads[nd:]
    out = [
        _out_size(x.shape[2 + i], kernel[i], strides[i], dilations[i], lo[i], hi[i], ceil) for i in range(nd)
    ]
    y = np.zeros((*x.shape[:2], *out), dtype=x.dtype)
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for pos in itertools.product(*map(range, out)):
            total, count = x.dtype.type(0.0), 0
            for tap in itertools.product(*map(range, kernel)):
                at = [pos[i] * strides[i] + tap[i] * dilations[i] - lo[i] for i in range(nd)]
                inside = all(0 <= at[i] < x.shape[2 + i] for i in range(nd))
                if inside:
                    total = total + x[(b, c, *at)]
                count += inside or (include and all(at[i] < x.shape[2 + i] + hi[i] for i in range(nd)))
            y[(b, c, *pos)] = total / x.dtype.type(count) if count else total
    return y


def same_pads(mode, sizes, kernel, strides, dilations):
    """The spec's SAME pads: from the dilated kernel, the odd pixel at the end for SAME_UPPER."""
    lo, hi = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilations):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        small = total // 2
        lo.append(small if mode == "SAME_UPPER" else total - small)
        hi.append(total - lo[-1])
    return lo + hi


def _run(x, **attrs):
    model = single_node("AveragePool", {"x": x}, **attrs)
    return model, co.load(model)(x)


@st.composite
def dilated_cases(draw):
    nd = draw(st.integers(1, 3))
    kernel = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    strides = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd))
    dilations = draw(st.lists(st.integers(1, 3), min_size=nd, max_size=nd).filter(lambda d: max(d) > 1))
    # onnxruntime refuses pads >= kernel; convlab takes them (tested against the loop below).
    pads = [draw(st.integers(0, k - 1)) for k in kernel * 2]
    sizes = [
        draw(st.integers(max(1, (k - 1) * d + 1 - p - q), 7))
        for k, d, p, q in zip(kernel, dilations, pads[:nd], pads[nd:])
    ]
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).standard_normal((2, 2, *sizes)).astype(np.float32)
    return x, kernel, strides, dilations, pads, draw(st.booleans()), draw(st.booleans())


def _has_empty_window(x, kernel, strides, dilations, pads, ceil):
    nd = x.ndim - 2
    sizes = x.shape[2:]
    out = [
        _out_size(sizes[i], kernel[i], strides[i], dilations[i], pads[i], pads[nd + i], ceil)
        for i in range(nd)
    ]
    for pos in itertools.product(*map(range, out)):
        taps = [
            [pos[i] * strides[i] + t * dilations[i] - pads[i] for t in range(kernel[i])] for i in range(nd)
        ]
        if any(not any(0 <= a < x.shape[2 + i] for a in taps[i]) for i in range(nd)):
            return True
    return False


@settings(max_examples=60 if settings.default.max_examples <= 100 else settings.default.max_examples)
@given(dilated_cases())
def test_dilated_average_pool_equals_onnxruntime_and_the_loop_bit_for_bit(case):
    x, kernel, strides, dilations, pads, ceil, include = case
    model, got = _run(
        x,
        kernel_shape=kernel,
        strides=strides,
        dilations=dilations,
        pads=pads,
        ceil_mode=int(ceil),
        count_include_pad=int(include),
    )
    expected = naive_average(x, kernel, strides, dilations, pads, ceil, include)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, ort_run(model, {"x": x})[0])
    if not ceil and not _has_empty_window(x, kernel, strides, dilations, pads, ceil):
        # onnx.reference averages in float64 (np.average): equal to rounding.
        np.testing.assert_allclose(got, reference_run(model, {"x": x})[0], rtol=1e-6, atol=1e-6)


@settings(max_examples=40 if settings.default.max_examples <= 100 else settings.default.max_examples)
@given(
    dilated_cases(),
    st.sampled_from(["VALID", "SAME_UPPER", "SAME_LOWER"]),
    st.integers(0, 3),
)
def test_dilated_average_pool_auto_pad_and_wide_pads_follow_the_spec(case, auto_pad, widen):
    x, kernel, strides, dilations, pads, ceil, include = case
    sizes = x.shape[2:]
    if auto_pad == "VALID" and any(n < (k - 1) * d + 1 for n, k, d in zip(sizes, kernel, dilations)):
        return
    full = same_pads(auto_pad, sizes, kernel, strides, dilations) if auto_pad != "VALID" else [0] * len(pads)
    _, got = _run(
        x, kernel_shape=kernel, strides=strides, dilations=dilations, auto_pad=auto_pad,
        count_include_pad=int(include),
    )  # fmt: skip
    np.testing.assert_array_equal(got, naive_average(x, kernel, strides, dilations, full, False, include))
    if auto_pad.startswith("SAME"):
        assert got.shape[2:] == tuple(-(-n // s) for n, s in zip(sizes, strides))
    # Pads as wide as the dilated kernel and beyond (onnxruntime refuses pads >= kernel).
    wide = [p + widen * d for p, d in zip(pads, dilations * 2)]
    _, got = _run(
        x, kernel_shape=kernel, strides=strides, dilations=dilations, pads=wide, ceil_mode=int(ceil),
        count_include_pad=int(include),
    )  # fmt: skip
    np.testing.assert_array_equal(got, naive_average(x, kernel, strides, dilations, wide, ceil, include))


def test_a_window_wholly_in_the_padding_is_zero_as_onnxruntime_where_onnx_reference_gives_nan():
    # Size 2, kernel 2 dilated by 3, pads (1, 1): the single window reads positions -1 and 2,
    # both padding. onnxruntime skips the division of the empty sum; np.average of nothing is NaN.
    x = np.array([[[5.0, 7.0]]], np.float32)
    model, got = _run(x, kernel_shape=[2], dilations=[3], pads=[1, 1])
    np.testing.assert_array_equal(got, [[[0.0]]])
    np.testing.assert_array_equal(ort_run(model, {"x": x})[0], [[[0.0]]])
    assert np.isnan(reference_run(model, {"x": x})[0]).all()
    # count_include_pad counts the two padding taps: (0 + 0) / 2.
    model, got = _run(x, kernel_shape=[2], dilations=[3], pads=[1, 1], count_include_pad=1)
    np.testing.assert_array_equal(got, [[[0.0]]])


def test_ceil_mode_windows_where_onnx_reference_shifts_them():
    # Size 3, kernel 2 dilated by 2, stride 3, pads (1, 0), ceil: windows start at -1 and 2
    # and read (-1, 1) and (2, 4); -1 is padding and 4 lies past the end pads (never counted),
    # so the means are x[1] and x[2] (x[1] / 2 and x[2] with count_include_pad).
    # onnx.reference puts half of the ceil overhang (2 here) in front, moving its windows.
    x = np.array([[[1.0, 2.0, 4.0]]], np.float32)
    for include, first in ((0, 2.0), (1, 1.0)):
        attrs = dict(kernel_shape=[2], strides=[3], dilations=[2], pads=[1, 0], ceil_mode=1)
        model, got = _run(x, count_include_pad=include, **attrs)
        np.testing.assert_array_equal(got, [[[first, 4.0]]])
        np.testing.assert_array_equal(ort_run(model, {"x": x})[0], got)
        assert not np.array_equal(reference_run(model, {"x": x})[0], got)


def test_same_padding_with_dilation_follows_the_spec_where_onnxruntime_uses_the_undilated_kernel():
    x = np.arange(1.0, 8.0, dtype=np.float32).reshape(1, 1, 7)
    attrs = dict(kernel_shape=[3], dilations=[2], auto_pad="SAME_UPPER")
    model, got = _run(x, **attrs)
    # spec: total pad (7-1)*1 + (3-1)*2 + 1 - 7 = 4, (2, 2); windows (-2, 0, 2), (-1, 1, 3), ...
    np.testing.assert_array_equal(got, naive_average(x, [3], [1], [2], [2, 2], False, False))
    np.testing.assert_array_equal(got[0, 0, :3], [2.0, 3.0, 3.0])
    # onnxruntime pads (1, 1) as for an undilated kernel of 3; its windows start one later.
    theirs = ort_run(model, {"x": x})[0]
    np.testing.assert_array_equal(theirs, naive_average(x, [3], [1], [2], [1, 1], False, False))


def test_dilated_average_pool_in_float64_and_through_trace():
    x = np.random.default_rng(3).standard_normal((1, 2, 9, 8))
    model, got = _run(x, kernel_shape=[3, 2], strides=[2, 1], dilations=[3, 2], pads=[1, 0, 2, 1])
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, naive_average(x, [3, 2], [2, 1], [3, 2], [1, 0, 2, 1], False, False))
    # onnxruntime has no float64 AveragePool kernel; onnx.reference sums the same taps in float64.
    np.testing.assert_array_equal(got, reference_run(model, {"x": x})[0])
    row = co.load(model).trace((1, 2, 9, 8))[0]
    # A dilated window spans d*(k-1)+1 input pixels.
    assert row.output_shapes == (got.shape,) and row.receptive_field == (7, 3)


def test_zero_dilation_is_refused_at_load():
    x = np.ones((1, 1, 4), np.float32)
    model = single_node("AveragePool", {"x": x}, kernel_shape=[2], dilations=[0])
    with pytest.raises(co.OnnxModelError, match=r"dilations=\[0\] must be positive"):
        co.load(model)


def naive_lp(x, kernel, strides, dilations, pads, ceil, p):
    """Every window by hand: float32(|x|^p in double) over its taps inside the input, summed in
    row-major order in float32, then the root taken in double and rounded once."""
    nd = x.ndim - 2
    lo, hi = pads[:nd], pads[nd:]
    out = [
        _out_size(x.shape[2 + i], kernel[i], strides[i], dilations[i], lo[i], hi[i], ceil) for i in range(nd)
    ]
    y = np.zeros((*x.shape[:2], *out), dtype=x.dtype)
    root = float(np.float32(1) / np.float32(p))
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for pos in itertools.product(*map(range, out)):
            total = np.float32(0.0)
            for tap in itertools.product(*map(range, kernel)):
                at = [pos[i] * strides[i] + tap[i] * dilations[i] - lo[i] for i in range(nd)]
                if all(0 <= at[i] < x.shape[2 + i] for i in range(nd)):
                    total = np.float32(total + np.float32(abs(float(x[(b, c, *at)])) ** p))
            y[(b, c, *pos)] = np.float32(float(total) ** root)
    return y


@settings(max_examples=50 if settings.default.max_examples <= 100 else settings.default.max_examples)
@given(dilated_cases(), st.integers(1, 3))
def test_lp_pool_equals_the_loop_and_onnxruntime_to_its_powf(case, p):
    x, kernel, strides, dilations, pads, ceil, _ = case
    attrs = dict(
        kernel_shape=kernel, strides=strides, dilations=dilations, pads=pads, ceil_mode=int(ceil), p=p
    )
    model = single_node("LpPool", {"x": x}, opset=18, **attrs)
    got = co.load(model)(x)
    np.testing.assert_array_equal(got, naive_lp(x, kernel, strides, dilations, pads, ceil, p))
    # onnxruntime takes the root with glibc's powf (under 1 ulp from the correctly rounded
    # root convlab takes): 1492 of 1500 random configurations were bit-equal, the rest 1 ulp apart.
    np.testing.assert_array_max_ulp(got, ort_run(model, {"x": x})[0], maxulp=1)
    if not ceil:
        np.testing.assert_allclose(got, reference_run(model, {"x": x})[0], rtol=1e-6)


def test_lp_pool_p_must_be_positive():
    x = np.ones((1, 1, 4), np.float32)
    model = single_node("LpPool", {"x": x}, opset=18, kernel_shape=[2], p=0)
    with pytest.raises(co.OnnxModelError, match=r"p=0 must be a positive integer"):
        co.load(model)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_undilated_lp_pool_with_pads_and_ceil_mode(p):
    x = np.random.default_rng(p).standard_normal((2, 3, 7, 6)).astype(np.float32)
    attrs = dict(kernel_shape=[3, 2], strides=[2, 2], pads=[1, 0, 1, 1], ceil_mode=1, p=p)
    model = single_node("LpPool", {"x": x}, opset=18, **attrs)
    got = co.load(model)(x)
    np.testing.assert_array_equal(got, naive_lp(x, [3, 2], [2, 2], [1, 1], [1, 0, 1, 1], True, p))
    np.testing.assert_array_max_ulp(got, ort_run(model, {"x": x})[0], maxulp=1)


def test_dilations_before_the_opset_that_added_them_are_refused_as_by_onnxruntime():
    x = np.ones((1, 1, 6), np.float32)
    for op, opset, since in (("AveragePool", 18, 19), ("LpPool", 17, 18)):
        model = single_node(op, {"x": x}, opset=opset, kernel_shape=[2], dilations=[2])
        with pytest.raises(
            co.OnnxModelError, match=rf"dilations needs opset {since}, the model imports {opset}"
        ):
            co.load(model)
        with pytest.raises(Exception, match="Unrecognized attribute: dilations"):
            ort_run(model, {"x": x})
