"""Single-node element-wise, activation, matrix and layout operators against onnxruntime and NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper

pytest.importorskip("onnxruntime")

import convlab.onnx as co
from onnx_cases import ort_run, single_node

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
I64 = np.int64


def _both(model, feeds, exact=True):
    ours = co.load(model).run(feeds)
    names = [o.name for o in model.graph.output]
    theirs = ort_run(model, feeds, names)
    for name, b in zip(names, theirs):
        a = ours[name]
        assert a.shape == b.shape and a.dtype == b.dtype, (name, a.shape, b.shape, a.dtype, b.dtype)
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)
    return ours


CASES = [
    ("Relu", {"x": X}, {}, True),
    ("LeakyRelu", {"x": X}, {"alpha": 0.3}, True),
    ("PRelu", {"x": X, "slope": RNG.standard_normal((3, 1, 1)).astype(np.float32)}, {}, True),
    ("Sigmoid", {"x": X * 20}, {}, False),
    ("Tanh", {"x": X}, {}, False),
    ("Clip", {"x": X, "lo": np.array(-0.5, np.float32), "hi": np.array(0.7, np.float32)}, {}, True),
    ("Clip", {"x": X, "lo": None, "hi": np.array(0.7, np.float32)}, {}, True),
    ("Softmax", {"x": X}, {"axis": 1}, False),
    ("Softmax", {"x": X}, {}, False),
    ("Identity", {"x": X}, {}, True),
    ("Flatten", {"x": X}, {"axis": 2}, True),
    ("Transpose", {"x": X}, {"perm": [0, 2, 3, 1]}, True),
    ("Transpose", {"x": X}, {}, True),
    ("Reshape", {"x": X, "s": np.array([0, -1, 5], I64)}, {}, True),
    ("Squeeze", {"x": X[:, :1], "a": np.array([1], I64)}, {}, True),
    ("Unsqueeze", {"x": X, "a": np.array([0, -1], I64)}, {}, True),
    ("Shape", {"x": X}, {"start": 1, "end": -1}, True),
    ("Gather", {"x": X, "i": np.array([[2, -1], [0, 1]], I64)}, {"axis": 3}, True),
    ("Cast", {"x": X * 10}, {"to": TensorProto.INT32}, True),
    (
        "Slice",
        {
            "x": X,
            "s": np.array([3, -1], I64),
            "e": np.array([0, -100], I64),
            "a": np.array([2, 3], I64),
            "t": np.array([-1, -2], I64),
        },
        {},
        True,
    ),
    ("Slice", {"x": X, "s": np.array([1], I64), "e": np.array([2**62], I64)}, {}, True),
    ("Concat", {"x": X, "y2": X[:, :1] + 1}, {"axis": 1}, True),
    (
        "Gemm",
        {"x": X[0, 0], "b": RNG.standard_normal((6, 5)).astype(np.float32), "c": np.ones(6, np.float32)},
        {"transB": 1, "alpha": 0.5, "beta": 2.0},
        False,
    ),
    ("MatMul", {"x": X, "b": RNG.standard_normal((5, 2)).astype(np.float32)}, {}, False),
    (
        "BatchNormalization",
        {
            "x": X,
            "s": np.array([1, 2, 3], np.float32),
            "b": np.array([0, 1, 0], np.float32),
            "m": np.array([0.1, -0.2, 0.3], np.float32),
            "v": np.array([1, 0.5, 2], np.float32),
        },
        {"epsilon": 1e-3},
        False,
    ),
]


@pytest.mark.parametrize(("op", "inputs", "attrs", "exact"), CASES, ids=[c[0] for c in CASES])
def test_operator_against_onnxruntime(op, inputs, attrs, exact):
    feeds = [n for n in inputs if n in ("x", "y2")]
    model = single_node(op, inputs, feeds=feeds, **attrs)
    _both(model, {n: inputs[n] for n in feeds}, exact)


@given(
    st.sampled_from(["Add", "Sub", "Mul", "Div"]), st.sampled_from([(3, 1, 5), (1, 4, 1), (5,), (2, 3, 4, 5)])
)
def test_broadcasting_arithmetic(op, shape):
    y = (RNG.standard_normal(shape) + 3).astype(np.float32)
    model = single_node(op, {"x": X, "y2": y}, feeds=("x", "y2"))
    ours = _both(model, {"x": X, "y2": y})
    expected = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](X, y)
    np.testing.assert_array_equal(ours["y"], expected)


def test_integer_division_truncates_toward_zero():
    a, b = np.array([7, -7, 7, -7, 6], I64), np.array([2, 2, -2, -2, 3], I64)
    model = single_node("Div", {"x": a, "y2": b}, feeds=("x", "y2"))
    assert _both(model, {"x": a, "y2": b})["y"].tolist() == [3, -3, -3, 3, 2]


@pytest.mark.parametrize(
    ("inputs", "attrs", "opset"),
    [
        ({"x": X, "split": np.array([1, 3, 1], I64)}, {"axis": 3}, 13),
        ({"x": X}, {"axis": 2, "num_outputs": 3}, 18),
        ({"x": X}, {"axis": 1, "split": [2, 1]}, 11),
    ],
)
def test_split(inputs, attrs, opset):
    count = 3 if "num_outputs" in attrs or "split" in inputs else 2
    outputs = tuple(f"o{i}" for i in range(count))
    model = single_node("Split", inputs, outputs=outputs, opset=opset, **attrs)
    ours = _both(model, {"x": X})
    axis = attrs["axis"]
    np.testing.assert_array_equal(np.concatenate([ours[o] for o in outputs], axis=axis), X)


def test_constant_shape_chain_and_dropout_mask():
    nodes = [
        helper.make_node(
            "Constant", [], ["c"], value=helper.make_tensor("v", TensorProto.INT64, [2], [2, 3])
        ),
        helper.make_node(
            "ConstantOfShape", ["c"], ["k"], value=helper.make_tensor("f", TensorProto.FLOAT, [1], [1.5])
        ),
        helper.make_node("Dropout", ["x"], ["d", "mask"]),
        helper.make_node("Constant", [], ["one"], value_float=2.0),
        helper.make_node("Mul", ["k", "one"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [
            helper.make_tensor_value_info(n, t, None)
            for n, t in (("y", 1), ("d", 1), ("mask", TensorProto.BOOL))
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = X[0, 0, :2, :3].copy()
    ours = _both(model, {"x": x})
    assert ours["y"].tolist() == [[3.0] * 3] * 2 and ours["mask"].all() and (ours["d"] == x).all()


def test_softmax_opset_11_flattens_from_axis():
    model = single_node("Softmax", {"x": X}, opset=11, axis=2)
    ours = _both(model, {"x": X}, exact=False)["y"]
    np.testing.assert_allclose(ours.reshape(6, 20).sum(axis=1), 1, rtol=1e-6)
