"""matmul_integer and qlinear_matmul against onnxruntime and a naive triple loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.quant import matmul_integer, qlinear_matmul
from quant_oracles import naive_requantize, onnx_model, run_ort

pytest.importorskip("onnxruntime")
SCALES = [2.0**-k for k in range(8)] + [0.0037, 0.02, 0.3, 1.7]


@st.composite
def matmul_cases(draw):
    m, k, n = (draw(st.integers(1, 6)) for _ in range(3))
    batch = draw(st.sampled_from([(), (2,), (2, 3)]))
    a_kind = draw(st.sampled_from(["uint8", "int8"]))
    # onnxruntime's kernels pair int8 a with int8 b only (uint8 a takes either).
    b_kind = "int8" if a_kind == "int8" else draw(st.sampled_from(["uint8", "int8"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    info_a, info_b = np.iinfo(a_kind), np.iinfo(b_kind)
    a = rng.integers(info_a.min, info_a.max + 1, (*batch, m, k)).astype(a_kind)
    b = rng.integers(info_b.min, info_b.max + 1, (k, n)).astype(b_kind)
    za = np.array(draw(st.sampled_from([info_a.min, info_a.max, 0 if a_kind == "int8" else 128])), a_kind)
    per_column = draw(st.booleans())
    zb = rng.integers(info_b.min, info_b.max + 1, n if per_column else ()).astype(b_kind)
    sb = np.array([draw(st.sampled_from(SCALES)) for _ in range(n if per_column else 1)], np.float32)
    return a, za, b, zb, (sb if per_column else sb.reshape(())), draw(st.sampled_from(SCALES))


def _naive_matmul(a, za, b, zb):
    a2 = a.reshape(-1, a.shape[-2], a.shape[-1]).astype(object) - int(za)
    zb = np.broadcast_to(np.asarray(zb, dtype=object).reshape(-1), (b.shape[-1],))
    out = np.zeros((a2.shape[0], a.shape[-2], b.shape[-1]), dtype=object)
    for i, r, c in np.ndindex(*out.shape):
        out[i, r, c] = sum(a2[i, r, j] * (int(b[j, c]) - zb[c]) for j in range(b.shape[0]))
    return out.reshape(*a.shape[:-1], b.shape[-1])


@settings(max_examples=80)
@given(matmul_cases())
def test_matmul_integer_equals_onnxruntime_and_naive(case):
    a, za, b, zb, _, _ = case
    model, feeds = onnx_model("MatMulInteger", [("a", a), ("b", b), ("za", za), ("zb", zb)], {}, "int32")
    got = matmul_integer(a, b, za, zb)
    np.testing.assert_array_equal(got, run_ort(model, feeds))
    np.testing.assert_array_equal(got, _naive_matmul(a, za, b, zb).astype(np.int64))


@settings(max_examples=80)
@given(matmul_cases(), st.sampled_from(SCALES))
def test_qlinear_matmul_equals_onnxruntime_and_naive(case, a_scale):
    a, za, b, zb, sb, sy = case
    zy = np.array(3 if a.dtype == np.uint8 else -3, a.dtype)
    inputs = [("a", a), ("sa", np.float32(a_scale)), ("za", za), ("b", b), ("sb", sb), ("zb", zb)]
    inputs += [("sy", np.float32(sy)), ("zy", zy)]
    model, feeds = onnx_model("QLinearMatMul", inputs, {}, a.dtype.name)
    got = qlinear_matmul(a, a_scale, za, b, sb, zb, sy, zy)
    np.testing.assert_array_equal(got, run_ort(model, feeds))
    acc = _naive_matmul(a, za, b, zb)
    scale = np.broadcast_to(
        (np.float32(a_scale) * np.broadcast_to(sb, (b.shape[1],)) / np.float32(sy)).astype(np.float32),
        acc.shape,
    )
    info = np.iinfo(a.dtype)
    np.testing.assert_array_equal(got, naive_requantize(acc, scale, zy, info.min, info.max))


def test_matmul_integer_promotes_vectors_as_numpy_matmul():
    a, b = np.array([1, 2, 3], np.int8), np.array([[1, 0], [0, 1], [1, 1]], np.int8)
    np.testing.assert_array_equal(matmul_integer(a, b), [4, 5])
    np.testing.assert_array_equal(matmul_integer(b.T, a), [4, 5])
    assert matmul_integer(a, a).shape == () and int(matmul_integer(a, a)) == 14
