"""The integer operators in graphs: convlab.onnx (through convlab.quant) against onnxruntime, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

pytest.importorskip("onnxruntime")

import convlab.onnx as co
from onnx_cases import ort_run

RNG = np.random.default_rng(0)
U8 = np.uint8


def _graph(nodes, x, initializers, outputs, opset=21):
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()],
    )
    graph.ClearField("output")
    graph.output.extend([helper.ValueInfoProto(name=o) for o in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model


def test_qdq_qlinear_conv_matmul_and_integer_ops_equal_onnxruntime():
    x = RNG.standard_normal((1, 3, 9, 8)).astype(np.float32)
    init = {
        "xs": np.array(0.02, np.float32), "xz": np.array(128, U8),
        "w": RNG.integers(0, 255, (4, 3, 3, 3)).astype(U8), "ws": np.array(0.01, np.float32),
        "wz": np.array(120, U8), "ys": np.array(0.05, np.float32), "yz": np.array(100, U8),
        "b": RNG.integers(-500, 500, 4).astype(np.int32), "m": RNG.integers(0, 255, (8, 5)).astype(U8),
    }  # fmt: skip
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["q"]),
        helper.make_node(
            "QLinearConv",
            ["q", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"],
            ["c"],
            pads=[1, 0, 1, 2],
            strides=[2, 1],
            name="qconv",
        ),
        helper.make_node("ConvInteger", ["q", "w", "xz", "wz"], ["ci"], pads=[1, 1, 1, 1]),
        helper.make_node("QLinearMatMul", ["c", "ys", "yz", "m", "ws", "wz", "xs", "xz"], ["mm"]),
        helper.make_node("MatMulInteger", ["c", "m", "yz", "wz"], ["mi"]),
        helper.make_node("DequantizeLinear", ["mm", "xs", "xz"], ["y"]),
    ]
    outputs = ["q", "c", "ci", "mm", "mi", "y"]
    model = _graph(nodes, x, init, outputs)
    ours = co.load(model).run({"x": x}, keep="all")
    theirs = ort_run(model, {"x": x}, outputs)
    for name, b in zip(outputs, theirs):
        assert ours[name].dtype == b.dtype, name
        np.testing.assert_array_equal(ours[name], b, err_msg=name)
    rows = co.load(model).trace((1, 3, 9, 8))
    conv = next(r for r in rows if r.name == "qconv")
    assert conv.output_shapes == ((1, 4, 5, 8),) and conv.receptive_field == (3, 3)
