"""qlinear_add and qlinear_concat against onnxruntime's com.microsoft kernels and per-element Python."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.quant import qlinear_add, qlinear_concat

pytest.importorskip("onnxruntime")
SCALES = [0.1, 0.02, 0.0037, 0.3, 0.5, 0.25, 1.7, 0.013, 2.0**-7]
SHAPES = [((2, 3, 5, 7), (2, 3, 5, 7)), ((2, 3, 4, 5), (1, 3, 1, 1)), ((1, 3, 1, 1), (2, 3, 4, 5)),
          ((3, 33), ()), ((), (2, 40)), ((1, 1, 6, 9), (1, 1, 6, 9))]  # fmt: skip


def _params(draw, kind):
    info = np.iinfo(kind)
    zero = st.sampled_from([info.min, info.max, 0 if kind == "int8" else 128]) | st.integers(
        info.min, info.max
    )
    return np.float32(draw(st.sampled_from(SCALES))), np.array(draw(zero), kind)


@settings(max_examples=120)
@given(st.data())
def test_qlinear_add_equals_onnxruntime(data):
    from quant_oracles import onnx_model, run_ort

    kind = data.draw(st.sampled_from(["uint8", "int8"]))
    shape_a, shape_b = data.draw(st.sampled_from(SHAPES))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    info = np.iinfo(kind)
    a = rng.integers(info.min, info.max + 1, shape_a).astype(kind)
    b = rng.integers(info.min, info.max + 1, shape_b).astype(kind)
    (sa, za), (sb, zb), (sc, zc) = (_params(data.draw, kind) for _ in range(3))
    inputs = [("a", a), ("sa", sa), ("za", za), ("b", b), ("sb", sb), ("zb", zb), ("sc", sc), ("zc", zc)]
    model, feeds = onnx_model("QLinearAdd", inputs, {}, kind, domain="com.microsoft", opset=13)
    got = qlinear_add(a, sa, za, b, sb, zb, sc, zc)
    np.testing.assert_array_equal(got, run_ort(model, feeds))
    # Against the real-number formula the kernel approximates: never more than one code apart.
    exact = (a.astype(np.float64) - za) * (float(sa) / float(sc)) + (b.astype(np.float64) - zb) * (
        float(sb) / float(sc)
    )
    expected = np.clip(np.rint(exact) + int(zc), info.min, info.max)
    assert np.abs(got.astype(np.int64) - expected).max() <= 1


@settings(max_examples=80)
@given(st.data())
def test_qlinear_concat_equals_onnxruntime_and_the_table_rule(data):
    from quant_oracles import onnx_model, run_ort

    kind = data.draw(st.sampled_from(["uint8", "int8"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    info = np.iinfo(kind)
    axis = data.draw(st.integers(0, 2))
    y_scale, y_zp = _params(data.draw, kind)
    triples = []
    for _ in range(data.draw(st.integers(1, 3))):
        shape = [2, 3, 4]
        shape[axis] = data.draw(st.integers(1, 3))
        x = rng.integers(info.min, info.max + 1, shape).astype(kind)
        same = data.draw(st.booleans())
        triples.append((x, y_scale, y_zp) if same else (x, *_params(data.draw, kind)))
    inputs = [("ys", y_scale), ("yz", y_zp)]
    for i, (x, s, z) in enumerate(triples):
        inputs += [(f"x{i}", x), (f"s{i}", s), (f"z{i}", z)]
    model, feeds = onnx_model("QLinearConcat", inputs, {"axis": axis}, kind, domain="com.microsoft", opset=13)
    got = qlinear_concat(y_scale, y_zp, triples, axis=axis)
    np.testing.assert_array_equal(got, run_ort(model, feeds))

    # Per element: float32 dequantise, divide by the output scale, round half to even, clip.
    def one(v, s, z):
        real = np.float32(np.float32(int(v) - int(z)) * s)
        return min(max(round(float(real / y_scale)) + int(y_zp), info.min), info.max)

    expected = [np.vectorize(one)(x, s, z) for x, s, z in triples]
    np.testing.assert_array_equal(got, np.concatenate(expected, axis=axis))
