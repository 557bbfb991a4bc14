"""qlinear_conv_transpose: naive scatter loops, the adjoint of conv_integer, and onnxruntime's QDQ graph."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlab.quant import conv_integer, conv_transpose_integer, qlinear_conv_transpose
from quant_cases import conv_configs
from quant_oracles import naive_conv_transpose_integer, naive_requantize, onnx_model, run_ort


def _output_padding(c):
    return tuple(min(s, d) - 1 for s, d in zip(c["stride"], c["dilation"]))


def _call(c, **over):
    c = {**c, **over}
    return qlinear_conv_transpose(
        c["x"], c["x_scale"], c["x_zero_point"], c["w"], c["w_scale"], c["w_zero_point"],
        c["y_scale"], c["y_zero_point"], c["bias"], stride=c["stride"], padding=c["pairs"],
        output_padding=_output_padding(c), dilation=c["dilation"], groups=c["groups"],
    )  # fmt: skip


def _valid(c):
    """Cases whose cropping leaves a non-empty output."""
    for s, k, step, (lo, hi), d, op in zip(
        c["x"].shape[2:], c["w"].shape[2:], c["stride"], c["pairs"], c["dilation"], _output_padding(c)
    ):
        if (s - 1) * step - lo - hi + d * (k - 1) + op + 1 <= 0:
            return False
    return True


@settings(max_examples=30)
@given(conv_configs(max_ndim=2, transposed=True))
def test_qlinear_conv_transpose_equals_naive_scatter_and_requantisation(c):
    if not _valid(c):
        return
    acc = naive_conv_transpose_integer(
        c["x"], c["w"], c["x_zero_point"], c["w_zero_point"], c["stride"], c["pairs"],
        _output_padding(c), c["dilation"], c["groups"],
    )  # fmt: skip
    if c["bias"] is not None:
        acc = acc + c["bias"].astype(object).reshape(-1, *(1,) * (acc.ndim - 2))
    per_weight = np.broadcast_to(c["w_scale"], (c["w"].shape[1],))
    per_channel = np.tile(
        np.float32(c["x_scale"]) * per_weight.astype(np.float32) / c["y_scale"], c["groups"]
    )
    scale = np.broadcast_to(per_channel.astype(np.float32).reshape(-1, *(1,) * (acc.ndim - 2)), acc.shape)
    info = np.iinfo(c["x"].dtype)
    expected = naive_requantize(acc, scale, c["y_zero_point"], info.min, info.max)
    np.testing.assert_array_equal(_call(c), expected)


@settings(max_examples=40)
@given(conv_configs(transposed=True), st.integers(0, 2**32 - 1))
def test_conv_transpose_integer_is_the_adjoint_of_conv_integer(c, seed):
    if not _valid(c):
        return
    kw = {"stride": c["stride"], "padding": c["pairs"], "dilation": c["dilation"], "groups": c["groups"]}
    x = c["x"].astype(np.int64) - int(c["x_zero_point"])
    y = conv_transpose_integer(c["x"], c["w"], c["x_zero_point"], 0, output_padding=_output_padding(c), **kw)
    b = np.random.default_rng(seed).integers(-100, 100, y.shape).astype(np.int16)
    # (C_in, C_out/g, *k) read as a convolution weight maps C_out channels back to C_in.
    back = conv_integer(b, c["w"], 0, 0, **kw)
    assert int((y.astype(np.int64) * b).sum()) == int((x * back[(..., *map(slice, x.shape[2:]))]).sum())


def _dequantize_node(name, axis=None):
    from onnx import helper

    attrs = {} if axis is None else {"axis": axis}
    return helper.make_node("DequantizeLinear", [name, f"{name}_s", f"{name}_z"], [f"{name}_f"], **attrs)


@settings(max_examples=60)
@given(conv_configs(transposed=True))
def test_qlinear_conv_transpose_equals_onnxruntime_qdq_graph_at_exact_scales(c):
    """DequantizeLinear -> ConvTranspose -> QuantizeLinear in onnxruntime, with power-of-two scales.

    Powers of two make every float32 step of the QDQ graph exact (the sums stay
    below 2**24), so it must equal the definition bit for bit.
    """
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    if not _valid(c):
        return
    c = {**c, "x_scale": np.float32(0.5), "y_scale": np.float32(0.25)}
    c["w_scale"] = (
        (2.0 ** -np.arange(np.size(c["w_scale"]))).astype(np.float32).reshape(np.shape(c["w_scale"]))
    )
    per_channel = np.size(c["w_scale"]) > 1
    nodes = [_dequantize_node("x"), _dequantize_node("w", 1 if per_channel else None)]
    conv_inputs = ["x_f", "w_f"]
    feeds = {"x": c["x"], "x_s": c["x_scale"], "x_z": c["x_zero_point"], "w": c["w"], "w_s": c["w_scale"]}
    feeds["w_z"] = c["w_zero_point"]
    if c["bias"] is not None:
        b_scale = c["x_scale"] * np.tile(np.broadcast_to(c["w_scale"], (c["w"].shape[1],)), c["groups"])
        nodes.append(helper.make_node("DequantizeLinear", ["b", "b_s"], ["b_f"], axis=0))
        feeds.update(b=c["bias"], b_s=b_scale.astype(np.float32))
        conv_inputs.append("b_f")
    pads = [lo for lo, _ in c["pairs"]] + [hi for _, hi in c["pairs"]]
    nodes.append(helper.make_node(
        "ConvTranspose", conv_inputs, ["y_f"], strides=list(c["stride"]), pads=pads,
        dilations=list(c["dilation"]), group=c["groups"], output_padding=list(_output_padding(c)),
    ))  # fmt: skip
    nodes.append(helper.make_node("QuantizeLinear", ["y_f", "y_s", "y_z"], ["y"]))
    feeds.update(y_s=c["y_scale"], y_z=c["y_zero_point"])
    out_type = TensorProto.INT8 if c["x"].dtype == np.int8 else TensorProto.UINT8
    model, _ = onnx_model("Identity", [], {}, "float32")
    graph = helper.make_graph(
        nodes, "qdq",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype), np.shape(v))
         for k, v in feeds.items()],
        [helper.make_tensor_value_info("y", out_type, None)],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    expected = run_ort(model, {k: np.asarray(v) for k, v in feeds.items()})
    np.testing.assert_array_equal(_call(c), expected)
