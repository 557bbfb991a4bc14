"""max_pool and qlinear_average_pool against onnxruntime and naive per-window Python."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab import ConvlabError
from convlab.quant import max_pool, qlinear_average_pool

pytest.importorskip("onnxruntime")
SCALES = [0.1, 0.02, 0.0037, 0.3, 0.5, 0.25, 1.7, 2.0**-7]


@st.composite
def pool_cases(draw, dilated: bool):
    ndim = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) if dilated else 1 for _ in range(ndim))
    size = tuple(draw(st.integers(d * (k - 1) + 1, d * (k - 1) + 5)) for k, d in zip(kernel, dilation))
    pairs = tuple((draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))) for k in kernel)
    kind = draw(st.sampled_from(["uint8", "int8"]))
    info = np.iinfo(kind)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(
        info.min, info.max + 1, (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *size)
    ).astype(kind)
    if draw(st.booleans()):  # the whole image: onnxruntime's global-average path
        kernel, stride, pairs, dilation = size, (1,) * ndim, ((0, 0),) * ndim, (1,) * ndim
    return x, kernel, stride, pairs, dilation


def _attrs(kernel, stride, pairs, dilation=None):
    attrs = {"kernel_shape": list(kernel), "strides": list(stride)}
    attrs["pads"] = [lo for lo, _ in pairs] + [hi for _, hi in pairs]
    if dilation is not None:
        attrs["dilations"] = list(dilation)
    return attrs


def _naive_windows(x, kernel, stride, pairs, dilation):
    """Per output position: the valid (index tuples) of the window, in kernel order."""
    size = x.shape[2:]
    out = [
        (n + lo + hi - d * (k - 1) - 1) // s + 1
        for n, k, s, (lo, hi), d in zip(size, kernel, stride, pairs, dilation)
    ]
    for pos in itertools.product(*map(range, out)):
        idx = []
        for taps in itertools.product(*map(range, kernel)):
            i = tuple(p * s + t * d - lo for p, t, s, d, (lo, _) in zip(pos, taps, stride, dilation, pairs))
            if all(0 <= v < n for v, n in zip(i, size)):
                idx.append(i)
        yield pos, out, idx


@settings(max_examples=80)
@given(pool_cases(dilated=True))
def test_max_pool_equals_onnxruntime_and_naive(case):
    from quant_oracles import onnx_model, run_ort

    x, kernel, stride, pairs, dilation = case
    got = max_pool(x, kernel, stride, pairs, dilation)
    model, feeds = onnx_model(
        "MaxPool", [("x", x)], _attrs(kernel, stride, pairs, dilation), x.dtype.name, opset=12
    )
    np.testing.assert_array_equal(got, run_ort(model, feeds))
    for pos, _, idx in _naive_windows(x, kernel, stride, pairs, dilation):
        expected = np.max([x[(slice(None), slice(None), *i)] for i in idx], axis=0)
        np.testing.assert_array_equal(got[(slice(None), slice(None), *pos)], expected)


@settings(max_examples=120)
@given(pool_cases(dilated=False), st.booleans(), st.sampled_from(SCALES), st.sampled_from(SCALES), st.data())
def test_qlinear_average_pool_equals_onnxruntime_and_naive(case, include_pad, sx, sy, data):
    from quant_oracles import onnx_model, run_ort

    x, kernel, stride, pairs, _ = case
    info = np.iinfo(x.dtype)
    zx, zy = (np.array(data.draw(st.integers(info.min, info.max)), x.dtype) for _ in range(2))
    sx, sy = np.float32(sx), np.float32(sy)
    attrs = {**_attrs(kernel, stride, pairs), "count_include_pad": int(include_pad)}
    inputs = [("x", x), ("xs", sx), ("xz", zx), ("ys", sy), ("yz", zy)]
    model, feeds = onnx_model(
        "QLinearAveragePool", inputs, attrs, x.dtype.name, domain="com.microsoft", opset=13
    )
    n = math.prod(kernel)
    scale = sx / (sy * np.float32(n))
    if tuple(kernel) == x.shape[2:] and not any(map(any, pairs)) and not 2.0**-32 <= scale < 256:
        # onnxruntime's global kernel throws here; so does its golden model.
        with pytest.raises(Exception, match="out of computation range"):
            run_ort(model, feeds)
        with pytest.raises(ConvlabError, match="outside"):
            qlinear_average_pool(x, sx, zx, sy, zy, kernel, stride, pairs, count_include_pad=include_pad)
        return
    expected = run_ort(model, feeds)
    got = qlinear_average_pool(x, sx, zx, sy, zy, kernel, stride, pairs, count_include_pad=include_pad)
    np.testing.assert_array_equal(got, expected)
    if tuple(kernel) == x.shape[2:]:
        return  # the global path is held to onnxruntime above; its rule is QLinearConv's
    for pos, _, idx in _naive_windows(x, kernel, stride, pairs, (1,) * len(kernel)):
        for n, c in np.ndindex(*x.shape[:2]):
            total = np.float32(0)
            for i in idx:  # float32, one element at a time, in kernel order
                total = np.float32(total + np.float32(sx * np.float32(int(x[(n, c, *i)]) - int(zx))))
            count = np.float32(np.prod(kernel) if include_pad else len(idx))
            value = np.float32(np.float32(np.float32(total / count) / sy) + np.float32(int(zy)))
            assert got[(n, c, *pos)] == min(max(int(np.rint(value)), info.min), info.max)


def test_qlinear_global_average_pool_refuses_where_onnxruntime_does():
    """x_scale / y_scale = 1.7 / 0.0037 ~ 459 over one element: onnxruntime's global kernel
    throws ("out of computation range"), so the golden model refuses too, naming the ratio;
    just inside the range, both compute the same codes."""
    from quant_oracles import onnx_model, run_ort

    x = np.array([[[[217]]]], np.uint8)
    for sx, sy, refused in ((1.7, 0.0037, True), (0.5, 0.0037, False)):
        inputs = [("x", x), ("xs", np.float32(sx)), ("xz", np.uint8(3)), ("ys", np.float32(sy)),
                  ("yz", np.uint8(5))]  # fmt: skip
        model, feeds = onnx_model(
            "QLinearAveragePool", inputs, {"kernel_shape": [1, 1]}, "uint8", domain="com.microsoft", opset=13
        )
        if refused:
            with pytest.raises(Exception, match="out of computation range"):
                run_ort(model, feeds)
            with pytest.raises(ConvlabError, match=r"x_scale / \(y_scale \* n\) = 459\.459 \(n = 1\)"):
                qlinear_average_pool(x, sx, 3, sy, 5, 1)
        else:
            got = qlinear_average_pool(x, sx, 3, sy, 5, 1)
            # 0.5 * (217 - 3) / 0.0037 = 28918.9 + 5 saturates at 255.
            np.testing.assert_array_equal(got, np.array([[[[255]]]], np.uint8))
            np.testing.assert_array_equal(got, run_ort(model, feeds))
