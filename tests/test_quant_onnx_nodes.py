"""run_onnx_node: ONNX attributes translated once, each integer op equal to onnxruntime on its own node."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from convlab import ConvlabError
from convlab.quant import run_onnx_node

pytest.importorskip("onnxruntime")
RNG = np.random.default_rng(7)
U8 = RNG.integers(0, 256, (2, 4, 7, 6)).astype(np.uint8)
I8 = RNG.integers(-128, 128, (3, 4, 3, 3)).astype(np.int8)
F32 = np.float32


def _both(op, inputs, attrs, out_type, domain="", opset=21):
    from quant_oracles import onnx_model, run_ort

    model, feeds = onnx_model(op, inputs, attrs, out_type, domain=domain, opset=opset)
    expected = run_ort(model, feeds)
    got = run_onnx_node(op, [v for _, v in inputs], attrs, domain)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=50)
@given(__import__("quant_cases").conv_configs())
def test_qlinear_conv_node_with_onnx_pads_and_auto_pad(c):
    from quant_oracles import qlinear_conv_node

    _both("QLinearConv", *qlinear_conv_node(c), opset=10)


@pytest.mark.parametrize(
    ("op", "inputs", "attrs", "out_type", "domain"),
    [
        (
            "ConvInteger",
            [("x", U8), ("w", I8.view(np.uint8)), ("zx", np.uint8(7)), ("zw", np.uint8(3))],
            {"pads": [1, 0, 2, 1], "strides": [2, 1]},
            "int32",
            "",
        ),
        ("ConvInteger", [("x", U8), ("w", I8)], {"auto_pad": "SAME_LOWER"}, "int32", ""),
        (
            "MatMulInteger",
            [("a", U8[0, 0]), ("b", I8[0, 0, :, :2].repeat(2, axis=0)), ("za", np.uint8(9))],
            {},
            "int32",
            "",
        ),
        (
            "QLinearMatMul",
            [
                ("a", U8[0, 0]),
                ("sa", F32(0.1)),
                ("za", np.uint8(9)),
                ("b", U8[1, 1, :6, :3]),
                ("sb", F32(0.02)),
                ("zb", np.uint8(100)),
                ("sy", F32(0.3)),
                ("zy", np.uint8(5)),
            ],
            {},
            "uint8",
            "",
        ),
        (
            "QuantizeLinear",
            [
                ("x", RNG.normal(0, 9, (3, 5)).astype(F32)),
                ("s", np.array([0.1, 0.5, 2.0], F32)),
                ("z", np.array([0, -5, 100], np.int8)),
            ],
            {"axis": 0},
            "int8",
            "",
        ),
        (
            "DequantizeLinear",
            [
                ("q", I8[0]),
                ("s", np.array([0.1, 0.5, 2.0, 3.0], F32)),
                ("z", np.array([0, -5, 100, 1], np.int8)),
            ],
            {"axis": 0},
            "float32",
            "",
        ),
        (
            "MaxPool",
            [("x", U8)],
            {"kernel_shape": [3, 2], "pads": [1, 1, 1, 0], "dilations": [1, 2]},
            "uint8",
            "",
        ),
        (
            "QLinearAdd",
            [
                ("a", U8),
                ("sa", F32(0.1)),
                ("za", np.uint8(3)),
                ("b", U8[:, :, :, :1]),
                ("sb", F32(0.2)),
                ("zb", np.uint8(5)),
                ("sc", F32(0.3)),
                ("zc", np.uint8(7)),
            ],
            {},
            "uint8",
            "com.microsoft",
        ),
        (
            "QLinearConcat",
            [
                ("ys", F32(0.3)),
                ("yz", np.uint8(7)),
                ("a", U8),
                ("sa", F32(0.1)),
                ("za", np.uint8(3)),
                ("b", U8[:, :1]),
                ("sb", F32(0.3)),
                ("zb", np.uint8(7)),
            ],
            {"axis": 1},
            "uint8",
            "com.microsoft",
        ),
        (
            "QLinearAveragePool",
            [("x", U8), ("xs", F32(0.1)), ("xz", np.uint8(3)), ("ys", F32(0.07)), ("yz", np.uint8(5))],
            {"kernel_shape": [2, 3], "pads": [1, 1, 0, 1], "strides": [2, 2], "count_include_pad": 1},
            "uint8",
            "com.microsoft",
        ),
    ],
)
def test_each_node_equals_onnxruntime(op, inputs, attrs, out_type, domain):
    _both(op, inputs, attrs, out_type, domain, opset=13 if domain else 21)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: run_onnx_node("Conv", [U8, I8]), "op_type must be one of"),
        (lambda: run_onnx_node("ConvInteger", [U8, I8], {"auto_pad": "SAME"}), "auto_pad must be"),
        (lambda: run_onnx_node("ConvInteger", [U8, I8], {"pads": [1, 1]}), "pads must have 2 \\* 2 values"),
        (lambda: run_onnx_node("MaxPool", [U8], {"kernel_shape": [2, 2], "ceil_mode": 1}), "ceil_mode=1"),
        (lambda: run_onnx_node("QuantizeLinear", [U8.astype(F32), F32(1)], {"saturate": 0}), "saturate=0"),
        (
            lambda: run_onnx_node(
                "QLinearAveragePool",
                [U8, F32(1), 0, F32(1), 0],
                {"kernel_shape": [2, 2], "dilations": [2, 2]},
                "com.microsoft",
            ),
            "no dilations",
        ),
    ],
)
def test_node_errors(call, match):
    with pytest.raises(ConvlabError, match=match):
        call()
