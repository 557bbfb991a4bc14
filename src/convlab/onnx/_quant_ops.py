"""The integer operators, one table entry each, run by :func:`convlab.quant.run_onnx_node`.

convlab.quant translates ONNX's inputs and attribute spellings itself; this
module adds what the graph runner needs besides: the shape rule of the
shape-only trace and the receptive-field window (the float operators').
"""

from __future__ import annotations

import numpy as np

from ..quant import ONNX_NODES, run_onnx_node
from ._conv_ops import _conv_shape, _conv_window
from ._layout_ops import _concat_shape
from ._math_ops import _broadcast_shape, _matmul_shape
from ._pool_ops import _pool_shape, _pool_window
from ._registry import MAX_OPSET, Meta, OpSpec, dtype_of, register, shape_of


def _run(node, inputs):
    return (run_onnx_node(node.op_type, inputs, dict(node.attrs), node.domain),)


def _as(dtype_from, rule, picks):
    """A shape rule on the inputs at ``picks``, its dtype that of input ``dtype_from`` (or a dtype)."""

    def shape(node, inputs):
        out = rule(node, [inputs[i] for i in picks])[0]
        dtype = (
            np.dtype(dtype_from) if not isinstance(dtype_from, int) else _zero_point_dtype(inputs, dtype_from)
        )
        return (Meta(shape_of(out), dtype),)

    return shape


def _zero_point_dtype(inputs, index):
    present = index < len(inputs) and inputs[index] is not None
    return dtype_of(inputs[index]) if present else np.dtype(np.uint8)


def _same(node, inputs):
    return (Meta(shape_of(inputs[0]), dtype_of(inputs[0])),)


def _picked_window(window, picks):
    return lambda node, inputs, outputs: {picks[0]: window(node, [inputs[i] for i in picks], outputs)[0]}


_CONV = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
_POOL = ("auto_pad", "ceil_mode", "kernel_shape", "pads", "strides", "count_include_pad", "channels_last")
_SPECS = {
    ("", "QuantizeLinear"): OpSpec(
        _run, _as(2, _same, [0]), ("axis", "saturate", "block_size", "output_dtype"), (10, MAX_OPSET)
    ),
    ("", "DequantizeLinear"): OpSpec(
        _run, _as(np.float32, _same, [0]), ("axis", "block_size"), (10, MAX_OPSET)
    ),
    ("", "ConvInteger"): OpSpec(
        _run, _as(np.int32, _conv_shape, [0, 1]), _CONV, (10, MAX_OPSET), None, _conv_window
    ),
    ("", "QLinearConv"): OpSpec(
        _run, _as(7, _conv_shape, [0, 3]), _CONV, (10, MAX_OPSET), None, _picked_window(_conv_window, [0, 3])
    ),
    ("", "MatMulInteger"): OpSpec(
        _run, _as(np.int32, _matmul_shape, [0, 1]), (), (10, MAX_OPSET), None, None
    ),
    ("", "QLinearMatMul"): OpSpec(_run, _as(7, _matmul_shape, [0, 3]), (), (10, MAX_OPSET), None, None),
    ("com.microsoft", "QLinearAdd"): OpSpec(_run, _as(7, _broadcast_shape, [0, 3]), (), (1, 1)),
    ("com.microsoft", "QLinearAveragePool"): OpSpec(
        _run, _as(4, _pool_shape, [0]), _POOL, (1, 1), None, _picked_window(_pool_window, [0])
    ),
}


def _concat_rule(node, inputs):
    out = _concat_shape(node, [inputs[i] for i in range(2, len(inputs), 3)])[0]
    return (Meta(out.shape, dtype_of(inputs[1]) if len(inputs) > 1 else out.dtype),)


_SPECS[("com.microsoft", "QLinearConcat")] = OpSpec(_run, _concat_rule, ("axis",), (1, 1), window=None)

for (_domain, _op), _spec in _SPECS.items():
    if (_domain, _op) in ONNX_NODES:
        register(_op, _spec, _domain)
